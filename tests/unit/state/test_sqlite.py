"""The SQLite state store: run transactions, inventory, the audit hash chain, and process locks."""

from __future__ import annotations

import itertools
import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gitcops.model.errors import LockedError, StateError
from gitcops.model.identity import ResourceId
from gitcops.state import sqlite as sqlite_module
from gitcops.state.audit import GENESIS, entry_hash
from gitcops.state.records import AuditEvent, AuditHead, InventoryEntry
from gitcops.state.sqlite import SCHEMA_VERSION, SqliteStateStore, open_store

SCOPE = "demo/prod"
MOTD = ResourceId("local.gitcops.io", "File", "motd")
APP = ResourceId("local.gitcops.io", "Directory", "app")
CONF = ResourceId("local.gitcops.io", "File", "conf")


def entry(
    rid: ResourceId,
    spec: dict[str, object] | None = None,
    *,
    digest: str = "h",
    depends_on: tuple[ResourceId, ...] = (),
    revision: str = "rev1",
    run_id: int = 0,
) -> InventoryEntry:
    return InventoryEntry(
        id=rid,
        api_version="local.gitcops.io/v1",
        spec_json=json.dumps(spec if spec is not None else {"path": rid.name}, sort_keys=True),
        spec_hash=digest,
        depends_on=depends_on,
        address=f"local:{rid.name}",
        revision=revision,
        run_id=run_id,
    )


def begin(
    store: SqliteStateStore,
    scope: str = SCOPE,
    revision: str = "rev1",
    pending: list[InventoryEntry] | None = None,
) -> int:
    return store.begin_run(
        scope, kind="apply", revision=revision, trigger="cli", actor="alice", pending=pending or []
    )


def finish(
    store: SqliteStateStore,
    run_id: int,
    scope: str = SCOPE,
    status: str = "succeeded",
    healthy: bool | None = True,
) -> None:
    store.finish_run(
        scope,
        run_id,
        actor="alice",
        status=status,
        summary={"created": 1},
        results=[{"id": str(MOTD), "action": "created"}],
        warnings=["w"],
        healthy=healthy,
    )


def full_run(store: SqliteStateStore, scope: str = SCOPE, revision: str = "rev1") -> int:
    run_id = begin(store, scope, revision, pending=[entry(MOTD)])
    store.record_results(
        scope,
        run_id,
        actor="alice",
        applied=[entry(MOTD, run_id=run_id), entry(APP, run_id=run_id)],
        removed=[],
        events=[
            AuditEvent("resource.created", str(MOTD), {"message": "ok"}),
            AuditEvent("resource.created", str(APP), {}),
            AuditEvent("resource.configured", str(CONF), {"fields": ["content"]}),
        ],
    )
    finish(store, run_id, scope)
    return run_id


def raw(db_path: Path, sql: str, params: tuple[object, ...] = ()) -> None:
    with sqlite3.connect(db_path) as db:
        db.execute(sql, params)


# -- runs, inventory, serials ---------------------------------------------------------------------


def test_a_fresh_store_opens_on_the_first_attempt(db_path: Path) -> None:
    # Regression: executescript() used to COMMIT the migration's BEGIN IMMEDIATE early, so the
    # first open of a new state file failed with "cannot commit - no transaction is active".
    store = SqliteStateStore(db_path)
    store.close()
    with sqlite3.connect(db_path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"environments", "inventory", "runs", "audit"} <= tables


def test_fresh_store_is_empty_and_versioned(store: SqliteStateStore, db_path: Path) -> None:
    assert store.env_status(SCOPE) is None
    assert store.all_env_status() == []
    assert store.inventory(SCOPE) == {}
    assert store.runs() == []
    assert store.verify_audit().ok and store.verify_audit().entries == 0
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_begin_run_opens_a_running_run(store: SqliteStateStore) -> None:
    run_id = begin(store, revision="abc")
    run = store.run(run_id)
    assert run is not None
    assert (run.scope, run.kind, run.revision, run.trigger, run.actor, run.status) == (
        SCOPE,
        "apply",
        "abc",
        "cli",
        "alice",
        "running",
    )
    assert run.finished_at is None
    status = store.env_status(SCOPE)
    assert status is not None
    assert status.serial == 1
    assert status.attempted_revision == "abc"
    assert status.applied_revision == ""
    assert status.last_run_id == run_id
    assert status.last_run_status == "running"
    (started,) = list(store.audit())
    assert started.action == "run.started" and started.run_id == run_id
    assert started.detail == {"kind": "apply", "revision": "abc", "trigger": "cli"}


