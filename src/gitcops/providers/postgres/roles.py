"""Role: attributes, memberships and a password that is never read back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import sql

from gitcops.providers.base import KindInfo, PrepareError, Spec
from gitcops.providers.postgres import schemas
from gitcops.providers.postgres.common import (
    Conn,
    Problem,
    Ref,
    ident,
    name_problems,
    oid_of,
    only_keys,
)

# spec field -> (catalog column, keyword when true, keyword when false)
_FLAGS: dict[str, tuple[str, str, str]] = {
    "login": ("rolcanlogin", "LOGIN", "NOLOGIN"),
    "superuser": ("rolsuper", "SUPERUSER", "NOSUPERUSER"),
    "createdb": ("rolcreatedb", "CREATEDB", "NOCREATEDB"),
    "createrole": ("rolcreaterole", "CREATEROLE", "NOCREATEROLE"),
    "inherit": ("rolinherit", "INHERIT", "NOINHERIT"),
    "replication": ("rolreplication", "REPLICATION", "NOREPLICATION"),
    "bypassRls": ("rolbypassrls", "BYPASSRLS", "NOBYPASSRLS"),
}
_DEFAULTS: dict[str, Any] = {
    "login": False,
    "superuser": False,
    "createdb": False,
    "createrole": False,
    "inherit": True,
    "replication": False,
    "bypassRls": False,
    "connectionLimit": -1,
    "memberOf": [],
}

_READ = sql.SQL(
    """
    SELECT r.oid, r.rolname, {flags}, r.rolconnlimit,
           CASE WHEN r.rolvaliduntil IS NULL THEN NULL
                WHEN isfinite(r.rolvaliduntil)
                THEN to_char(r.rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                ELSE r.rolvaliduntil::text END,
           ARRAY(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                 WHERE m.member = r.oid ORDER BY g.rolname)
    FROM pg_roles r
    """
).format(flags=sql.SQL(", ").join(sql.SQL("r." + col) for col, _, _ in _FLAGS.values()))


def valid_until(value: Any) -> str:
    """One spelling: UTC, to the second, or 'infinity' (null: never expires)."""
    if value is None:
        return "infinity"
    text = str(value).strip()
    if text.lower() in ("infinity", "-infinity"):
        return text.lower()
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _row_spec(row: Sequence[Any]) -> Spec:
    spec: Spec = {"name": row[1]}
    for i, field in enumerate(_FLAGS):
        spec[field] = bool(row[2 + i])
    base = 2 + len(_FLAGS)
    spec["connectionLimit"] = int(row[base])
    spec["validUntil"] = row[base + 1]
    spec["memberOf"] = list(row[base + 2])
    return spec


def _managed(live: Spec | None, spec: Spec) -> Spec | None:
    if live is None:
        return None
    return only_keys(live, spec, ("validUntil",))


def _options(spec: Spec, live: Spec | None) -> list[sql.Composable]:
    parts: list[sql.Composable] = []
    for field, (_, yes, no) in _FLAGS.items():
        if live is None or live.get(field) != spec[field]:
            parts.append(sql.SQL(yes if spec[field] else no))
    if live is None or live.get("connectionLimit") != spec["connectionLimit"]:
        parts.append(sql.SQL("CONNECTION LIMIT {}").format(sql.Literal(spec["connectionLimit"])))
    # Unmanaged unless given; null (no expiry) is 'infinity', what ALTER ROLE can write.
    if "validUntil" in spec and (live is None or live.get("validUntil") != spec["validUntil"]):
        parts.append(sql.SQL("VALID UNTIL {}").format(sql.Literal(spec["validUntil"])))
    return parts


def _password(conn: Conn, spec: Spec) -> sql.Composable:
    if spec.get("password") is None:
        return sql.SQL("PASSWORD NULL")
    raw = conn.pgconn.encrypt_password(
        str(spec["password"]).encode(), str(spec["name"]).encode(), b"scram-sha-256"
    )
    return sql.SQL("PASSWORD {}").format(sql.Literal(raw.decode()))


class RoleOps:
    info = KindInfo(
        "Role", schemas.ROLE, sensitive_fields=("password",), write_only_fields=("password",)
    )

    def normalise(self, name: str, spec: Spec) -> Spec:
        out: Spec = {"name": spec.get("name", name), **_DEFAULTS, **spec}
        out["name"] = spec.get("name", name)
        out["memberOf"] = sorted(set(out["memberOf"]))
        if "validUntil" in out:
            try:
                out["validUntil"] = valid_until(out["validUntil"])
            except ValueError:
                raise PrepareError(
                    ("spec", "validUntil"),
                    f"{out['validUntil']!r} is not an ISO 8601 timestamp or 'infinity'",
                ) from None
        return out

    def problems(self, spec: Spec) -> list[Problem]:
        out: list[Problem] = name_problems(spec)
        name = str(spec.get("name", ""))
        if name.lower() == "public" or name.lower().startswith("pg_"):
            out.append((("spec", "name"), f"{name!r} is reserved by PostgreSQL"))
        if name in spec.get("memberOf", []):
            out.append((("spec", "memberOf"), "a role cannot be a member of itself"))
        return out

    def key(self, spec: Spec) -> tuple[str, ...]:
        return (str(spec["name"]),)

    def database(self, spec: Spec) -> str | None:
        return None

    def refs(self, spec: Spec) -> list[Ref]:
        return [Ref(("memberOf", i), "Role", (m,)) for i, m in enumerate(spec.get("memberOf", []))]

    def read(self, conn: Conn, specs: Sequence[Spec], managed: Sequence[bool]) -> list[Spec | None]:
        names = [str(s["name"]) for s in specs]
        rows = conn.execute(_READ + sql.SQL(" WHERE r.rolname = ANY(%s)"), [names]).fetchall()
        found = {row[1]: _row_spec(row) for row in rows}
        return [_managed(found.get(str(s["name"])), s) for s in specs]

    def list(self, conn: Conn) -> list[Spec]:
        where = sql.SQL(" WHERE r.rolname !~ '^pg_' AND r.rolname <> current_user ORDER BY 2")
        return [_row_spec(row) for row in conn.execute(_READ + where).fetchall()]

    def _memberships(self, conn: Conn, spec: Spec, live: Spec | None) -> None:
        had = set(live["memberOf"]) if live is not None else set()
        want = set(spec["memberOf"])
        for group in sorted(want - had):
            conn.execute(sql.SQL("GRANT {} TO {}").format(ident(group), ident(spec["name"])))
        for group in sorted(had - want):
            conn.execute(sql.SQL("REVOKE {} FROM {}").format(ident(group), ident(spec["name"])))

    def create(self, conn: Conn, spec: Spec) -> Mapping[str, Any] | None:
        with conn.transaction():
            parts = _options(spec, None)
            if "password" in spec:
                parts.append(_password(conn, spec))
            conn.execute(
                sql.SQL("CREATE ROLE {} WITH {}").format(
                    ident(spec["name"]), sql.SQL(" ").join(parts)
                )
            )
            self._memberships(conn, spec, None)
            return oid_of(conn, "SELECT oid FROM pg_roles WHERE rolname = %s", spec["name"])

    def update(self, conn: Conn, spec: Spec, live: Spec) -> Mapping[str, Any] | None:
        with conn.transaction():
            parts = _options(spec, live)
            if spec.get("password") != live.get("password"):
                parts.append(_password(conn, spec))
            if parts:
                conn.execute(
                    sql.SQL("ALTER ROLE {} WITH {}").format(
                        ident(spec["name"]), sql.SQL(" ").join(parts)
                    )
                )
            self._memberships(conn, spec, live)
        return None

    def delete(self, conn: Conn, spec: Spec) -> None:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident(spec["name"])))
