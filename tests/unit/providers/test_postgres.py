"""The postgres provider's offline parts: settings, normalisation, addresses, edges, errors.
Nothing here connects to a server (validate must work without one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors as pgerrors

from gitcops.model.errors import ProviderError, TransientProviderError
from gitcops.model.identity import ResourceId
from gitcops.providers.base import (
    Declared,
    PrepareRequest,
    ProviderConfigError,
    ProviderContext,
    ValidateRequest,
)
from gitcops.providers.postgres.connection import classify, settings_to_params
from gitcops.providers.postgres.privileges import privileges
from gitcops.providers.postgres.provider import PostgresProvider
from gitcops.providers.postgres.roles import valid_until

GROUP = "postgres.gitcops.io"


def provider(**config: Any) -> PostgresProvider:
    return PostgresProvider(ProviderContext(config or {"host": "db"}, Path("."), "pg"))


def prepare(p: PostgresProvider, kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return p.prepare(PrepareRequest(ResourceId(GROUP, kind, name), spec, lambda _: b""))


def test_settings_are_checked_with_their_paths() -> None:
    with pytest.raises(ProviderConfigError) as caught:
        PostgresProvider(
            ProviderContext({"host": "db", "port": "x", "sslmod": "require"}, Path("."), "pg")
        )
    assert sorted(caught.value.problems) == [
        (("port",), "'x' is not of type 'integer'"),
        (("sslmod",), "unknown field"),
    ]
    with pytest.raises(ProviderConfigError, match="dsn: not a libpq connection string"):
        provider(dsn="host=db port")


def test_the_dsn_is_overridden_by_the_other_settings() -> None:
    params = settings_to_params(
        {"dsn": "postgresql://admin@old:5433/app?sslmode=require", "host": "new", "password": "p"}
    )
    assert params["host"] == "new"
    assert params["port"] == "5433"
    assert params["user"] == "admin"
    assert params["password"] == "p"
    assert params["dbname"] == "app"
    assert params["sslmode"] == "require"


def test_constructing_never_connects() -> None:
    made = provider(host="192.0.2.1", port=1)  # TEST-NET: nothing answers there
    assert made.address(ResourceId(GROUP, "Role", "app"), {"name": "app"}) == (
        "postgres://192.0.2.1:1/Role/app"
    )


def test_a_role_is_normalised_to_the_catalog_spelling() -> None:
    spec = prepare(provider(), "Role", "app", {"memberOf": ["b", "a"], "validUntil": None})
    assert spec == {
        "name": "app",
        "login": False,
        "superuser": False,
        "createdb": False,
        "createrole": False,
        "inherit": True,
        "replication": False,
        "bypassRls": False,
        "connectionLimit": -1,
        "memberOf": ["a", "b"],
        "validUntil": "infinity",
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2030-01-01", "2030-01-01T00:00:00Z"),
        ("2030-01-01T02:00:00+02:00", "2030-01-01T00:00:00Z"),
        ("2030-01-01 00:00:00Z", "2030-01-01T00:00:00Z"),
        ("Infinity", "infinity"),
    ],
)
def test_expiry_times_have_one_spelling(given: str, expected: str) -> None:
    assert valid_until(given) == expected


def test_privileges_are_upper_case_in_catalog_order_and_all_expands() -> None:
    assert privileges("database", ["temp", "connect"]) == ["CONNECT", "TEMPORARY"]
    assert privileges("schema", ["ALL"]) == ["CREATE", "USAGE"]
    assert privileges("table", ["select", "Select", "insert"]) == ["SELECT", "INSERT"]


def test_offline_checks_name_the_field() -> None:
    p = provider()
    grant = {
        "role": "r",
        "database": "d",
        "objectType": "schema",
        "schema": "s",
        "privileges": ["select"],
    }
    problems = p.validate(ValidateRequest(ResourceId(GROUP, "Grant", "g"), grant)).problems
    assert problems == [
        (("spec", "privileges"), "not privileges of a schema: select (known: CREATE, USAGE, ALL)")
    ]
    role = p.validate(ValidateRequest(ResourceId(GROUP, "Role", "x"), {"name": "pg_admin"}))
    assert role.problems == [(("spec", "name"), "'pg_admin' is reserved by PostgreSQL")]


def test_implicit_edges_follow_names_within_the_instance() -> None:
    p = provider()

    def declared(kind: str, name: str, spec: dict[str, Any]) -> Declared:
        return Declared(ResourceId(GROUP, kind, name), prepare(p, kind, name, spec))

    resources = [
        declared("Role", "owner", {}),
        declared("Role", "reader", {"memberOf": ["owner"]}),
        declared("Database", "shop", {"owner": "owner"}),
        declared("Schema", "billing", {"database": "shop", "owner": "owner"}),
        declared(
            "Grant",
            "g",
            {
                "role": "reader",
                "database": "shop",
                "objectType": "table",
                "schema": "billing",
                "privileges": ["select"],
            },
        ),
        declared("Extension", "x", {"name": "pgcrypto", "database": "shop", "schema": "billing"}),
    ]
    edges = {(e.dependent.name, e.dependency.name) for e in p.implicit_edges(resources)}
    assert edges == {
        ("reader", "owner"),
        ("shop", "owner"),
        ("billing", "shop"),
        ("billing", "owner"),
        ("g", "reader"),
        ("g", "shop"),
        ("g", "billing"),
        ("x", "shop"),
        ("x", "billing"),
    }


def _error(cls: type[psycopg.Error], sqlstate: str | None) -> psycopg.Error:
    exc = cls("boom")
    exc.sqlstate = sqlstate  # type: ignore[misc]
    return exc


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (_error(psycopg.OperationalError, None), True),  # refused, reset, timed out
        (_error(pgerrors.AdminShutdown, "57P01"), True),
        (_error(pgerrors.SerializationFailure, "40001"), True),
        (_error(pgerrors.ObjectInUse, "55006"), True),
        (_error(pgerrors.InsufficientPrivilege, "42501"), False),
        (_error(psycopg.OperationalError, "28P01"), False),  # a wrong password
        (_error(pgerrors.DependentObjectsStillExist, "2BP01"), False),
    ],
)
def test_errors_are_told_apart(error: psycopg.Error, transient: bool) -> None:
    made = classify(error, "creating x")
    assert isinstance(made, ProviderError)
    assert isinstance(made, TransientProviderError) is transient
    assert made.args[0].startswith("creating x: ")


def test_an_unknown_privilege_is_reported_not_dropped() -> None:
    p = provider()
    spec = prepare(
        p,
        "Grant",
        "g",
        {
            "role": "r",
            "database": "d",
            "objectType": "table",
            "schema": "s",
            "privileges": ["select", "slect"],
        },
    )
    assert spec["privileges"] == ["SELECT", "SLECT"]
    problems = p.validate(ValidateRequest(ResourceId(GROUP, "Grant", "g"), spec)).problems
    assert [path for path, _ in problems] == [("spec", "privileges")]
    assert "SLECT" in problems[0][1]


def test_a_bad_expiry_is_reported_at_its_field() -> None:
    from gitcops.providers.base import PrepareError

    with pytest.raises(PrepareError) as caught:
        prepare(provider(), "Role", "app", {"validUntil": "next tuesday"})
    assert caught.value.path == ("spec", "validUntil")


def test_a_name_postgres_would_cut_is_refused() -> None:
    p = provider()
    spec = prepare(p, "Database", "d" * 64, {})
    problems = p.validate(ValidateRequest(ResourceId(GROUP, "Database", "d" * 64), spec)).problems
    assert problems == [(("spec", "name"), f"{'d' * 64!r} is longer than PostgreSQL's 63 bytes")]


def test_a_password_inside_the_dsn_is_refused_without_quoting_it() -> None:
    with pytest.raises(ProviderConfigError) as caught:
        provider(dsn="host=db user=admin password=hunter2")
    assert "dsn: holds a password" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ProviderConfigError) as bad:
        provider(dsn="host=db password=hunter2 port")
    assert "hunter2" not in str(bad.value)


def test_a_refused_login_is_terminal() -> None:
    from gitcops.providers.postgres.connection import _Refused

    made = classify(_Refused('password authentication failed for user "x"'), "reading")
    assert not isinstance(made, TransientProviderError)
