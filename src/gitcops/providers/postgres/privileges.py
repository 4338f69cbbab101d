"""Grant and DefaultPrivileges: ACL entries, read with aclexplode, written with GRANT/REVOKE.

A grant on all tables (sequences, functions) of a schema holds what every one of them grants
the role; with none there, it holds vacuously once gitcops has applied it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from psycopg import sql

from gitcops.model.errors import ProviderError
from gitcops.providers.base import KindInfo, Spec
from gitcops.providers.postgres import schemas
from gitcops.providers.postgres.common import Conn, Problem, Ref, grantee, ident

_ALIASES = {"TEMP": "TEMPORARY"}


class _Catalog(NamedTuple):
    """Where the objects of a grant on all of a schema's tables (sequences, functions) are."""

    table: str
    letter: str  # acldefault's object type
    owner: str
    acl: str
    space: str  # the schema column
    where: str  # which rows are objects of the kind


_ON_ALL: dict[str, _Catalog] = {
    "table": _Catalog(
        "pg_class",
        "r",
        "relowner",
        "relacl",
        "relnamespace",
        "c.relkind IN ('r', 'v', 'm', 'f', 'p')",
    ),
    "sequence": _Catalog("pg_class", "s", "relowner", "relacl", "relnamespace", "c.relkind = 'S'"),
    "function": _Catalog(
        "pg_proc", "f", "proowner", "proacl", "pronamespace", "c.prokind IN ('f', 'a', 'w')"
    ),
}
_PLURAL = {
    "table": "TABLES",
    "sequence": "SEQUENCES",
    "function": "FUNCTIONS",
    "type": "TYPES",
    "schema": "SCHEMAS",
}
_DEFACL_TYPE = {"table": "r", "sequence": "S", "function": "f", "type": "T", "schema": "n"}
_DEFACL_KIND = {v: k for k, v in _DEFACL_TYPE.items()}
_ACLDEFAULT = {"table": "r", "sequence": "s", "function": "f", "type": "T", "schema": "n"}


def privileges(object_type: str, names: Sequence[str]) -> list[str]:
    """Upper case, aliases resolved, ALL expanded, in PostgreSQL's order; names that are not
    privileges of the type are kept, last, for validation to report."""
    allowed = schemas.PRIVILEGES[object_type]
    wanted = {_ALIASES.get(n.upper(), n.upper()) for n in names}
    if "ALL" in wanted:
        wanted = (wanted - {"ALL"}) | set(allowed)
    return [p for p in allowed if p in wanted] + sorted(wanted - set(allowed))


def _bad_privileges(object_type: str, names: Sequence[str]) -> list[str]:
    allowed = {*schemas.PRIVILEGES[object_type], "ALL", *_ALIASES}
    return [n for n in names if n.upper() not in allowed]


def _privilege_problems(spec: Spec) -> list[Problem]:
    kind = str(spec.get("objectType", ""))
    if kind not in schemas.PRIVILEGES:
        return []
    bad = _bad_privileges(kind, [str(p) for p in spec.get("privileges", [])])
    if not bad:
        return []
    known = ", ".join([*schemas.PRIVILEGES[kind], "ALL"])
    return [
        (("spec", "privileges"), f"not privileges of a {kind}: {', '.join(bad)} (known: {known})")
    ]


def _live(spec: Spec, held: Mapping[str, bool] | None) -> Spec | None:
    """What the role holds, as a spec like the desired one; None: nothing at all."""
    if not held:
        return None
    live = {k: v for k, v in spec.items() if k not in ("privileges", "withGrantOption")}
    live["privileges"] = [p for p in schemas.PRIVILEGES[spec["objectType"]] if p in held]
    live["withGrantOption"] = all(held.values())
    return live


def _role_oids(conn: Conn, roles: Sequence[str]) -> dict[str, int]:
    named = [r for r in roles if r.lower() != "public"]
    rows = conn.execute("SELECT rolname, oid FROM pg_roles WHERE rolname = ANY(%s)", [named])
    oids = {str(name): int(oid) for name, oid in rows.fetchall()}
    oids.update({r: 0 for r in roles if r.lower() == "public"})
    return oids