def test_pending_rows_are_written_without_overwriting_applied_ones(
    store: SqliteStateStore,
) -> None:
    first = full_run(store)
    old_motd = store.inventory(SCOPE)[MOTD]
    run_id = begin(store, revision="rev2", pending=[entry(MOTD, {"x": 1}), entry(CONF)])
    inventory = store.inventory(SCOPE)
    assert inventory[MOTD] == old_motd  # ON CONFLICT DO NOTHING: the applied row stays
    assert inventory[MOTD].run_id == first
    pending = inventory[CONF]
    assert pending.status == "pending"
    assert pending.spec_hash == ""
    assert pending.revision == "rev2"
    assert pending.run_id == run_id
    assert pending.address == "local:conf"


def test_record_results_upserts_and_removes(store: SqliteStateStore) -> None:
    run_id = begin(store, pending=[entry(CONF)])
    store.record_results(
        SCOPE,
        run_id,
        actor="alice",
        applied=[entry(APP, run_id=run_id), entry(CONF, depends_on=(APP,), run_id=run_id)],
        removed=[],
        events=[AuditEvent("resource.created", str(CONF))],
    )
    inventory = store.inventory(SCOPE)
    assert set(inventory) == {APP, CONF}
    assert inventory[CONF].status == "applied"
    assert inventory[CONF].depends_on == (APP,)
    assert inventory[CONF].spec == {"path": "conf"}
    store.record_results(SCOPE, run_id, actor="alice", applied=[], removed=[CONF], events=[])
    assert set(store.inventory(SCOPE)) == {APP}
    assert store.inventory("other/scope") == {}


def test_finish_run_records_outcome_and_applied_revision(store: SqliteStateStore) -> None:
    run_id = full_run(store, revision="rev1")
    run = store.run(run_id)
    assert run is not None
    assert run.status == "succeeded"
    assert run.finished_at is not None and run.finished_at >= run.started_at
    assert run.summary == {"created": 1}
    assert run.results == [{"id": str(MOTD), "action": "created"}]
    assert run.warnings == ["w"]
    status = store.env_status(SCOPE)
    assert status is not None
    assert (status.applied_revision, status.last_run_status, status.healthy) == (
        "rev1",
        "succeeded",
        True,
    )
    assert status.resources == 2

    failed = begin(store, revision="rev2")
    finish(store, failed, status="failed", healthy=None)
    status = store.env_status(SCOPE)
    assert status is not None
    assert status.applied_revision == "rev1"  # a failed run does not move the applied revision
    assert status.attempted_revision == "rev2"
    assert status.last_run_status == "failed"
    assert status.healthy is None


def test_serial_increments_on_begin_and_finish(store: SqliteStateStore) -> None:
    serials = []
    run_id = begin(store)
    serials.append(store.env_status(SCOPE).serial)  # type: ignore[union-attr]
    store.record_results(SCOPE, run_id, actor="a", applied=[entry(MOTD)], removed=[], events=[])
    serials.append(store.env_status(SCOPE).serial)  # type: ignore[union-attr]
    finish(store, run_id)
    serials.append(store.env_status(SCOPE).serial)  # type: ignore[union-attr]
    begin(store)
    serials.append(store.env_status(SCOPE).serial)  # type: ignore[union-attr]
    assert serials == [1, 1, 2, 3]
    assert store.env_status("other") is None


def test_a_running_run_is_marked_interrupted_by_the_next_begin(store: SqliteStateStore) -> None:
    dead = begin(store)
    elsewhere = begin(store, scope="demo/staging")
    current = begin(store)
    dead_run = store.run(dead)
    assert dead_run is not None
    assert dead_run.status == "interrupted"
    assert dead_run.finished_at is not None
    assert store.run(elsewhere).status == "running"  # type: ignore[union-attr]
    assert store.run(current).status == "running"  # type: ignore[union-attr]


