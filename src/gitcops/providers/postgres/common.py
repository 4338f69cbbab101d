"""What every kind of the postgres provider shares: the shape of its operations, names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import psycopg
from psycopg import sql

from gitcops.providers.base import KindInfo, Spec

Conn = psycopg.Connection[Any]
Problem = tuple[tuple[str | int, ...], str]


class Ref(NamedTuple):
    """Another object a spec names: an ordering edge when it is declared too, and a preflight
    check (does it exist?) when it is not."""

    path: tuple[str | int, ...]  # the field naming it, from the spec
    kind: str
    key: tuple[str, ...]  # as `Ops.key` gives it for that kind


class Ops(Protocol):
    """One kind's catalog reads and DDL. Every identifier and literal goes through psycopg's
    sql module or parameters."""

    info: KindInfo

    def normalise(self, name: str, spec: Spec) -> Spec:
        """The spec with its defaults filled in and values in the catalog's spelling."""
        ...

    def problems(self, spec: Spec) -> list[Problem]:
        """Offline checks beyond the schema."""
        ...

    def key(self, spec: Spec) -> tuple[str, ...]:
        """What names the object on its server (its address, less the server)."""
        ...

    def database(self, spec: Spec) -> str | None:
        """The database it lives in; None: the server's (roles, databases)."""
        ...

    def refs(self, spec: Spec) -> list[Ref]: ...

    def read(self, conn: Conn, specs: Sequence[Spec], managed: Sequence[bool]) -> list[Spec | None]:
        """Every spec's live state in one catalog query (all in one database); `managed[i]`:
        gitcops applied spec i before (some kinds read an object differently then)."""
        ...

    def create(self, conn: Conn, spec: Spec) -> Mapping[str, Any] | None: ...

    def update(self, conn: Conn, spec: Spec, live: Spec) -> Mapping[str, Any] | None: ...

    def delete(self, conn: Conn, spec: Spec) -> None: ...

    def list(self, conn: Conn) -> list[Spec]:
        """Every object of the kind in the connection's database (or server)."""
        ...


def ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def grantee(role: str) -> sql.Composable:
    """PUBLIC is a keyword, not a role."""
    return sql.SQL("PUBLIC") if role.lower() == "public" else sql.Identifier(role)


def oid_of(conn: Conn, query: str, name: str) -> Mapping[str, Any] | None:
    """The provider state of an object just made: its oid, by `query` on its name."""
    row = conn.execute(query, [name]).fetchone()
    return {"oid": int(row[0])} if row else None


def name_problems(spec: Spec) -> list[Problem]:
    """PostgreSQL cuts identifiers at 63 bytes: a longer name would never be found again."""
    name = str(spec.get("name", ""))
    if len(name.encode()) > 63:
        return [(("spec", "name"), f"{name!r} is longer than PostgreSQL's 63 bytes")]
    return []


def only_keys(live: Spec, spec: Spec, optional: Sequence[str]) -> Spec:
    """Fields the desired spec leaves out are not managed: the live value is not reported."""
    return {k: v for k, v in live.items() if k not in optional or k in spec}
