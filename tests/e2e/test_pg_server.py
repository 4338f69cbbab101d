"""The tests' own PostgreSQL server (pg_server.py) and its fixtures, against a real server."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from pg_server import PostgresServer, postgres_binaries


def test_server_answers(postgres: PostgresServer) -> None:
    [(version,)] = postgres.psql("select version()")
    assert version.startswith("PostgreSQL ")
    assert postgres.host == "127.0.0.1"
    assert f"port={postgres.port}" in postgres.dsn()


def test_connects_as_the_superuser_over_tcp(postgres: PostgresServer) -> None:
    with postgres.connect() as conn:
        row = conn.execute(
            "select current_user, usesuper, inet_server_addr()::text, inet_server_port()"
            " from pg_user where usename = current_user"
        ).fetchone()
    assert row == ("gitcops_admin", True, "127.0.0.1/32", postgres.port)


def test_created_role_and_database_are_visible(postgres: PostgresServer, postgres_db: str) -> None:
    role = f"reader_{postgres_db}"
    postgres.psql(f'create role "{role}" login')
    try:
        databases = postgres.psql("select datname from pg_database")
        assert (postgres_db,) in databases
        with postgres.connect(postgres_db, user=role) as conn:
            row = conn.execute("select current_user, current_database()").fetchone()
        assert row == (role, postgres_db)
    finally:
        postgres.psql(f'drop role "{role}"')


def test_restart_keeps_data_and_port(postgres: PostgresServer, postgres_db: str) -> None:
    postgres.psql("create table kept (n int)", postgres_db)
    postgres.psql("insert into kept values (1), (2)", postgres_db)
    port = postgres.port
    postgres.restart()
    assert postgres.port == port
    assert postgres.psql("select n from kept order by n", postgres_db) == [(1,), (2,)]


def test_a_connection_dies_with_the_server_and_a_new_one_works_after(
    postgres: PostgresServer, postgres_db: str
) -> None:
    conn = postgres.connect(postgres_db)
    try:
        conn.execute("select 1")
        postgres.kill()
        assert not postgres.running
        with pytest.raises(psycopg.OperationalError):
            conn.execute("select 1")
        with pytest.raises(psycopg.OperationalError):
            postgres.connect(postgres_db, connect_timeout=2)
    finally:
        conn.close()
        postgres.start_again()
    assert postgres.psql("select 1", postgres_db) == [(1,)]


def test_stop_removes_everything_and_is_idempotent(postgres: PostgresServer) -> None:
    # A server of its own (the session's must stay up); `postgres` brings the skip-or-fail rule.
    with PostgresServer(postgres_binaries()) as server:
        root = server.data_dir.parent
        port = server.port
        assert server.psql("select 1") == [(1,)]
        server.stop()
        server.stop()
    assert not root.exists()
    assert not server.running
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"host=127.0.0.1 port={port} user=gitcops_admin", connect_timeout=2)


def test_binaries_come_from_the_environment_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GITCOPS_PG_BIN", str(tmp_path))
    assert postgres_binaries() == tmp_path
    monkeypatch.delenv("GITCOPS_PG_BIN")
    found = postgres_binaries()
    if found is None:
        pytest.skip("PostgreSQL server binaries not found")
    assert all((found / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres"))