def test_runs_are_newest_first_with_limit_and_scope(store: SqliteStateStore) -> None:
    ids = [begin(store, scope=scope) for scope in ["a", "b", "a", "b", "a"]]
    assert [r.id for r in store.runs()] == ids[::-1]
    assert [r.id for r in store.runs(limit=2)] == ids[:-3:-1]
    assert [r.id for r in store.runs("a")] == [ids[4], ids[2], ids[0]]
    assert [r.id for r in store.runs("b", limit=1)] == [ids[3]]
    assert store.runs("nope") == []
    assert store.run(10_000) is None


def test_all_env_status_is_sorted_by_scope(store: SqliteStateStore) -> None:
    full_run(store, scope="z/prod")
    begin(store, scope="a/dev")
    assert [s.scope for s in store.all_env_status()] == ["a/dev", "z/prod"]
    assert [s.resources for s in store.all_env_status()] == [0, 2]


def test_a_failing_write_rolls_back_the_whole_transaction(store: SqliteStateStore) -> None:
    run_id = begin(store)
    before_inventory = store.inventory(SCOPE)
    before_audit = list(store.audit())
    with pytest.raises((TypeError, StateError)):
        store.record_results(
            SCOPE,
            run_id,
            actor="alice",
            applied=[entry(MOTD)],
            removed=[],
            events=[
                AuditEvent("resource.created", str(MOTD)),
                AuditEvent("resource.created", str(APP), {"bad": object()}),
            ],
        )
    assert store.inventory(SCOPE) == before_inventory
    assert list(store.audit()) == before_audit
    store.record_results(SCOPE, run_id, actor="a", applied=[entry(MOTD)], removed=[], events=[])
    assert MOTD in store.inventory(SCOPE)  # the connection is usable after the rollback


def test_a_failing_begin_run_leaves_no_run_behind(store: SqliteStateStore) -> None:
    # The pending rows are written after the run and the environment rows, in the same
    # transaction: a row that cannot be stored must undo those too.
    unstorable = entry(MOTD)._replace(spec_json=object())  # type: ignore[arg-type]
    with pytest.raises((sqlite3.Error, StateError, TypeError)):
        begin(store, pending=[entry(APP), unstorable])
    assert store.runs() == []
    assert store.env_status(SCOPE) is None
    assert store.inventory(SCOPE) == {}
    assert list(store.audit()) == []


def test_committed_results_are_visible_to_another_connection(
    store: SqliteStateStore, db_path: Path
) -> None:
    run_id = full_run(store)
    other = SqliteStateStore(db_path)
    try:
        assert set(other.inventory(SCOPE)) == {MOTD, APP}
        assert other.run(run_id) == store.run(run_id)
        assert other.verify_audit().ok
    finally:
        other.close()


def test_reopening_keeps_the_data(store: SqliteStateStore, db_path: Path) -> None:
    full_run(store)
    store.close()
    again = SqliteStateStore(db_path)
    try:
        assert set(again.inventory(SCOPE)) == {MOTD, APP}
    finally:
        again.close()


def test_a_newer_schema_version_is_refused(db_path: Path) -> None:
    SqliteStateStore(db_path).close()
    raw(db_path, f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StateError, match="newer gitcops"):
        SqliteStateStore(db_path)


