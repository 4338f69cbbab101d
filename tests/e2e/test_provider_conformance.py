"""The conformance suite: what every provider does, checked on the real thing (a directory for
`local`, a PostgreSQL server for `postgres`) through the provider contract and the executor.

A new provider passes by adding a Subject: the objects it manages (one per kind, in creation
order), an update of each field, a change made behind gitcops' back for each field, a way to
make the next write fail transiently, and a write that fails for good.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pg_server import PostgresServer

from gitcops.apply.changeset import Action
from gitcops.apply.executor import ApplyOptions, execute
from gitcops.model.identity import ResourceId
from gitcops.plan.diff import diff
from gitcops.plan.model import ChangeAction, PlannedChange
from gitcops.providers.base import (
    CreateRequest,
    DeleteRequest,
    Importer,
    PrepareRequest,
    Provider,
    ProviderContext,
    ReadRequest,
    Spec,
    UpdateRequest,
)
from gitcops.providers.local.atomic import SystemCalls
from gitcops.providers.registry import load_provider

ByHand = Callable[[], None]


@dataclass
class Subject:
    provider: Provider
    objects: list[tuple[ResourceId, Spec]]  # in creation order
    updates: dict[str, list[tuple[str, Any]]]  # id name -> (field, new value), applied in turn
    drifts: dict[str, list[tuple[str, ByHand]]]  # id name -> (field, change it by hand)
    transient: Callable[[], AbstractContextManager[None]]  # the next write fails transiently
    terminal: tuple[ResourceId, Spec, str]  # a create that fails for good, and its message
    import_names: dict[str, str] = field(default_factory=dict)  # id name -> import name
    retries_seen: list[int] = field(default_factory=list)


def prepared(provider: Provider, rid: ResourceId, spec: Spec) -> Spec:
    return provider.prepare(PrepareRequest(rid, dict(spec), lambda path: b""))


def read(provider: Provider, rid: ResourceId, spec: Spec) -> Spec | None:
    return provider.read(ReadRequest(rid, spec, {"managed": True})).live


def changed_fields(expected: Spec, live: Spec | None) -> set[str]:
    assert live is not None
    return {str(item.path[0]) for item in diff(expected, live) if item.path}


# -- local -----------------------------------------------------------------------------------


class Flaky:
    """os.replace that fails with EBUSY while armed (once per arming)."""

    def __init__(self) -> None:
        self.armed = False
        self.failures = 0

    def replace(self, src: str, dst: str) -> None:
        if self.armed:
            self.armed = False
            self.failures += 1
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), dst)
        os.replace(src, dst)


def local_subject(tmp_path: Path) -> Subject:
    from gitcops.providers.local.provider import LocalProvider

    root = tmp_path / "root"
    root.mkdir()
    calls = Flaky()
    provider = LocalProvider(
        ProviderContext({"root": str(root)}, tmp_path), calls=SystemCalls(replace=calls.replace)
    )
    group = "local.gitcops.io"
    d, f, s = (
        ResourceId(group, k, n) for k, n in [("Directory", "d"), ("File", "f"), ("Symlink", "s")]
    )

    @contextmanager
    def transient() -> Iterator[None]:
        calls.armed = True
        yield
        assert calls.failures >= 1

    (root / "occupied").mkdir()
    return Subject(
        provider=provider,
        objects=[
            (d, {"path": "conf", "mode": "0750"}),
            (f, {"path": "conf/app.ini", "content": "a=1\n", "mode": "0640"}),
            (s, {"path": "current", "target": "conf/app.ini"}),
        ],
        updates={
            "d": [("mode", "0700")],
            "f": [("content", "a=2\n"), ("mode", "0600")],
            "s": [("target", "conf")],
        },
        drifts={
            "d": [("mode", lambda: os.chmod(root / "conf", 0o755))],
            "f": [
                ("content", lambda: (root / "conf/app.ini").write_text("by hand\n")),
                ("mode", lambda: os.chmod(root / "conf/app.ini", 0o666)),
            ],
            "s": [("target", lambda: _relink(root / "current", "elsewhere"))],
        },
        transient=transient,
        terminal=(
            ResourceId(group, "File", "blocked"),
            {"path": "occupied", "content": "x"},
            "is a directory",
        ),
        import_names={"d": "conf", "f": "conf/app.ini", "s": "current"},
    )


def _relink(path: Path, target: str) -> None:
    path.unlink()
    path.symlink_to(target)


# -- postgres --------------------------------------------------------------------------------


def postgres_subject(server: PostgresServer) -> Subject:
    prefix = f"c{os.urandom(3).hex()}"
    role, other, db, schema = (f"{prefix}_{n}" for n in ("role", "other", "db", "s"))
    reader = f"{prefix}_reader"  # grantee: an owner's privileges move with ownership
    server.psql(f'CREATE ROLE "{other}"')
    server.psql(f'CREATE ROLE "{reader}"')
    context = ProviderContext(
        {"host": server.host, "port": server.port, "user": server.user}, Path("."), "postgres"
    )
    provider = load_provider("postgres", context)
    group = "postgres.gitcops.io"

    def rid(kind: str, name: str) -> ResourceId:
        return ResourceId(group, kind, name)

    def sql(statement: str, database: str = "postgres") -> ByHand:
        return lambda: server.psql(statement, database) and None

    @contextmanager
    def transient() -> Iterator[None]:
        server.kill()
        timer = threading.Timer(1.0, server.start_again)
        timer.start()
        try:
            yield
        finally:
            timer.join()

    on_schema = f'ON SCHEMA "{schema}" TO "{reader}"'
    defaults = f'ALTER DEFAULT PRIVILEGES FOR ROLE "{other}" IN SCHEMA "{schema}" GRANT'
    return Subject(
        provider=provider,
        objects=[
            (rid("Role", role), {"login": True, "connectionLimit": 3, "validUntil": "2030-01-01"}),
            (rid("Database", db), {"owner": role, "connectionLimit": 5}),
            (rid("Schema", schema), {"database": db, "owner": role}),
            (
                rid("Grant", f"{prefix}-g"),
                {
                    "role": reader,
                    "database": db,
                    "objectType": "schema",
                    "schema": schema,
                    "privileges": ["usage"],
                },
            ),
            (
                rid("DefaultPrivileges", f"{prefix}-dp"),
                {
                    "role": reader,
                    "owner": other,
                    "database": db,
                    "schema": schema,
                    "objectType": "table",
                    "privileges": ["select"],
                },
            ),
            (
                rid("Extension", f"{prefix}-x"),
                {"name": "pgcrypto", "database": db, "schema": schema},
            ),
        ],
        updates={
            role: [
                ("login", False),
                ("superuser", True),
                ("superuser", False),
                ("createdb", True),
                ("createrole", True),
                ("inherit", False),
                ("replication", True),
                ("bypassRls", True),
                ("connectionLimit", 9),
                ("validUntil", "2031-02-03T04:05:06Z"),
                ("memberOf", [other]),
            ],
            db: [
                ("owner", other),
                ("connectionLimit", 7),
                ("allowConnections", False),
                ("allowConnections", True),
            ],
            schema: [("owner", other)],
            f"{prefix}-g": [("privileges", ["usage", "create"]), ("withGrantOption", True)],
            f"{prefix}-dp": [("privileges", ["select", "insert"]), ("withGrantOption", True)],
            f"{prefix}-x": [("schema", "public")],
        },
        drifts={
            role: [
                ("login", sql(f'ALTER ROLE "{role}" NOLOGIN')),
                ("createdb", sql(f'ALTER ROLE "{role}" CREATEDB')),
                ("inherit", sql(f'ALTER ROLE "{role}" NOINHERIT')),
                ("connectionLimit", sql(f'ALTER ROLE "{role}" CONNECTION LIMIT 1')),
                ("validUntil", sql(f"ALTER ROLE \"{role}\" VALID UNTIL '2029-01-01'")),
                ("memberOf", sql(f'GRANT "{other}" TO "{role}"')),
            ],
            db: [
                ("owner", sql(f'ALTER DATABASE "{db}" OWNER TO "{other}"')),
                ("connectionLimit", sql(f'ALTER DATABASE "{db}" CONNECTION LIMIT 1')),
            ],
            schema: [("owner", sql(f'ALTER SCHEMA "{schema}" OWNER TO "{other}"', db))],
            f"{prefix}-g": [
                ("privileges", sql(f"GRANT CREATE {on_schema}", db)),
                ("withGrantOption", sql(f"GRANT USAGE {on_schema} WITH GRANT OPTION", db)),
            ],
            f"{prefix}-dp": [
                ("privileges", sql(f'{defaults} UPDATE ON TABLES TO "{reader}"', db)),
                (
                    "withGrantOption",
                    sql(f'{defaults} SELECT ON TABLES TO "{reader}" WITH GRANT OPTION', db),
                ),
            ],
            f"{prefix}-x": [("schema", sql("ALTER EXTENSION pgcrypto SET SCHEMA public", db))],
        },
        transient=transient,
        terminal=(
            rid("Schema", f"{prefix}-nowhere"),
            {"database": "postgres", "owner": f"{prefix}_ghost"},
            "does not exist",
        ),
        import_names={
            role: role,
            db: db,
            schema: f"{db}.{schema}",
            f"{prefix}-x": f"{db}.pgcrypto",
        },
    )


def cleanup_postgres(subject: Subject, server: PostgresServer) -> None:
    prefix = subject.objects[0][0].name.split("_")[0]
    for (name,) in server.psql(f"SELECT datname FROM pg_database WHERE datname LIKE '{prefix}%'"):
        server.psql(f'DROP DATABASE "{name}" WITH (FORCE)')
    for (name,) in server.psql(f"SELECT rolname FROM pg_roles WHERE rolname LIKE '{prefix}%'"):
        server.psql(f'DROP OWNED BY "{name}"')
        server.psql(f'DROP ROLE "{name}"')


@pytest.fixture(params=["local", "postgres"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    if request.param == "local":
        yield local_subject(tmp_path)
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    if not server.running:
        server.start_again()
    made = postgres_subject(server)
    yield made
    close = getattr(made.provider, "close", None)
    if callable(close):
        close()
    cleanup_postgres(made, server)


# -- the suite -------------------------------------------------------------------------------


def create_all(s: Subject) -> list[tuple[ResourceId, Spec]]:
    made = []
    for rid, spec in s.objects:
        want = prepared(s.provider, rid, spec)
        s.provider.create(CreateRequest(rid, want))
        made.append((rid, want))
    return made


def test_create_then_read_back_equal(subject: Subject) -> None:
    for rid, want in create_all(subject):
        live = read(subject.provider, rid, want)
        assert live is not None, rid
        assert changed_fields(want, live) == set(), (rid, want, live)


def test_reads_in_one_batch_answer_in_order(subject: Subject) -> None:
    made = create_all(subject)
    from gitcops.providers.base import BatchReader

    if not isinstance(subject.provider, BatchReader):
        pytest.skip(f"provider {subject.provider.name} reads one object at a time")
    requests = [ReadRequest(rid, want, {"managed": True}) for rid, want in reversed(made)]
    answers = subject.provider.read_batch(requests)
    assert [a.live is not None for a in answers] == [True] * len(made)
    for (rid, want), answer in zip(reversed(made), answers, strict=True):
        assert changed_fields(want, answer.live) == set(), rid


def test_update_each_field_then_nothing_to_change(subject: Subject) -> None:
    for rid, want in create_all(subject):
        current = dict(want)
        for name, value in subject.updates.get(rid.name, []):
            raw = {**current, name: value}
            target = prepared(subject.provider, rid, raw)
            live = read(subject.provider, rid, target)
            assert name in changed_fields(target, live), (rid, name)
            subject.provider.update(UpdateRequest(rid, target, live))
            again = read(subject.provider, rid, target)
            assert changed_fields(target, again) == set(), (rid, name, again)  # a no-op re-plan
            current = target


def test_drift_is_found_field_by_field(subject: Subject) -> None:
    for rid, want in create_all(subject):
        for name, by_hand in subject.drifts.get(rid.name, []):
            by_hand()
            live = read(subject.provider, rid, want)
            assert changed_fields(want, live) == {name}, (rid, name, live)
            subject.provider.update(UpdateRequest(rid, want, live))  # healed
            assert changed_fields(want, read(subject.provider, rid, want)) == set(), (rid, name)


def test_delete_in_reverse_order(subject: Subject) -> None:
    made = create_all(subject)
    for rid, want in reversed(made):
        subject.provider.delete(DeleteRequest(rid, want, {"managed": True}))
        assert read(subject.provider, rid, want) is None, rid


def test_import_round_trip(subject: Subject) -> None:
    made = dict(create_all(subject))
    assert isinstance(subject.provider, Importer)
    for rid, want in made.items():
        name = subject.import_names.get(rid.name)
        if name is None:
            continue
        spec = subject.provider.import_spec(rid.kind, name)
        found = subject.provider.read(ReadRequest(ResourceId(rid.group, rid.kind, name), spec)).live
        assert found is not None, rid
        # The document import writes, prepared again, is what is there: adopting changes nothing.
        document = {k: v for k, v in found.items() if v is not None}
        again = prepared(subject.provider, rid, document)
        assert changed_fields(again, read(subject.provider, rid, again)) == set(), rid
        # What was made is what is found (import reads optional fields the spec left out).
        assert changed_fields(want, {k: v for k, v in found.items() if k in want}) == set(), rid


def _run(s: Subject, changes: Sequence[PlannedChange]) -> tuple[Action, str]:
    outcome = execute(
        changes,
        {s.provider.instance: s.provider},
        options=ApplyOptions(parallelism=1, retry_backoff=0.4),
        on_result=lambda change, entry: None,
    )
    entry = outcome.entries[-1]
    return entry.action, entry.message


def _create(s: Subject, rid: ResourceId, spec: Spec) -> PlannedChange:
    want = prepared(s.provider, rid, spec)
    return PlannedChange(ChangeAction.CREATE, rid, f"{rid.group}/v1", None, want)


def test_a_transient_error_is_retried(subject: Subject) -> None:
    made = create_all(subject)
    rid, spec = subject.objects[-1]
    subject.provider.delete(DeleteRequest(rid, made[-1][1], {"managed": True}))
    with subject.transient():
        action, message = _run(subject, [_create(subject, rid, spec)])
    assert action is Action.CREATED, message
    assert read(subject.provider, rid, made[-1][1]) is not None


def test_a_terminal_error_is_reported_at_once(subject: Subject) -> None:
    import time

    rid, spec, text = subject.terminal
    started = time.monotonic()
    action, message = _run(subject, [_create(subject, rid, spec)])
    assert action is Action.FAILED
    assert text in message
    assert "attempts" not in message and time.monotonic() - started < 5  # not retried