def _grant_statement(spec: Spec, target: sql.Composable, to: sql.Composable) -> sql.Composed:
    known = schemas.PRIVILEGES[spec["objectType"]]
    # Keywords, not identifiers: only PostgreSQL's own names ever reach the statement.
    unknown = [p for p in spec["privileges"] if p not in known]
    if unknown:
        raise ProviderError(f"not privileges of a {spec['objectType']}: {', '.join(unknown)}")
    privs = sql.SQL(", ").join(sql.SQL(p) for p in spec["privileges"])
    statement = sql.SQL("GRANT {} ON {} TO {}").format(privs, target, to)
    if spec["withGrantOption"]:
        statement += sql.SQL(" WITH GRANT OPTION")
    return statement


class _PrivilegeSet:
    """A role's whole set of privileges on a target: written as REVOKE ALL, then GRANT, in one
    transaction, so the document is all the role holds there."""

    def normalise(self, name: str, spec: Spec) -> Spec:
        out = dict(spec)
        out["privileges"] = privileges(spec["objectType"], spec["privileges"])
        out["withGrantOption"] = bool(spec.get("withGrantOption", False))
        return out

    def problems(self, spec: Spec) -> list[Problem]:
        return _privilege_problems(spec)

    def database(self, spec: Spec) -> str | None:
        return str(spec["database"])

    # Kept in the inventory: what tells a managed grant on all tables of an empty schema
    # (held, vacuously) from one never granted.
    def create(self, conn: Conn, spec: Spec) -> Mapping[str, Any] | None:
        self._write(conn, spec)
        return {"granted": True}

    def update(self, conn: Conn, spec: Spec, live: Spec) -> Mapping[str, Any] | None:
        return self.create(conn, spec)  # the whole set is written either way

    def refs(self, spec: Spec) -> list[Ref]:
        """The grantee (PUBLIC is none), the database, the schema if any."""
        refs = []
        if spec["role"].lower() != "public":
            refs.append(Ref(("role",), "Role", (spec["role"],)))
        refs.append(Ref(("database",), "Database", (spec["database"],)))
        if "schema" in spec:
            refs.append(Ref(("schema",), "Schema", (spec["database"], spec["schema"])))
        return refs

    def _write(self, conn: Conn, spec: Spec) -> None:
        raise NotImplementedError


