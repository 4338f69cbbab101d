"""Database, Schema and Extension: named objects with an owner or a home."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import sql

from gitcops.providers.base import KindInfo, Spec
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

_SYSTEM_SCHEMAS = sql.SQL(
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'"
)


def encoding(value: Any) -> str:
    """PostgreSQL's spelling of an encoding name (utf-8 -> UTF8)."""
    text = str(value).upper()
    return "UTF8" if text in ("UTF-8", "UTF_8") else text


class DatabaseOps:
    info = KindInfo(
        "Database",
        schemas.DATABASE,
        replace_fields=("encoding",),
        write_only_fields=("template",),
        holds_data=True,
    )
    _read = (
        "SELECT datname, pg_get_userbyid(datdba), pg_encoding_to_char(encoding), "
        "datconnlimit, datallowconn FROM pg_database"
    )

    def normalise(self, name: str, spec: Spec) -> Spec:
        out: Spec = {"name": name, "encoding": "UTF8", "connectionLimit": -1}
        out.update(spec)
        out["allowConnections"] = spec.get("allowConnections", True)
        out["encoding"] = encoding(out["encoding"])
        return out

    def problems(self, spec: Spec) -> list[Problem]:
        return name_problems(spec)

    def key(self, spec: Spec) -> tuple[str, ...]:
        return (str(spec["name"]),)

    def database(self, spec: Spec) -> str | None:
        return None

    def refs(self, spec: Spec) -> list[Ref]:
        return [Ref(("owner",), "Role", (spec["owner"],))] if "owner" in spec else []

    @staticmethod
    def _spec(row: Sequence[Any]) -> Spec:
        return {
            "name": row[0],
            "owner": row[1],
            "encoding": row[2],
            "connectionLimit": int(row[3]),
            "allowConnections": bool(row[4]),
        }

    def read(self, conn: Conn, specs: Sequence[Spec], managed: Sequence[bool]) -> list[Spec | None]:
        names = [str(s["name"]) for s in specs]
        rows = conn.execute(self._read + " WHERE datname = ANY(%s)", [names]).fetchall()
        found = {row[0]: self._spec(row) for row in rows}
        return [
            only_keys(found[n], s, ("owner",)) if n in found else None
            for n, s in zip(names, specs, strict=True)
        ]

    def list(self, conn: Conn) -> list[Spec]:
        query = self._read + " WHERE NOT datistemplate AND datname <> 'postgres' ORDER BY 1"
        return [self._spec(row) for row in conn.execute(query).fetchall()]

    def create(self, conn: Conn, spec: Spec) -> Mapping[str, Any] | None:
        parts = [sql.SQL("ENCODING {}").format(sql.Literal(spec["encoding"]))]
        if "owner" in spec:
            parts.append(sql.SQL("OWNER {}").format(ident(spec["owner"])))
        if "template" in spec:
            parts.append(sql.SQL("TEMPLATE {}").format(ident(spec["template"])))
        parts.append(sql.SQL("CONNECTION LIMIT {}").format(sql.Literal(spec["connectionLimit"])))
        parts.append(sql.SQL("ALLOW_CONNECTIONS {}").format(sql.Literal(spec["allowConnections"])))
        conn.execute(
            sql.SQL("CREATE DATABASE {} {}").format(ident(spec["name"]), sql.SQL(" ").join(parts))
        )
        return oid_of(conn, "SELECT oid FROM pg_database WHERE datname = %s", spec["name"])

    def update(self, conn: Conn, spec: Spec, live: Spec) -> Mapping[str, Any] | None:
        name = ident(spec["name"])
        if "owner" in spec and spec["owner"] != live.get("owner"):
            conn.execute(
                sql.SQL("ALTER DATABASE {} OWNER TO {}").format(name, ident(spec["owner"]))
            )
        if spec["connectionLimit"] != live.get("connectionLimit"):
            conn.execute(
                sql.SQL("ALTER DATABASE {} CONNECTION LIMIT {}").format(
                    name, sql.Literal(spec["connectionLimit"])
                )
            )
        if spec["allowConnections"] != live.get("allowConnections"):
            conn.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
                    name, sql.Literal(spec["allowConnections"])
                )
            )
        return None

    def delete(self, conn: Conn, spec: Spec) -> None:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(ident(spec["name"])))


class _InDatabase:
    """An object named in one database: reached through a connection to it."""

    def normalise(self, name: str, spec: Spec) -> Spec:
        return {"name": name, **spec}

    def problems(self, spec: Spec) -> list[Problem]:
        return name_problems(spec)

    def key(self, spec: Spec) -> tuple[str, ...]:
        return (str(spec["database"]), str(spec["name"]))

    def database(self, spec: Spec) -> str | None:
        return str(spec["database"])


