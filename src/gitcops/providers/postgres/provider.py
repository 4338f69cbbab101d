"""The postgres provider: one server per instance, read from its catalog in one query per kind
and database, changed with ALTER where PostgreSQL allows it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from gitcops.model.errors import ProviderError
from gitcops.model.identity import ResourceId, document_name
from gitcops.providers.base import (
    CreateRequest,
    Declared,
    DeleteRequest,
    Edge,
    KindInfo,
    Listed,
    PrepareRequest,
    ProviderConfigError,
    ProviderContext,
    ReadRequest,
    ReadResponse,
    Spec,
    UpdateRequest,
    ValidateRequest,
    ValidateResponse,
    WriteResponse,
)
from gitcops.providers.postgres import schemas
from gitcops.providers.postgres.common import Conn, Ops
from gitcops.providers.postgres.connection import Connections, settings_to_params
from gitcops.providers.postgres.objects import DatabaseOps, ExtensionOps, SchemaOps
from gitcops.providers.postgres.privileges import DefaultPrivilegesOps, GrantOps
from gitcops.providers.postgres.roles import RoleOps

GROUP = "postgres.gitcops.io"
OPS: Mapping[str, Ops] = {
    ops.info.name: ops
    for ops in (
        RoleOps(),
        DatabaseOps(),
        SchemaOps(),
        GrantOps(),
        DefaultPrivilegesOps(),
        ExtensionOps(),
    )
}
KINDS: Mapping[str, KindInfo] = {name: ops.info for name, ops in OPS.items()}
_SERVER_WIDE = ("Role", "Database")  # the rest live in one database each


def config_problems(config: Mapping[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    from gitcops.model.schema import SchemaCache

    problems = list(SchemaCache.shared().errors(schemas.CONFIG, dict(config)))
    if not problems and "dsn" in config:
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict

        try:
            parts = conninfo_to_dict(str(config["dsn"]))
        except ProgrammingError as exc:
            # Not the parser's words: they quote the string, which may hold a password.
            del exc
            problems.append(
                (("dsn",), "not a libpq connection string (key=value pairs or postgresql://…)")
            )
        else:
            if "password" in parts:
                problems.append(
                    (("dsn",), "holds a password: give it as password: {secretRef: …} instead")
                )
    return problems


def _read(ops: Ops, specs: list[Spec], managed: list[bool], conn: Conn) -> list[Spec | None]:
    return ops.read(conn, specs, managed)


class PostgresProvider:
    """Remote: an existing object is adopted only when asked (`apply --adopt` or the
    gitcops.io/adopt annotation)."""

    name = "postgres"
    explicit_adoption = True

    def __init__(self, context: ProviderContext) -> None:
        problems = config_problems(context.config)
        if problems:
            raise ProviderConfigError(context.instance or self.name, problems)
        self.instance = context.instance or self.name
        self.connections = Connections(settings_to_params(context.config))
        host, port = self.connections.where
        self._server = f"postgres://{host}:{port}"

    # -- description -------------------------------------------------------------------------

    def kinds(self) -> Mapping[str, KindInfo]:
        return KINDS

    def address(self, id: ResourceId, spec: Spec) -> str | None:
        ops = OPS.get(id.kind)
        if ops is None:
            return None
        try:
            key = ops.key(spec)
        except KeyError:
            return None
        return f"{self._server}/{id.kind}/" + "/".join(key)

    def prepare(self, request: PrepareRequest) -> Spec:
        return OPS[request.id.kind].normalise(request.id.name, dict(request.spec))

    def validate(self, request: ValidateRequest) -> ValidateResponse:
        return ValidateResponse(OPS[request.id.kind].problems(request.spec))

    def implicit_edges(self, resources: Sequence[Declared]) -> list[Edge]:
        by_key = {(r.id.kind, OPS[r.id.kind].key(r.spec)): r.id for r in resources}
        edges: list[Edge] = []
        for r in resources:
            for ref in OPS[r.id.kind].refs(r.spec):
                target = by_key.get((ref.kind, ref.key))
                if target is not None and target != r.id:
                    edges.append(Edge(r.id, target))
        return edges

    # -- live checks -------------------------------------------------------------------------

    def preflight(
        self, resources: Sequence[Declared]
    ) -> list[tuple[ResourceId, tuple[str | int, ...], str]]:
        """Every object a document names that is neither declared nor on the server."""
        declared = {(r.id.kind, OPS[r.id.kind].key(r.spec)) for r in resources}
        wanted: dict[tuple[str, tuple[str, ...]], list[tuple[ResourceId, tuple[str | int, ...]]]]
        wanted = defaultdict(list)
        for r in resources:
            for ref in OPS[r.id.kind].refs(r.spec):
                if (ref.kind, ref.key) not in declared:
                    wanted[(ref.kind, ref.key)].append((r.id, ("spec", *ref.path)))
        if not wanted:
            return []
        existing = self._existing(list(wanted))
        problems = []
        for (kind, key), users in wanted.items():
            if (kind, key) in existing:
                continue
            where = f" in database {key[0]}" if kind == "Schema" else ""
            for rid, path in users:
                problems.append(
                    (
                        rid,
                        path,
                        f"{kind.lower()} {key[-1]!r} does not exist{where} on "
                        f"{self._server} and is not declared in this environment",
                    )
                )
        return problems

    def _existing(
        self, refs: list[tuple[str, tuple[str, ...]]]
    ) -> set[tuple[str, tuple[str, ...]]]:
        found: set[tuple[str, tuple[str, ...]]] = set()
        roles = [k[0] for kind, k in refs if kind == "Role"]
        databases = sorted({k[0] for kind, k in refs if kind in ("Database", "Schema")})

        def names(query: str, values: list[str], database: str | None = None) -> set[str]:
            return self.connections.run(
                database,
                "preflight",
                lambda conn: {str(r[0]) for r in conn.execute(query, [values]).fetchall()},
            )

        roles_sql = "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)"
        found |= {("Role", (n,)) for n in names(roles_sql, roles)}
        live_dbs = names("SELECT datname FROM pg_database WHERE datname = ANY(%s)", databases)
        found |= {("Database", (n,)) for n in live_dbs}
        for db in sorted(live_dbs):
            wanted = [k[1] for kind, k in refs if kind == "Schema" and k[0] == db]
            if wanted:
                query = "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)"
                found |= {("Schema", (db, n)) for n in names(query, wanted, db)}
        return found

    # -- reading -----------------------------------------------------------------------------

    def read(self, request: ReadRequest) -> ReadResponse:
        return self.read_batch([request])[0]

    def read_batch(self, requests: Sequence[ReadRequest]) -> Sequence[ReadResponse]:
        """One catalog query per kind and database."""
        out: list[ReadResponse] = [ReadResponse(None)] * len(requests)
        groups: dict[tuple[str, str | None], list[int]] = defaultdict(list)
        for i, request in enumerate(requests):
            ops = OPS[request.id.kind]
            groups[(request.id.kind, ops.database(request.spec))].append(i)
        present = self._databases({db for _, db in groups if db is not None})
        for (kind, database), positions in groups.items():
            if database is not None and database not in present:
                continue  # nothing can live in a database that is not there (yet)
            ops = OPS[kind]
            specs = [requests[i].spec for i in positions]
            managed = [requests[i].state is not None for i in positions]
            lives = self.connections.run(
                database, f"reading {kind} objects", partial(_read, ops, specs, managed)
            )
            for i, live in zip(positions, lives, strict=True):
                out[i] = ReadResponse(live)
        return out

    def _databases(self, names: set[str]) -> set[str]:
        """Which of these databases exist: one query."""
        if not names:
            return set()
        return self.connections.run(
            None,
            "looking up databases",
            lambda conn: {
                str(row[0])
                for row in conn.execute(
                    "SELECT datname FROM pg_database WHERE datname = ANY(%s)", [sorted(names)]
                ).fetchall()
            },
        )

    def list(self, kind: str) -> Sequence[Listed]:
        ops = OPS[kind]
        if kind == "Grant":
            raise ProviderError(
                "listing every Grant is not supported: import grants by writing their documents "
                "(gitcops adopts them on apply --adopt)"
            )
        if kind in _SERVER_WIDE:
            specs = self.connections.run(None, f"listing {kind} objects", ops.list)
        else:
            databases = self.connections.run(
                None,
                "listing databases",
                lambda conn: [
                    str(r[0])
                    for r in conn.execute(
                        "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate "
                        "ORDER BY 1"
                    ).fetchall()
                ],
            )
            specs = [
                s
                for db in databases
                for s in self.connections.run(db, f"listing {kind} objects", ops.list)
            ]
        return [Listed(ResourceId(GROUP, kind, document_name(*ops.key(s))), s) for s in specs]

    def import_spec(self, kind: str, name: str) -> Spec:
        """The spec that finds an object named on the command line: `NAME` for server-wide
        kinds, `DATABASE.NAME` for the others."""
        if kind in ("Grant", "DefaultPrivileges"):
            raise ProviderError(f"{kind} objects are imported with --all {kind}, not by name")
        # Optional fields are read only when the spec has them: ask for every one.
        optional: Spec = {"Role": {"validUntil": None}, "Database": {"owner": None}}.get(kind, {})
        if kind in _SERVER_WIDE:
            return {"name": name, **optional}
        database, dot, rest = name.partition(".")
        if not dot or not rest:
            raise ProviderError(f"{kind} {name!r}: name it DATABASE.NAME")
        if kind == "Schema":
            optional = {"owner": None}
        elif kind == "Extension":
            optional = {"schema": None, "version": None}
        return {"database": database, "name": rest, **optional}

    # -- writing -----------------------------------------------------------------------------

    def create(self, request: CreateRequest) -> WriteResponse:
        ops = OPS[request.id.kind]
        state = self.connections.run(
            ops.database(request.spec),
            f"creating {request.id}",
            lambda conn: ops.create(conn, request.spec),
        )
        return WriteResponse(state=state)

    def update(self, request: UpdateRequest) -> WriteResponse:
        ops = OPS[request.id.kind]
        live = request.live or {}
        state = self.connections.run(
            ops.database(request.spec),
            f"updating {request.id}",
            lambda conn: ops.update(conn, request.spec, live),
        )
        return WriteResponse(state=state)

    def delete(self, request: DeleteRequest) -> WriteResponse:
        ops = OPS[request.id.kind]
        database = ops.database(request.spec)
        if request.id.kind == "Database":
            self.connections.forget(str(request.spec["name"]))
        elif database is not None and not self._databases({database}):
            return WriteResponse()  # went with its database
        self.connections.run(
            database, f"deleting {request.id}", lambda conn: ops.delete(conn, request.spec)
        )
        return WriteResponse()

    def close(self) -> None:
        self.connections.close()