class GrantOps(_PrivilegeSet):
    info = KindInfo("Grant", schemas.GRANT, replace_fields=())

    def key(self, spec: Spec) -> tuple[str, ...]:
        return (
            str(spec["database"]),
            str(spec["objectType"]),
            str(spec.get("schema", "")),
            str(spec["role"]),
        )

    def _target(self, spec: Spec) -> sql.Composable:
        kind = spec["objectType"]
        if kind == "database":
            return sql.SQL("DATABASE {}").format(ident(spec["database"]))
        if kind == "schema":
            return sql.SQL("SCHEMA {}").format(ident(spec["schema"]))
        return sql.SQL("ALL {} IN SCHEMA {}").format(sql.SQL(_PLURAL[kind]), ident(spec["schema"]))

    def _held(
        self, conn: Conn, kind: str, specs: Sequence[Spec]
    ) -> tuple[dict[tuple[str, int], dict[str, bool]], set[str]]:
        """(schema or "", grantee oid) -> {privilege: grantable} held on every object; and the
        schemas holding no object of the kind."""
        if kind == "database":
            rows = conn.execute(
                "SELECT '', a.grantee, a.privilege_type, a.is_grantable, 0 FROM pg_database d, "
                "aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a "
                "WHERE d.datname = current_database()"
            ).fetchall()
            return _common(rows, {"": 1}), set()
        schemas_ = sorted({str(s["schema"]) for s in specs})
        if kind == "schema":
            rows = conn.execute(
                "SELECT n.nspname, a.grantee, a.privilege_type, a.is_grantable, n.oid "
                "FROM pg_namespace n, "
                "aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a "
                "WHERE n.nspname = ANY(%s)",
                [schemas_],
            ).fetchall()
            return _common(rows, {s: 1 for s in schemas_}), set()
        at = _ON_ALL[kind]
        names = {
            "catalog": sql.Identifier(at.table),
            "space": sql.Identifier(at.space),
            "where": sql.SQL(at.where),
        }
        query = sql.SQL(
            "SELECT n.nspname, a.grantee, a.privilege_type, a.is_grantable, c.oid "
            "FROM {catalog} c JOIN pg_namespace n ON n.oid = c.{space}, "
            "aclexplode(coalesce(c.{acl}, acldefault({letter}, c.{owner}))) a "
            "WHERE n.nspname = ANY(%s) AND {where}"
        ).format(
            acl=sql.Identifier(at.acl),
            owner=sql.Identifier(at.owner),
            letter=sql.Literal(at.letter),
            **names,
        )
        rows = conn.execute(query, [schemas_]).fetchall()
        # Every existing schema asked about, with how many objects of the kind it holds (0 too).
        counted = sql.SQL(
            "SELECT n.nspname, count(c.oid) FROM pg_namespace n "
            "LEFT JOIN {catalog} c ON c.{space} = n.oid AND {where} "
            "WHERE n.nspname = ANY(%s) GROUP BY 1"
        ).format(**names)
        counts = {str(n): int(c) for n, c in conn.execute(counted, [schemas_]).fetchall()}
        return _common(rows, counts), {name for name, count in counts.items() if count == 0}

    def read(self, conn: Conn, specs: Sequence[Spec], managed: Sequence[bool]) -> list[Spec | None]:
        oids = _role_oids(conn, [str(s["role"]) for s in specs])
        by_kind: dict[str, list[int]] = defaultdict(list)
        for i, spec in enumerate(specs):
            by_kind[spec["objectType"]].append(i)
        out: list[Spec | None] = [None] * len(specs)
        for kind, indexes in by_kind.items():
            chosen = [specs[i] for i in indexes]
            held, empty = self._held(conn, kind, chosen)
            for i in indexes:
                spec = specs[i]
                oid = oids.get(str(spec["role"]))
                schema = str(spec.get("schema", ""))
                if kind in _ON_ALL and schema in empty:
                    # Nothing to hold a privilege: true of any set, once gitcops granted it.
                    out[i] = dict(spec) if managed[i] and oid is not None else None
                    continue
                some = held.get((schema, oid)) if oid is not None else None
                if some is not None and not some and managed[i]:
                    # Held on some objects, not on all (tables added since): incomplete, not
                    # gone, so the plan says update, not "deleted outside gitcops".
                    out[i] = {**spec, "privileges": [], "withGrantOption": False}
                else:
                    out[i] = _live(spec, some)
        return out

    def list(self, conn: Conn) -> list[Spec]:
        return []

    def _write(self, conn: Conn, spec: Spec) -> None:
        target, to = self._target(spec), grantee(spec["role"])
        with conn.transaction():
            conn.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(target, to))
            conn.execute(_grant_statement(spec, target, to))

    def delete(self, conn: Conn, spec: Spec) -> None:
        if spec["role"].lower() != "public" and not _role_oids(conn, [spec["role"]]):
            return  # the role went first: its privileges went with it
        conn.execute(
            sql.SQL("REVOKE ALL ON {} FROM {}").format(self._target(spec), grantee(spec["role"]))
        )


def _common(
    rows: Sequence[Sequence[Any]], counts: Mapping[str, int]
) -> dict[tuple[str, int], dict[str, bool]]:
    """Privileges held on every object of a schema: (schema, grantee) -> {privilege: grantable}."""
    per_object: dict[tuple[str, int], dict[int, dict[str, bool]]] = defaultdict(dict)
    for schema, who, privilege, grantable, obj in rows:
        per_object[(str(schema), int(who))].setdefault(int(obj), {})[str(privilege)] = bool(
            grantable
        )
    out: dict[tuple[str, int], dict[str, bool]] = {}
    for key, objects in per_object.items():
        if len(objects) < counts.get(key[0], 0):
            out[key] = {}  # some object grants the role nothing: held on some, not on all
            continue
        common: dict[str, bool] | None = None
        for held in objects.values():
            if common is None:
                common = dict(held)
            else:
                common = {p: g and held[p] for p, g in common.items() if p in held}
        out[key] = common or {}
    return out