def test_a_file_that_is_not_a_database_is_a_state_error(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not sqlite, just some bytes " * 100)
    with pytest.raises(StateError):
        SqliteStateStore(db_path)


class _ReleaseOnFirstWait:
    """The store module's `time`, with a sleep that first lets the holder go: so the store
    meets the busy file, and its first wait is what ends the holding."""

    def __init__(self, holder: sqlite3.Connection) -> None:
        self.holder: sqlite3.Connection | None = holder
        self.waits = 0

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        self.waits += 1
        if self.holder is not None:
            self.holder.execute("ROLLBACK")
            self.holder.close()
            self.holder = None
        time.sleep(seconds)


def test_opening_waits_while_another_run_sets_a_new_file_up(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a first run holds for a moment while it turns a new file into a WAL database;
    # `PRAGMA journal_mode=WAL` answers 'database is locked' at once then, busy timeout or not.
    db_path.parent.mkdir(parents=True)
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    clock = _ReleaseOnFirstWait(holder)
    monkeypatch.setattr(sqlite_module, "time", clock)
    store = SqliteStateStore(db_path)
    try:
        assert clock.waits >= 1
        assert store.runs() == [] and not store.read_only
    finally:
        store.close()


@pytest.mark.parametrize(
    "read",
    [
        lambda s: s.runs(),
        lambda s: s.run(1),
        lambda s: s.env_status(SCOPE),
        lambda s: s.all_env_status(),
        lambda s: s.inventory(SCOPE),
        lambda s: list(s.audit()),
        lambda s: s.verify_audit(),
        lambda s: s.audit_head(),
    ],
    ids=[
        "runs",
        "run",
        "env_status",
        "all_env_status",
        "inventory",
        "audit",
        "verify_audit",
        "audit_head",
    ],
)
def test_a_failing_read_is_a_state_error_naming_the_file(
    store: SqliteStateStore, db_path: Path, read: Callable[[SqliteStateStore], object]
) -> None:
    for table in ("runs", "environments", "inventory", "audit"):
        raw(db_path, f"DROP TABLE {table}")
    with pytest.raises(StateError, match=f"cannot read state {db_path}: no such table"):
        read(store)


def test_a_failing_write_is_a_state_error_and_leaves_nothing_behind(
    store: SqliteStateStore, db_path: Path
) -> None:
    raw(
        db_path,
        "CREATE TRIGGER frozen BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'frozen'); END",
    )
    with pytest.raises(StateError, match=f"state {db_path}: cannot record the run: frozen"):
        begin(store, pending=[entry(APP)])
    assert store.runs() == []
    assert store.env_status(SCOPE) is None
    assert store.inventory(SCOPE) == {}


def test_addresses_recorded_under_the_root_slash_read_in_todays_form(
    store: SqliteStateStore,
) -> None:
    run_id = begin(store)
    old = entry(MOTD)._replace(address="local://etc/motd")  # as gitcops wrote them for root /
    other = entry(APP)._replace(address="local:/srv/app")
    store.record_results(SCOPE, run_id, actor="a", applied=[old, other], removed=[], events=[])
    addresses = {rid: e.address for rid, e in store.inventory(SCOPE).items()}
    assert addresses == {MOTD: "local:/etc/motd", APP: "local:/srv/app"}


def test_open_store(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="PostgreSQL"):
        open_store("postgresql://db/gitcops")
    SqliteStateStore(tmp_path / "s.db").close()
    store = open_store(str(tmp_path / "s.db"))
    try:
        assert store.path == tmp_path / "s.db"
    finally:
        store.close()


# -- the audit chain ------------------------------------------------------------------------------


@pytest.fixture
def audited(store: SqliteStateStore) -> SqliteStateStore:
    """A store with audit entries 1..7 across two scopes."""
    full_run(store)  # 1 started, 2-4 resources, 5 finished
    store.append_audit("demo/staging", None, "bob", AuditEvent("drift.checked", "demo/staging"))
    store.append_audit(SCOPE, None, "carol", AuditEvent("lock.broken", SCOPE, {"n": 1.5}))
    return store


def test_audit_chain_verifies(audited: SqliteStateStore) -> None:
    entries = list(audited.audit())
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6, 7]
    assert entries[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    verdict = audited.verify_audit()
    assert verdict.ok
    assert verdict.entries == 7
    assert verdict.first_bad_seq is None
    assert [e.seq for e in audited.audit("demo/staging")] == [6]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("detail", json.dumps({"message": "forged"})),
        ("actor", "mallory"),
        ("action", "resource.deleted"),
        ("subject", "local.gitcops.io/File/other"),
        ("scope", "demo/staging"),
        ("ts", 0.5),
        ("run_id", 99),
    ],
)
def test_tampering_with_a_row_is_detected(
    audited: SqliteStateStore, db_path: Path, column: str, value: object
) -> None:
    raw(db_path, f"UPDATE audit SET {column}=? WHERE seq=3", (value,))
    verdict = audited.verify_audit()
    assert not verdict.ok
    assert verdict.first_bad_seq == 3
    assert "content" in verdict.problem


def test_tampering_and_rehashing_an_entry_breaks_the_next_link(
    audited: SqliteStateStore, db_path: Path
) -> None:
    e = next(x for x in audited.audit() if x.seq == 3)
    forged = {"message": "forged"}
    digest = entry_hash(
        e.prev_hash, e.seq, e.ts, e.scope, e.run_id, e.actor, e.action, e.subject, forged
    )
    raw(db_path, "UPDATE audit SET detail=?, hash=? WHERE seq=3", (json.dumps(forged), digest))
    verdict = audited.verify_audit()
    assert not verdict.ok
    assert verdict.first_bad_seq == 4
    assert "link" in verdict.problem


