"""The embedded state store: one SQLite file, WAL journal, every write a transaction."""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from gitcops.model.canonical import canonical_json
from gitcops.model.errors import StateError
from gitcops.model.identity import ResourceId
from gitcops.state import redaction_key
from gitcops.state.audit import GENESIS, entry_hash, verify_chain
from gitcops.state.locks import file_lock
from gitcops.state.records import (
    AuditEntry,
    AuditEvent,
    AuditVerdict,
    EnvStatus,
    InventoryEntry,
    RunRecord,
)

# 1: depends_on holds [group, kind, name, namespace] lists; 2: inventory.prune
SCHEMA_VERSION = 2
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


class SqliteStateStore:
    """One SQLite file. Safe to share between threads: each thread gets its own connection
    (SQLite's rule), WAL lets readers go on while one writer commits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db.execute("PRAGMA journal_mode=WAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StateError(
                    f"state {path} was written by a newer gitcops (schema {version}); upgrade"
                )
            if version < SCHEMA_VERSION:
                with self._tx():
                    for statement in filter(str.strip, _SCHEMA.split(";")):
                        self._db.execute(statement)
                    if version == 1:
                        self._db.execute(
                            "ALTER TABLE inventory ADD COLUMN prune INTEGER NOT NULL DEFAULT 1"
                        )
                    self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise StateError(f"cannot open state {path}: {exc}") from exc

    @property
    def _db(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            db.execute("PRAGMA synchronous=FULL")
            self._local.db = db
            with self._connections_lock:
                self._connections.append(db)
        return db

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StateError(f"state {self.path}: {exc}") from exc
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")

    # -- locks -------------------------------------------------------------------------------

    def lock(self, scope: str, timeout: float = 0.0) -> AbstractContextManager[None]:
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

    def env_status(self, scope: str) -> EnvStatus | None:
        row = self._db.execute(
            f"SELECT {self._STATUS_COLUMNS} FROM environments WHERE scope=?",  # noqa: S608
            (scope,),
        ).fetchone()
        return self._status(row) if row else None

    def all_env_status(self) -> list[EnvStatus]:
        rows = self._db.execute(
            f"SELECT {self._STATUS_COLUMNS} FROM environments ORDER BY scope"  # noqa: S608
        ).fetchall()
        return [self._status(r) for r in rows]

    def inventory(self, scope: str) -> dict[ResourceId, InventoryEntry]:
        out: dict[ResourceId, InventoryEntry] = {}
        rows = self._db.execute(
            "SELECT id, api_version, spec, spec_hash, depends_on, address, status, revision, "
            "run_id, prune FROM inventory WHERE scope=?",
            (scope,),
        )
        for rid, api_version, spec, digest, deps, address, status, revision, run_id, prune in rows:
            try:
                key = ResourceId.parse(rid)
            except ValueError as exc:
                raise StateError(f"state {self.path}: inventory of {scope} holds {exc}") from None
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
            )
        return out

    def _upsert(
        self, db: sqlite3.Connection, scope: str, entries: Sequence[InventoryEntry]
    ) -> None:
        db.executemany(
            "INSERT INTO inventory (scope, id, api_version, spec, spec_hash, depends_on, address, "
            "status, revision, run_id, prune) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT (scope, id) DO UPDATE SET api_version=excluded.api_version, "
            "spec=excluded.spec, spec_hash=excluded.spec_hash, depends_on=excluded.depends_on, "
            "address=excluded.address, status=excluded.status, revision=excluded.revision, "
            "run_id=excluded.run_id, prune=excluded.prune",
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
        with self._tx() as db:
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
                "address, status, revision, run_id, prune) "
                "VALUES (?,?,?,?,?,?,?, 'pending', ?, ?, ?) ON CONFLICT (scope, id) DO NOTHING",
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
        with self._tx() as db:
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
        with self._tx() as db:
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

    def append_audit(self, scope: str, run_id: int | None, actor: str, event: AuditEvent) -> None:
        with self._tx() as db:
            self._append(db, scope, run_id, actor, event)

    def audit(self, scope: str | None = None) -> Iterator[AuditEntry]:
        query = (
            "SELECT seq, ts, scope, run_id, actor, action, subject, detail, prev_hash, hash "
            "FROM audit"
        )
        params: tuple[Any, ...] = ()
        if scope is not None:
            query += " WHERE scope=?"
            params = (scope,)
        for row in self._db.execute(query + " ORDER BY seq", params):
            try:
                detail = json.loads(row[7])
            except ValueError:
                # Keep the raw text: verification then reports this entry as altered.
                detail = {"undecodable": row[7]}
            yield AuditEntry(
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

    def verify_audit(self) -> AuditVerdict:
        return verify_chain(self.audit())

    def redaction_key(self) -> bytes:
        return redaction_key.load_or_create(redaction_key.key_path(self.path))

    def close(self) -> None:
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for db in connections:
            db.close()
        self._local = threading.local()


def open_store(location: str) -> SqliteStateStore:
    if location.startswith(("postgresql://", "postgres://")):
        raise StateError(
            "a PostgreSQL state store is not available in this version; use an SQLite path"
        )
    return SqliteStateStore(Path(location).expanduser())
