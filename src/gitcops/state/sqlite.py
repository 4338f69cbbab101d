"""The embedded state store: one SQLite file, WAL journal, every write a transaction."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from gitcops.model.canonical import canonical_json
from gitcops.model.errors import StateError
from gitcops.model.identity import ResourceId
from gitcops.state import redaction_key
from gitcops.state.audit import GENESIS, entry_hash, verify_chain
from gitcops.state.locks import file_lock
from gitcops.state.records import (
    AuditEntry,
    AuditEvent,
    AuditHead,
    AuditVerdict,
    EnvControl,
    EnvStatus,
    InventoryEntry,
    ReconcileRecord,
    RunRecord,
)

# 1: depends_on holds [group, kind, name, namespace] lists; 2: inventory.prune; 3: controls,
# bad revisions and the agent's reconciles; 4: inventory.instance and .state (provider state)
SCHEMA_VERSION = 4
_SCHEMA = """
CREATE TABLE IF NOT EXISTS environments (
    scope TEXT PRIMARY KEY,
    applied_revision TEXT NOT NULL DEFAULT '',
    attempted_revision TEXT NOT NULL DEFAULT '',
    serial INTEGER NOT NULL DEFAULT 0,
    last_run_id INTEGER NOT NULL DEFAULT 0,
    last_run_status TEXT NOT NULL DEFAULT '',
    healthy INTEGER,
    updated_at REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS inventory (
    scope TEXT NOT NULL,
    id TEXT NOT NULL,
    api_version TEXT NOT NULL,
    spec TEXT NOT NULL,
    spec_hash TEXT NOT NULL,
    depends_on TEXT NOT NULL,
    address TEXT,
    status TEXT NOT NULL,
    revision TEXT NOT NULL,
    run_id INTEGER NOT NULL,
    prune INTEGER NOT NULL DEFAULT 1,
    instance TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (scope, id)
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scope TEXT NOT NULL,
    kind TEXT NOT NULL,
    revision TEXT NOT NULL,
    trigger TEXT NOT NULL,
    actor TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '{}',
    results TEXT NOT NULL DEFAULT '[]',
    warnings TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS runs_scope ON runs (scope, id);
CREATE TABLE IF NOT EXISTS controls (
    scope TEXT PRIMARY KEY,
    suspended INTEGER NOT NULL DEFAULT 0,
    suspended_reason TEXT NOT NULL DEFAULT '',
    pin TEXT NOT NULL DEFAULT '',
    pinned_head TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS bad_revisions (
    scope TEXT NOT NULL,
    revision TEXT NOT NULL,
    marked_at REAL NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (scope, revision)
);
CREATE TABLE IF NOT EXISTS reconciles (
    scope TEXT PRIMARY KEY,
    at REAL NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    revision TEXT NOT NULL,
    fetched_at REAL,
    source_error TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    scope TEXT NOT NULL,
    run_id INTEGER,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
"""


@functools.lru_cache(maxsize=4096)
def _depends_json(depends_on: tuple[ResourceId, ...]) -> str:
    """canonical_json of a dependency list, remembered: files share their directory's."""
    return canonical_json(depends_on)


# The longest a run waits for a busy database before giving up: another run may hold it for
# a transaction, or be setting a new file up.
_BUSY_SECONDS = 30.0
_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
_READ_ONLY_CODES = (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM)


def _code(exc: sqlite3.Error) -> int:
    """The primary result code (extended codes carry it in their low byte)."""
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


S = TypeVar("S", bound="SqliteStateStore")
P = ParamSpec("P")
R = TypeVar("R")


def _reading(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    def read(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise StateError(f"cannot read state {self.path}: {exc}") from exc

    return read


def _while_busy(step: Callable[[], None]) -> None:
    """Run `step` again, with jittered backoff, while the database is busy. Setting the WAL
    journal up on a new file answers 'locked' at once, without the busy handler, while
    another run does the same; a busy database is normal, so it is waited for."""
    deadline = time.monotonic() + _BUSY_SECONDS
    delay = 0.002
    while True:
        try:
            step()
            return
        except sqlite3.Error as exc:
            if _code(exc) not in _BUSY_CODES or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 0.25)


def _rollback(db: sqlite3.Connection) -> None:
    # SQLite may have rolled back already (a full disk, an I/O error): the first error counts.
    if db.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")


def _unwritable(path: Path) -> str | None:
    """Why this process may not write the state (a file SQLite needs that it may not open for
    writing, the test SQLite makes before falling back to reading without a word), or None."""
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            os.close(os.open(file, os.O_RDWR))
        except FileNotFoundError:
            continue  # the journal files are made when needed
        except OSError:
            # A journal file a read-only run left behind keeps its mode after the state's
            # is restored: name it, or the message would point at a file that looks fine.
            return "" if file == path else f" ({file.name} is not writable)"
    return None


class SqliteStateStore:
    """Every sqlite3.Error surfaces as a StateError naming the file. A file this process may
    not write (read-only file, directory or mount) is opened read-only: what reads work, and
    a write is refused before it starts. Safe to share between threads: each thread gets its
    own connection (SQLite's rule), opened as the first one was; WAL lets readers go on while
    one writer commits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.read_only = False
        self._read_only_why = ""
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._connect: Callable[[], sqlite3.Connection] = self._read_write
        try:
            self._adopt(self._open())
        except sqlite3.Error as exc:
            raise StateError(f"cannot open state {path}: {exc}") from exc

    @property
    def _db(self) -> sqlite3.Connection:
        """This thread's connection, opened (as the first one was) on first use."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            try:
                db = self._adopt(self._connect())
            except sqlite3.Error as exc:
                raise StateError(f"cannot open state {self.path}: {exc}") from exc
        return db

    def _adopt(self, db: sqlite3.Connection) -> sqlite3.Connection:
        self._local.db = db
        with self._connections_lock:
            self._connections.append(db)
        return db

    def _read_write(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, timeout=_BUSY_SECONDS)
        db.execute("PRAGMA synchronous=FULL")
        return db

    def _open(self) -> sqlite3.Connection:
        path = self.path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                # Made here rather than by SQLite, whose 'unable to open database file' says
                # nothing of why; an empty file is what SQLite makes of a new database too.
                os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o644))
        except OSError as exc:
            raise StateError(f"cannot create state {path}: {exc.strerror or exc}") from exc
        why = _unwritable(path)
        if why is not None:
            return self._open_read_only(why)
        db = sqlite3.connect(path, isolation_level=None, timeout=_BUSY_SECONDS)
        try:
            _while_busy(lambda: self._set_up(db))
        except sqlite3.Error as exc:
            db.close()
            if _code(exc) in _READ_ONLY_CODES:
                # A writable file in a directory that is not: SQLite cannot make the journal
                # files beside it, so it can only be read.
                return self._open_read_only(" (its directory is not writable)")
            raise
        except BaseException:
            db.close()
            raise
        return db

    def _set_up(self, db: sqlite3.Connection) -> None:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        version = self._version(db)
        if version < SCHEMA_VERSION:
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    db.execute(statement)
                if 0 < version < 2:
                    db.execute("ALTER TABLE inventory ADD COLUMN prune INTEGER NOT NULL DEFAULT 1")
                if 0 < version < 4:
                    db.execute("ALTER TABLE inventory ADD COLUMN instance TEXT NOT NULL DEFAULT ''")
                    db.execute("ALTER TABLE inventory ADD COLUMN state TEXT NOT NULL DEFAULT ''")
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                raise

    def _open_read_only(self, why: str) -> sqlite3.Connection:
        self.read_only = True
        self._read_only_why = why
        uri = f"file:{urllib.parse.quote(str(self.path.absolute()))}?mode=ro"
        db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=_BUSY_SECONDS)
        self._connect = lambda: sqlite3.connect(
            uri, uri=True, isolation_level=None, timeout=_BUSY_SECONDS
        )
        try:
            version = self._version(db)
        except BaseException as exc:
            db.close()
            if not isinstance(exc, sqlite3.Error):
                raise
            wal = self.path.with_name(self.path.name + "-wal")
            if _code(exc) not in _READ_ONLY_CODES or (wal.exists() and wal.stat().st_size):
                raise
            # A WAL database needs its shared-memory file, which a read-only directory cannot
            # get. With no write-ahead log left, the file holds every committed transaction,
            # and no run can add one (it would need to create that log here): read it as is.
            db = sqlite3.connect(
                f"{uri}&immutable=1", uri=True, isolation_level=None, timeout=_BUSY_SECONDS
            )
            self._connect = lambda: sqlite3.connect(
                f"{uri}&immutable=1", uri=True, isolation_level=None, timeout=_BUSY_SECONDS
            )
            try:
                version = self._version(db)
            except BaseException:
                db.close()
                raise
        if version < SCHEMA_VERSION:
            db.close()
            raise StateError(f"state {self.path} is read-only and holds no state yet")
        return db

    def _version(self, db: sqlite3.Connection) -> int:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StateError(
                f"state {self.path} was written by a newer gitcops (schema {version}); upgrade"
            )
        return version

    @contextlib.contextmanager
    def _tx(self, action: str) -> Iterator[sqlite3.Connection]:
        """One write transaction, whole or not at all; `action` says what for, in errors."""
        if self.read_only:
            raise self._refused(action)
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._write_error(exc, action) from exc
        try:
            yield self._db
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(self._db)
            raise self._write_error(exc, action) from exc
        except BaseException:
            _rollback(self._db)
            raise

    def _refused(self, action: str) -> StateError:
        return StateError(f"state {self.path} is read-only{self._read_only_why}: cannot {action}")

    def _write_error(self, exc: sqlite3.Error, action: str) -> StateError:
        if _code(exc) == sqlite3.SQLITE_READONLY:
            return self._refused(action)
        return StateError(f"state {self.path}: cannot {action}: {exc}")

    # -- locks -------------------------------------------------------------------------------

    def lock(self, scope: str, timeout: float = 0.0) -> AbstractContextManager[None]:
        # Only runs take the lock, and a run is recorded: refused before it plans or applies.
        if self.read_only:
            raise self._refused("record the run")
        return file_lock(self.path.with_name(self.path.name + ".locks"), scope, timeout)

    # -- environments and inventory ------------------------------------------------------------

    def _status(self, row: sqlite3.Row | tuple[Any, ...]) -> EnvStatus:
        count = self._db.execute(
            "SELECT count(*) FROM inventory WHERE scope=?", (row[0],)
        ).fetchone()[0]
        return EnvStatus(
            scope=row[0],
            applied_revision=row[1],
            attempted_revision=row[2],
            serial=row[3],
            last_run_id=row[4],
            last_run_status=row[5],
            healthy=None if row[6] is None else bool(row[6]),
            updated_at=row[7],
            resources=count,
        )

    _STATUS_COLUMNS = (
        "scope, applied_revision, attempted_revision, serial, last_run_id, last_run_status, "
        "healthy, updated_at"
    )

    @_reading
    def env_status(self, scope: str) -> EnvStatus | None:
        row = self._db.execute(
            f"SELECT {self._STATUS_COLUMNS} FROM environments WHERE scope=?",  # noqa: S608
            (scope,),
        ).fetchone()
        return self._status(row) if row else None

    @_reading
    def all_env_status(self) -> list[EnvStatus]:
        rows = self._db.execute(
            f"SELECT {self._STATUS_COLUMNS} FROM environments ORDER BY scope"  # noqa: S608
        ).fetchall()
        return [self._status(r) for r in rows]

    @_reading
    def inventory(self, scope: str) -> dict[ResourceId, InventoryEntry]:
        out: dict[ResourceId, InventoryEntry] = {}
        rows = self._db.execute(
            "SELECT id, api_version, spec, spec_hash, depends_on, address, status, revision, "
            "run_id, prune, instance, state FROM inventory WHERE scope=?",
            (scope,),
        )
        for (
            rid,
            api_version,
            spec,
            digest,
            deps,
            address,
            status,
            revision,
            run_id,
            prune,
            instance,
            state,
        ) in rows:
            try:
                key = ResourceId.parse(rid)
            except ValueError as exc:
                raise StateError(f"state {self.path}: inventory of {scope} holds {exc}") from None
            if address is not None and address.startswith("local://"):
                # How gitcops recorded objects under the local provider's root "/" before it
                # gave every root one form: the same objects, or a plan would move them.
                address = "local:/" + address.removeprefix("local://")
            out[key] = InventoryEntry(
                id=key,
                api_version=api_version,
                spec_json=spec,
                spec_hash=digest,
                depends_on=tuple(ResourceId(*d) for d in json.loads(deps)) if deps != "[]" else (),
                address=address,
                status=status,
                revision=revision,
                run_id=run_id,
                prune=bool(prune),
                instance=instance,
                state_json=state,
            )
        return out

    def _upsert(
        self, db: sqlite3.Connection, scope: str, entries: Sequence[InventoryEntry]
    ) -> None:
        db.executemany(
            "INSERT INTO inventory (scope, id, api_version, spec, spec_hash, depends_on, address, "
            "status, revision, run_id, prune, instance, state) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT (scope, id) DO UPDATE SET api_version=excluded.api_version, "
            "spec=excluded.spec, spec_hash=excluded.spec_hash, depends_on=excluded.depends_on, "
            "address=excluded.address, status=excluded.status, revision=excluded.revision, "
            "run_id=excluded.run_id, prune=excluded.prune, instance=excluded.instance, "
            "state=excluded.state",
            [
                (
                    scope,
                    str(e.id),
                    e.api_version,
                    e.spec_json,
                    e.spec_hash,
                    _depends_json(e.depends_on),
                    e.address,
                    e.status,
                    e.revision,
                    e.run_id,
                    int(e.prune),
                    e.instance,
                    e.state_json,
                )
                for e in entries
            ],
        )

    # -- runs ----------------------------------------------------------------------------------

    def begin_run(
        self,
        scope: str,
        *,
        kind: str,
        revision: str,
        trigger: str,
        actor: str,
        pending: Sequence[InventoryEntry],
    ) -> int:
        now = time.time()
        with self._tx("record the run") as db:
            # The caller holds the scope lock, so a run still marked running has died.
            db.execute(
                "UPDATE runs SET status='interrupted', finished_at=? "
                "WHERE scope=? AND status='running'",
                (now, scope),
            )
            cursor = db.execute(
                "INSERT INTO runs (scope, kind, revision, trigger, actor, started_at, status) "
                "VALUES (?,?,?,?,?,?, 'running')",
                (scope, kind, revision, trigger, actor, now),
            )
            run_id = int(cursor.lastrowid or 0)
            db.execute(
                "INSERT INTO environments (scope, attempted_revision, serial, last_run_id, "
                "last_run_status, updated_at) VALUES (?,?,1,?, 'running', ?) "
                "ON CONFLICT (scope) DO UPDATE SET attempted_revision=excluded.attempted_revision, "
                "serial=serial+1, last_run_id=excluded.last_run_id, last_run_status='running', "
                "updated_at=excluded.updated_at",
                (scope, revision, run_id, now),
            )
            # Pending rows exist so a crash mid-create still leaves the object findable for prune.
            db.executemany(
                "INSERT INTO inventory (scope, id, api_version, spec, spec_hash, depends_on, "
                "address, status, revision, run_id, prune, instance) "
                "VALUES (?,?,?,?,?,?,?, 'pending', ?, ?, ?, ?) ON CONFLICT (scope, id) DO NOTHING",
                [
                    (
                        scope,
                        str(e.id),
                        e.api_version,
                        e.spec_json,
                        "",
                        _depends_json(e.depends_on),
                        e.address,
                        revision,
                        run_id,
                        int(e.prune),
                        e.instance,
                    )
                    for e in pending
                ],
            )
            self._append(
                db,
                scope,
                run_id,
                actor,
                AuditEvent(
                    "run.started", scope, {"kind": kind, "revision": revision, "trigger": trigger}
                ),
            )
        return run_id

    def record_results(
        self,
        scope: str,
        run_id: int,
        *,
        actor: str,
        applied: Sequence[InventoryEntry],
        removed: Sequence[ResourceId],
        events: Sequence[AuditEvent],
    ) -> None:
        with self._tx("record the run's results") as db:
            self._upsert(db, scope, applied)
            db.executemany(
                "DELETE FROM inventory WHERE scope=? AND id=?", [(scope, str(r)) for r in removed]
            )
            self._append(db, scope, run_id, actor, *events)

    def finish_run(
        self,
        scope: str,
        run_id: int,
        *,
        actor: str,
        status: str,
        summary: dict[str, Any],
        results: list[dict[str, Any]],
        warnings: list[str],
        healthy: bool | None,
    ) -> None:
        now = time.time()
        with self._tx("record the end of the run") as db:
            db.execute(
                "UPDATE runs SET status=?, finished_at=?, summary=?, results=?, warnings=? "
                "WHERE id=?",
                (
                    status,
                    now,
                    canonical_json(summary),
                    canonical_json(results),
                    canonical_json(warnings),
                    run_id,
                ),
            )
            row = db.execute("SELECT revision FROM runs WHERE id=?", (run_id,)).fetchone()
            if row is None:
                raise StateError(f"run {run_id} does not exist in {self.path}")
            revision = row[0]
            db.execute(
                "UPDATE environments SET serial=serial+1, last_run_status=?, healthy=?, "
                "updated_at=?, applied_revision=CASE WHEN ?='succeeded' THEN ? "
                "ELSE applied_revision END WHERE scope=?",
                (status, None if healthy is None else int(healthy), now, status, revision, scope),
            )
            self._append(
                db,
                scope,
                run_id,
                actor,
                AuditEvent("run.finished", scope, {"status": status, "summary": summary}),
            )

    def _run(self, row: tuple[Any, ...]) -> RunRecord:
        return RunRecord(
            id=row[0],
            scope=row[1],
            kind=row[2],
            revision=row[3],
            trigger=row[4],
            actor=row[5],
            started_at=row[6],
            finished_at=row[7],
            status=row[8],
            summary=json.loads(row[9]),
            results=json.loads(row[10]),
            warnings=json.loads(row[11]),
        )

    _RUN_COLUMNS = (
        "id, scope, kind, revision, trigger, actor, started_at, finished_at, status, summary, "
        "results, warnings"
    )

    @_reading
    def runs(self, scope: str | None = None, limit: int = 20) -> list[RunRecord]:
        if scope is None:
            rows = self._db.execute(
                f"SELECT {self._RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?",  # noqa: S608
                (limit,),
            )
        else:
            rows = self._db.execute(
                f"SELECT {self._RUN_COLUMNS} FROM runs WHERE scope=? "  # noqa: S608
                "ORDER BY id DESC LIMIT ?",
                (scope, limit),
            )
        return [self._run(r) for r in rows.fetchall()]

    @_reading
    def run(self, run_id: int) -> RunRecord | None:
        row = self._db.execute(
            f"SELECT {self._RUN_COLUMNS} FROM runs WHERE id=?",  # noqa: S608
            (run_id,),
        ).fetchone()
        return self._run(row) if row else None

    # -- audit ---------------------------------------------------------------------------------

    def _append(
        self,
        db: sqlite3.Connection,
        scope: str,
        run_id: int | None,
        actor: str,
        *events: AuditEvent,
    ) -> None:
        """Extend the chain inside the caller's transaction (BEGIN IMMEDIATE: no other writer)."""
        last = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (last[0], last[1]) if last else (0, GENESIS)
        rows = []
        for event in events:
            seq += 1
            ts = time.time()
            digest = entry_hash(
                prev, seq, ts, scope, run_id, actor, event.action, event.subject, event.detail
            )
            detail = canonical_json(event.detail)
            rows.append(
                (seq, ts, scope, run_id, actor, event.action, event.subject, detail, prev, digest)
            )
            prev = digest
        db.executemany(
            "INSERT INTO audit (seq, ts, scope, run_id, actor, action, subject, detail, "
            "prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
            rows,
        )

    # -- controls: suspension, pins, bad revisions; the agent's reconciles ---------------------

    @_reading
    def control(self, scope: str) -> EnvControl:
        row = self._db.execute(
            "SELECT suspended, suspended_reason, pin, pinned_head FROM controls WHERE scope=?",
            (scope,),
        ).fetchone()
        bad = tuple(
            r[0]
            for r in self._db.execute(
                "SELECT revision FROM bad_revisions WHERE scope=? ORDER BY marked_at, revision",
                (scope,),
            )
        )
        if row is None:
            return EnvControl(scope, bad=bad)
        return EnvControl(scope, bool(row[0]), row[1], row[2], row[3], bad)

    def _set_control(self, scope: str, actor: str, event: AuditEvent, **values: str | int) -> None:
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        updates = ", ".join(f"{c}=excluded.{c}" for c in values)
        with self._tx(f"record {event.action}") as db:
            db.execute(
                f"INSERT INTO controls (scope, {columns}, updated_at) VALUES (?, {marks}, ?) "  # noqa: S608
                f"ON CONFLICT (scope) DO UPDATE SET {updates}, updated_at=excluded.updated_at",
                (scope, *values.values(), time.time()),
            )
            self._append(db, scope, None, actor, event)

    def set_suspended(self, scope: str, suspended: bool, *, actor: str, reason: str = "") -> None:
        action = "environment.suspended" if suspended else "environment.resumed"
        event = AuditEvent(action, scope, {"reason": reason} if reason else {})
        self._set_control(scope, actor, event, suspended=int(suspended), suspended_reason=reason)

    def pin(self, scope: str, revision: str, *, actor: str, until_newer_than: str = "") -> None:
        detail = {"revision": revision, "untilNewerThan": until_newer_than or None}
        event = AuditEvent("environment.pinned", scope, detail)
        self._set_control(scope, actor, event, pin=revision, pinned_head=until_newer_than)

    def unpin(self, scope: str, *, actor: str, reason: str = "") -> None:
        event = AuditEvent("environment.unpinned", scope, {"reason": reason} if reason else {})
        self._set_control(scope, actor, event, pin="", pinned_head="")

    def mark_bad(self, scope: str, revision: str, *, actor: str, reason: str) -> None:
        with self._tx("mark a revision bad") as db:
            db.execute(
                "INSERT INTO bad_revisions (scope, revision, marked_at, reason) "
                "VALUES (?,?,?,?) ON CONFLICT (scope, revision) DO NOTHING",
                (scope, revision, time.time(), reason),
            )
            event = AuditEvent("revision.bad", scope, {"revision": revision, "reason": reason})
            self._append(db, scope, None, actor, event)

    def record_reconcile(self, record: ReconcileRecord) -> None:
        """The agent's last reconcile of an environment (status, not audit: it happens every
        interval; what it changed is recorded by its runs)."""
        with self._tx("record the reconcile") as db:
            db.execute(
                "INSERT INTO reconciles (scope, at, outcome, reason, revision, fetched_at, "
                "source_error) VALUES (?,?,?,?,?,?,?) ON CONFLICT (scope) DO UPDATE SET "
                "at=excluded.at, outcome=excluded.outcome, reason=excluded.reason, "
                "revision=excluded.revision, fetched_at=excluded.fetched_at, "
                "source_error=excluded.source_error",
                tuple(record),
            )

    @_reading
    def last_reconcile(self, scope: str) -> ReconcileRecord | None:
        row = self._db.execute(
            "SELECT scope, at, outcome, reason, revision, fetched_at, source_error "
            "FROM reconciles WHERE scope=?",
            (scope,),
        ).fetchone()
        return ReconcileRecord(*row) if row else None

    def append_audit(
        self, scope: str, run_id: int | None, actor: str, event: AuditEvent, *more: AuditEvent
    ) -> None:
        with self._tx("append to the audit log") as db:
            self._append(db, scope, run_id, actor, event, *more)

    def audit(self, scope: str | None = None) -> Iterator[AuditEntry]:
        query = (
            "SELECT seq, ts, scope, run_id, actor, action, subject, detail, prev_hash, hash "
            "FROM audit"
        )
        params: tuple[Any, ...] = ()
        if scope is not None:
            query += " WHERE scope=?"
            params = (scope,)
        try:
            rows = self._db.execute(query + " ORDER BY seq", params)
            for row in rows:
                yield self._audit_entry(row)
        except sqlite3.Error as exc:
            raise StateError(f"cannot read state {self.path}: {exc}") from exc

    def _audit_entry(self, row: tuple[Any, ...]) -> AuditEntry:
        try:
            detail = json.loads(row[7])
        except ValueError:
            # Keep the raw text: verification then reports this entry as altered.
            detail = {"undecodable": row[7]}
        return AuditEntry(
            seq=row[0],
            ts=row[1],
            scope=row[2],
            run_id=row[3],
            actor=row[4],
            action=row[5],
            subject=row[6],
            detail=detail,
            prev_hash=row[8],
            hash=row[9],
        )

    @_reading
    def audit_head(self) -> AuditHead | None:
        row = self._db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return AuditHead(row[0], row[1]) if row else None

    def verify_audit(self, head: AuditHead | None = None) -> AuditVerdict:
        return verify_chain(self.audit(), head)

    def redaction_key(self) -> bytes:
        return redaction_key.load_or_create(redaction_key.key_path(self.path))

    def close(self) -> None:
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for db in connections:
            with contextlib.suppress(sqlite3.Error):
                db.close()
        self._local = threading.local()


def open_store(location: str) -> SqliteStateStore:
    if location.startswith(("postgresql://", "postgres://")):
        raise StateError(
            "a PostgreSQL state store is not available in this version; use an SQLite path"
        )
    return SqliteStateStore(Path(location).expanduser())