def test_deleting_a_middle_entry_is_detected(audited: SqliteStateStore, db_path: Path) -> None:
    raw(db_path, "DELETE FROM audit WHERE seq=4")
    verdict = audited.verify_audit()
    assert not verdict.ok
    assert verdict.first_bad_seq == 5
    assert "entry 4 is missing" in verdict.problem


def test_deleting_the_first_entry_is_detected(audited: SqliteStateStore, db_path: Path) -> None:
    raw(db_path, "DELETE FROM audit WHERE seq=1")
    verdict = audited.verify_audit()
    assert not verdict.ok
    assert verdict.first_bad_seq == 2


def test_changing_a_hash_is_detected(audited: SqliteStateStore, db_path: Path) -> None:
    raw(db_path, "UPDATE audit SET hash=? WHERE seq=6", ("f" * 64,))
    verdict = audited.verify_audit()
    assert not verdict.ok
    assert verdict.first_bad_seq == 6


def test_changing_the_last_hash_is_detected(audited: SqliteStateStore, db_path: Path) -> None:
    raw(db_path, "UPDATE audit SET hash=? WHERE seq=7", ("0" * 64,))
    verdict = audited.verify_audit()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 7)


def test_appends_continue_the_chain_after_reopening(
    audited: SqliteStateStore, db_path: Path
) -> None:
    audited.close()
    again = SqliteStateStore(db_path)
    try:
        again.append_audit(SCOPE, None, "dave", AuditEvent("note", SCOPE))
        verdict = again.verify_audit()
        assert verdict.ok and verdict.entries == 8
    finally:
        again.close()


# -- the audit head -------------------------------------------------------------------------------


def test_the_head_is_the_newest_entry(store: SqliteStateStore) -> None:
    assert store.audit_head() is None
    assert store.verify_audit().head is None
    full_run(store)
    entries = list(store.audit())
    head = store.audit_head()
    assert head == AuditHead(entries[-1].seq, entries[-1].hash) == (5, entries[-1].hash)
    assert store.verify_audit().head == head
    store.append_audit(SCOPE, None, "dave", AuditEvent("note", SCOPE))
    assert store.audit_head() == AuditHead(6, list(store.audit())[-1].hash)


def test_any_head_on_the_chain_verifies(audited: SqliteStateStore) -> None:
    for e in audited.audit():
        verdict = audited.verify_audit(AuditHead(e.seq, e.hash))
        assert (verdict.ok, verdict.entries, verdict.head) == (True, 7, audited.audit_head())


def test_a_head_with_another_hash_is_caught(audited: SqliteStateStore) -> None:
    third = next(e for e in audited.audit() if e.seq == 3)
    verdict = audited.verify_audit(AuditHead(3, "a" * 64))
    assert verdict == (False, 3, 3, "does not match the head given", None)
    assert audited.verify_audit(AuditHead(3, third.hash)).ok


def test_entries_cut_off_the_end_are_caught_with_the_head(
    audited: SqliteStateStore, db_path: Path
) -> None:
    head = audited.audit_head()
    assert head is not None and head.seq == 7
    raw(db_path, "DELETE FROM audit WHERE seq >= 6")
    assert audited.verify_audit().ok  # what the chain alone cannot see
    verdict = audited.verify_audit(head)
    missing = "entry 7 (the head given) is missing: the log ends at entry 5"
    assert verdict == (False, 5, 7, missing, None)
    raw(db_path, "DELETE FROM audit")
    verdict = audited.verify_audit(head)
    assert verdict == (False, 0, 7, "entry 7 (the head given) is missing: the log is empty", None)


def test_a_log_rewritten_whole_is_caught_with_the_head(
    audited: SqliteStateStore, db_path: Path
) -> None:
    """Someone who can recompute every hash forges entry 3 and rehashes everything after."""
    head = audited.audit_head()
    assert head is not None
    prev = GENESIS
    for e in list(audited.audit()):
        detail = {"message": "forged"} if e.seq == 3 else e.detail
        digest = entry_hash(
            prev, e.seq, e.ts, e.scope, e.run_id, e.actor, e.action, e.subject, detail
        )
        raw(
            db_path,
            "UPDATE audit SET detail=?, prev_hash=?, hash=? WHERE seq=?",
            (json.dumps(detail), prev, digest, e.seq),
        )
        prev = digest
    assert audited.verify_audit().ok
    verdict = audited.verify_audit(head)
    assert (verdict.ok, verdict.first_bad_seq, verdict.problem) == (
        False,
        7,
        "does not match the head given",
    )