class DefaultPrivilegesOps(_PrivilegeSet):
    info = KindInfo("DefaultPrivileges", schemas.DEFAULT_PRIVILEGES)

    def key(self, spec: Spec) -> tuple[str, ...]:
        return (
            str(spec["database"]),
            str(spec["owner"]),
            str(spec.get("schema", "*")),
            str(spec["objectType"]),
            str(spec["role"]),
        )

    def refs(self, spec: Spec) -> list[Ref]:
        return [Ref(("owner",), "Role", (spec["owner"],)), *super().refs(spec)]

    _read = (
        "SELECT pg_get_userbyid(d.defaclrole), coalesce(n.nspname, ''), d.defaclobjtype, "
        "a.grantee, a.privilege_type, a.is_grantable FROM pg_default_acl d "
        "LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace, aclexplode(d.defaclacl) a"
    )

    def _entries(self, conn: Conn) -> dict[tuple[str, str, str, int], dict[str, bool]]:
        held: dict[tuple[str, str, str, int], dict[str, bool]] = defaultdict(dict)
        for owner, schema, objtype, who, privilege, grantable in conn.execute(self._read):
            kind = _DEFACL_KIND.get(str(objtype))
            if kind is not None:
                held[(str(owner), str(schema), kind, int(who))][str(privilege)] = bool(grantable)
        return held

    def _builtin(
        self,
        conn: Conn,
        held: dict[tuple[str, str, str, int], dict[str, bool]],
        specs: Sequence[Spec],
    ) -> None:
        """Global defaults that equal PostgreSQL's own are not stored (EXECUTE on functions
        for PUBLIC): where an owner has no entry for a type, its defaults are the built-in."""
        stored = {(owner, schema, kind) for owner, schema, kind, _ in held}
        for spec in specs:
            key = (str(spec["owner"]), "", str(spec["objectType"]))
            if "schema" in spec or key in stored:
                continue
            stored.add(key)
            rows = conn.execute(
                "SELECT a.grantee, a.privilege_type, a.is_grantable "
                'FROM pg_roles r, aclexplode(acldefault(%s::"char", r.oid)) a '
                "WHERE r.rolname = %s",
                [_ACLDEFAULT[key[2]], key[0]],
            ).fetchall()
            for who, privilege, grantable in rows:
                held[(*key, int(who))][str(privilege)] = bool(grantable)

    def read(self, conn: Conn, specs: Sequence[Spec], managed: Sequence[bool]) -> list[Spec | None]:
        held = self._entries(conn)
        self._builtin(conn, held, specs)
        oids = _role_oids(conn, [str(s["role"]) for s in specs])
        out: list[Spec | None] = []
        for spec in specs:
            oid = oids.get(str(spec["role"]))
            key = (str(spec["owner"]), str(spec.get("schema", "")), str(spec["objectType"]))
            out.append(_live(spec, held.get((*key, oid))) if oid is not None else None)
        return out

    def list(self, conn: Conn) -> list[Spec]:
        database = conn.info.dbname
        names = {int(o): str(n) for o, n in conn.execute("SELECT oid, rolname FROM pg_roles")}
        names[0] = "public"
        out: list[Spec] = []
        for (owner, schema, kind, who), held in sorted(self._entries(conn).items()):
            if who not in names or names[who] == owner:
                continue
            spec: Spec = {"role": names[who], "owner": owner, "database": database}
            if schema:
                spec["schema"] = schema
            spec["objectType"] = kind
            live = _live({**spec, "privileges": [], "withGrantOption": False}, held)
            if live is not None:
                out.append(live)
        return out

    def _statement(self, spec: Spec, verb: str) -> sql.Composed:
        head = sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {}").format(ident(spec["owner"]))
        if "schema" in spec:
            head += sql.SQL(" IN SCHEMA {}").format(ident(spec["schema"]))
        on = sql.SQL(_PLURAL[spec["objectType"]])
        if verb == "revoke":
            return head + sql.SQL(" REVOKE ALL ON {} FROM {}").format(on, grantee(spec["role"]))
        return head + sql.SQL(" ") + _grant_statement(spec, on, grantee(spec["role"]))

    def _write(self, conn: Conn, spec: Spec) -> None:
        with conn.transaction():
            conn.execute(self._statement(spec, "revoke"))
            conn.execute(self._statement(spec, "grant"))

    def delete(self, conn: Conn, spec: Spec) -> None:
        conn.execute(self._statement(spec, "revoke"))