class SchemaOps(_InDatabase):
    info = KindInfo("Schema", schemas.SCHEMA, holds_data=True)
    _read = "SELECT n.nspname, pg_get_userbyid(n.nspowner) FROM pg_namespace n"

    def problems(self, spec: Spec) -> list[Problem]:
        name = str(spec.get("name", ""))
        if name.startswith("pg_") or name == "information_schema":
            return [(("spec", "name"), f"{name!r} is reserved by PostgreSQL")]
        return super().problems(spec)

    def refs(self, spec: Spec) -> list[Ref]:
        refs = [Ref(("database",), "Database", (spec["database"],))]
        if "owner" in spec:
            refs.append(Ref(("owner",), "Role", (spec["owner"],)))
        return refs

    def read(self, conn: Conn, specs: Sequence[Spec], managed: Sequence[bool]) -> list[Spec | None]:
        names = [str(s["name"]) for s in specs]
        rows = conn.execute(self._read + " WHERE n.nspname = ANY(%s)", [names]).fetchall()
        found = {row[0]: row[1] for row in rows}
        out: list[Spec | None] = []
        for spec in specs:
            owner = found.get(str(spec["name"]))
            live: Spec = {"name": spec["name"], "database": spec["database"], "owner": owner}
            out.append(only_keys(live, spec, ("owner",)) if owner is not None else None)
        return out

    def list(self, conn: Conn) -> list[Spec]:
        database = conn.info.dbname
        query = sql.SQL(self._read + " WHERE {} AND n.nspname <> 'public' ORDER BY 1").format(
            _SYSTEM_SCHEMAS
        )
        return [
            {"name": row[0], "database": database, "owner": row[1]}
            for row in conn.execute(query).fetchall()
        ]

    def create(self, conn: Conn, spec: Spec) -> Mapping[str, Any] | None:
        statement = sql.SQL("CREATE SCHEMA {}").format(ident(spec["name"]))
        if "owner" in spec:
            statement += sql.SQL(" AUTHORIZATION {}").format(ident(spec["owner"]))
        conn.execute(statement)
        return oid_of(conn, "SELECT oid FROM pg_namespace WHERE nspname = %s", spec["name"])

    def update(self, conn: Conn, spec: Spec, live: Spec) -> Mapping[str, Any] | None:
        if "owner" in spec and spec["owner"] != live.get("owner"):
            conn.execute(
                sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(
                    ident(spec["name"]), ident(spec["owner"])
                )
            )
        return None

    def delete(self, conn: Conn, spec: Spec) -> None:
        # RESTRICT: a schema that still holds objects is refused with PostgreSQL's message.
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {}").format(ident(spec["name"])))


class ExtensionOps(_InDatabase):
    info = KindInfo("Extension", schemas.EXTENSION)
    _read = (
        "SELECT e.extname, n.nspname, e.extversion FROM pg_extension e "
        "JOIN pg_namespace n ON n.oid = e.extnamespace"
    )

    def refs(self, spec: Spec) -> list[Ref]:
        refs = [Ref(("database",), "Database", (spec["database"],))]
        if "schema" in spec:
            refs.append(Ref(("schema",), "Schema", (spec["database"], spec["schema"])))
        return refs

    def read(self, conn: Conn, specs: Sequence[Spec], managed: Sequence[bool]) -> list[Spec | None]:
        names = [str(s["name"]) for s in specs]
        rows = conn.execute(self._read + " WHERE e.extname = ANY(%s)", [names]).fetchall()
        found = {row[0]: row for row in rows}
        out: list[Spec | None] = []
        for spec in specs:
            row = found.get(str(spec["name"]))
            if row is None:
                out.append(None)
                continue
            live = {"name": row[0], "database": spec["database"], "schema": row[1]}
            live["version"] = row[2]
            out.append(only_keys(live, spec, ("schema", "version")))
        return out

    def list(self, conn: Conn) -> list[Spec]:
        database = conn.info.dbname
        query = self._read + " WHERE e.extname <> 'plpgsql' ORDER BY 1"
        return [
            {"name": r[0], "database": database, "schema": r[1], "version": r[2]}
            for r in conn.execute(query).fetchall()
        ]

    def create(self, conn: Conn, spec: Spec) -> Mapping[str, Any] | None:
        statement = sql.SQL("CREATE EXTENSION {}").format(ident(spec["name"]))
        if "schema" in spec:
            statement += sql.SQL(" SCHEMA {}").format(ident(spec["schema"]))
        if "version" in spec:
            statement += sql.SQL(" VERSION {}").format(sql.Literal(spec["version"]))
        conn.execute(statement)
        return oid_of(conn, "SELECT oid FROM pg_extension WHERE extname = %s", spec["name"])

    def update(self, conn: Conn, spec: Spec, live: Spec) -> Mapping[str, Any] | None:
        name = ident(spec["name"])
        with conn.transaction():
            if "version" in spec and spec["version"] != live.get("version"):
                conn.execute(
                    sql.SQL("ALTER EXTENSION {} UPDATE TO {}").format(
                        name, sql.Literal(spec["version"])
                    )
                )
            if "schema" in spec and spec["schema"] != live.get("schema"):
                conn.execute(
                    sql.SQL("ALTER EXTENSION {} SET SCHEMA {}").format(name, ident(spec["schema"]))
                )
        return None

    def delete(self, conn: Conn, spec: Spec) -> None:
        conn.execute(sql.SQL("DROP EXTENSION IF EXISTS {}").format(ident(spec["name"])))