def test_a_broken_chain_is_reported_before_the_head(
    audited: SqliteStateStore, db_path: Path
) -> None:
    head = audited.audit_head()
    raw(db_path, "UPDATE audit SET actor='mallory' WHERE seq=2")
    verdict = audited.verify_audit(head)
    assert (verdict.first_bad_seq, verdict.problem, verdict.head) == (
        2,
        "content does not match its hash",
        None,
    )


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("7:" + "ab" * 32, AuditHead(7, "ab" * 32)),
        (" 12:" + "AB" * 32 + "\n", AuditHead(12, "ab" * 32)),
    ],
)
def test_a_head_parses_from_its_text(text: str, parsed: AuditHead) -> None:
    assert AuditHead.parse(text) == parsed
    assert AuditHead.parse(str(parsed)) == parsed


@pytest.mark.parametrize(
    "text",
    [
        "",
        "7",
        "7:",
        ":" + "a" * 64,
        "0:" + "a" * 64,
        "-1:" + "a" * 64,
        "x:" + "a" * 64,
        "7:" + "a" * 63,
        "7:" + "g" * 64,
        "²:" + "a" * 64,
        "7:" + "a" * 64 + ":1",
    ],
)
def test_a_malformed_head_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not SEQ:HASH"):
        AuditHead.parse(text)


# -- locks across processes -----------------------------------------------------------------------

_HOLDER = """
import sys
from pathlib import Path
from gitcops.state.sqlite import SqliteStateStore

store = SqliteStateStore(Path(sys.argv[1]))
with store.lock(sys.argv[2]):
    print("locked", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""

StartHolder = Callable[[str], subprocess.Popen[str]]


@pytest.fixture
def start_holder(db_path: Path, store: SqliteStateStore) -> Iterator[StartHolder]:
    """Start a child process that holds `scope`'s lock until a line arrives on its stdin."""
    children: list[subprocess.Popen[str]] = []

    def start(scope: str) -> subprocess.Popen[str]:
        child = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, str(db_path), scope],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        children.append(child)
        assert child.stdout is not None
        assert child.stdout.readline() == "locked\n"
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=30)


def test_a_lock_held_by_another_process_fails_at_once(
    store: SqliteStateStore, start_holder: StartHolder
) -> None:
    holder = start_holder(SCOPE)
    with pytest.raises(LockedError, match=f"pid {holder.pid}") as info, store.lock(SCOPE):
        pass
    assert SCOPE in str(info.value)
    with store.lock("demo/staging", timeout=0):  # other scopes are independent
        pass


def test_a_waiting_lock_succeeds_once_the_holder_releases(
    store: SqliteStateStore, start_holder: StartHolder
) -> None:
    holder = start_holder(SCOPE)
    with pytest.raises(LockedError), store.lock(SCOPE, timeout=0):
        pass
    assert holder.stdin is not None and holder.stdout is not None

    def release() -> None:
        holder.stdin.write("\n")  # type: ignore[union-attr]
        holder.stdin.flush()  # type: ignore[union-attr]

    timer = threading.Timer(0.2, release)
    timer.start()
    try:
        with store.lock(SCOPE, timeout=60):
            assert holder.stdout.readline() == "released\n"
    finally:
        timer.cancel()


def test_a_killed_holder_releases_the_lock(
    store: SqliteStateStore, start_holder: StartHolder
) -> None:
    holder = start_holder(SCOPE)
    with pytest.raises(LockedError), store.lock(SCOPE, timeout=0):
        pass
    holder.kill()  # SIGKILL: no cleanup code runs in the child
    holder.wait(timeout=30)
    with store.lock(SCOPE, timeout=0):
        pass


def test_a_second_lock_in_the_same_process_also_fails(store: SqliteStateStore) -> None:
    with store.lock(SCOPE), pytest.raises(LockedError), store.lock(SCOPE, timeout=0):
        pass
    with store.lock(SCOPE):  # released on exit
        pass
