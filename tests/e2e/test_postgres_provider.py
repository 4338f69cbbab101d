"""The postgres provider end to end: the real `gitcops` executable against a real server that
the tests start themselves (see pg_server.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from conftest import Cli, encrypt_values, files_under, new_repo, secret_ref
from pg_project import PgProject, doc, make_project, project_yaml
from pg_server import PostgresServer, postgres_binaries


@pytest.fixture
def pg(tmp_path: Path, cli: Cli, postgres: PostgresServer) -> PgProject:
    return make_project(tmp_path, cli, postgres)


def everything(p: PgProject, **role_spec: Any) -> list[dict[str, Any]]:
    app, readers, db = p.name("app"), p.name("readers"), p.name("shop")
    return [
        doc("Role", app, login=True, connectionLimit=5, **role_spec),
        doc("Role", readers),
        doc("Role", p.name("ro"), login=True, memberOf=[readers], validUntil="2031-01-01"),
        doc("Database", db, owner=app, connectionLimit=20),
        doc("Schema", p.name("billing"), database=db, owner=app),
        doc(
            "Grant",
            p.name("usage"),
            role=readers,
            database=db,
            objectType="schema",
            schema=p.name("billing"),
            privileges=["usage"],
        ),
        doc(
            "Grant",
            p.name("tables"),
            role=readers,
            database=db,
            objectType="table",
            schema=p.name("billing"),
            privileges=["select"],
        ),
        doc(
            "Grant",
            p.name("connect"),
            role=readers,
            database=db,
            objectType="database",
            privileges=["connect", "temp"],
        ),
        doc(
            "DefaultPrivileges",
            p.name("future"),
            role=readers,
            owner=app,
            database=db,
            schema=p.name("billing"),
            objectType="table",
            privileges=["SELECT"],
        ),
        doc("Extension", p.name("crypto"), name="pgcrypto", database=db, schema=p.name("billing")),
    ]


def role_row(p: PgProject, base: str) -> tuple[Any, ...]:
    rows = p.sql(
        "SELECT rolcanlogin, rolconnlimit, rolcreatedb, rolinherit, oid FROM pg_roles "
        f"WHERE rolname = '{p.name(base)}'"
    )
    return rows[0] if rows else ()


def privileges_on_schema(p: PgProject, role: str, schema: str) -> list[str]:
    rows = p.sql(
        "SELECT a.privilege_type FROM pg_namespace n, aclexplode(n.nspacl) a "
        f"WHERE n.nspname = '{p.name(schema)}' AND a.grantee = "
        f"(SELECT oid FROM pg_roles WHERE rolname = '{p.name(role)}') ORDER BY 1",
        p.name("shop"),
    )
    return [r[0] for r in rows]


def cleanup(p: PgProject) -> None:
    """Leave the shared server as found: the test's databases and roles go."""
    for (name,) in p.sql(f"SELECT datname FROM pg_database WHERE datname LIKE '{p.prefix}%'"):
        p.sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    for (name,) in p.sql(f"SELECT rolname FROM pg_roles WHERE rolname LIKE '{p.prefix}%'"):
        p.sql(f'DROP OWNED BY "{name}"')
        p.sql(f'DROP ROLE "{name}"')


@pytest.fixture
def clean(pg: PgProject) -> Iterator[PgProject]:
    yield pg
    if pg.server.running:
        cleanup(pg)


def test_creates_every_kind_and_then_plans_nothing(clean: PgProject) -> None:
    p = clean
    p.set_docs(everything(p))
    result = p.apply()
    assert "10 created" in result.output
    assert role_row(p, "app")[:4] == (True, 5, False, True)
    assert p.one(
        f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{p.name('shop')}'"
    ) == p.name("app")
    assert p.one(
        "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
        f"JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = '{p.name('ro')}'"
    ) == p.name("readers")
    assert privileges_on_schema(p, "readers", "billing") == ["USAGE"]
    assert p.one(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pgcrypto'",
        p.name("shop"),
    ) == p.name("billing")
    # A table created by the owner now gets the default privileges.
    with p.server.connect(p.name("shop")) as conn:
        conn.execute(f'SET ROLE "{p.name("app")}"')
        conn.execute(f'CREATE TABLE "{p.name("billing")}".invoices (id int)')
    assert p.one(
        f"SELECT has_table_privilege('{p.name('readers')}', "
        f"'\"{p.name('billing')}\".invoices', 'SELECT')",
        p.name("shop"),
    )
    p.plan()  # exit 0: nothing to change, the new table included


def test_updates_each_attribute_in_place(clean: PgProject) -> None:
    p = clean
    docs = everything(p)
    p.set_docs(docs)
    p.apply()
    oid_before = role_row(p, "app")[4]
    db_oid = p.one(f"SELECT oid FROM pg_database WHERE datname = '{p.name('shop')}'")
    changed = everything(p)
    changed[0]["spec"].update(login=False, connectionLimit=7, createdb=True, inherit=False)
    changed[2]["spec"].update(memberOf=[], validUntil="2032-06-01T12:00:00+02:00")
    changed[3]["spec"].update(connectionLimit=3, allowConnections=True, owner=p.name("readers"))
    changed[4]["spec"]["owner"] = p.name("readers")
    changed[5]["spec"].update(privileges=["usage", "create"], withGrantOption=True)
    changed[7]["spec"]["privileges"] = ["ALL"]
    changed[8]["spec"]["privileges"] = ["select", "insert"]
    p.set_docs(changed)
    plan = p.plan(expect=2).output
    assert "0 to create" in plan and "0 to delete" in plan and "replace" not in plan.lower()
    p.apply()
    row = role_row(p, "app")
    assert row[:4] == (False, 7, True, False)
    assert row[4] == oid_before  # altered, not dropped and created again
    assert p.one(f"SELECT oid FROM pg_database WHERE datname = '{p.name('shop')}'") == db_oid
    ro = f"(SELECT oid FROM pg_roles WHERE rolname = '{p.name('ro')}')"
    expiry = p.one(f"SELECT rolvaliduntil AT TIME ZONE 'UTC' FROM pg_roles WHERE oid = {ro}")
    assert expiry.isoformat() == "2032-06-01T10:00:00"
    assert p.one(f"SELECT count(*) FROM pg_auth_members WHERE member = {ro}") == 0
    assert p.one(f"SELECT datconnlimit FROM pg_database WHERE datname = '{p.name('shop')}'") == 3
    assert privileges_on_schema(p, "readers", "billing") == ["CREATE", "USAGE"]
    assert p.one(
        "SELECT bool_and(a.is_grantable) FROM pg_namespace n, aclexplode(n.nspacl) a "
        f"WHERE n.nspname = '{p.name('billing')}' AND a.grantee = "
        f"(SELECT oid FROM pg_roles WHERE rolname = '{p.name('readers')}')",
        p.name("shop"),
    )
    p.plan()


def test_an_encoding_change_is_a_replacement(clean: PgProject) -> None:
    p = clean
    p.set_docs([doc("Database", p.name("latin"), template="template0")])
    p.apply()
    p.set_docs([doc("Database", p.name("latin"), template="template0", encoding="latin1")])
    plan = p.plan(expect=2).output
    assert "will be replaced" in plan or "-/+" in plan, plan
    assert "LATIN1" in plan
    p.apply()
    latin = f"datname = '{p.name('latin')}'"
    assert p.one(f"SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE {latin}") == "LATIN1"
    p.plan()


def test_drift_made_with_psql_is_found_field_by_field_and_healed(clean: PgProject) -> None:
    p = clean
    p.set_docs(everything(p))
    p.apply()
    shop = p.name("shop")
    p.sql(f'ALTER ROLE "{p.name("app")}" CONNECTION LIMIT 9 CREATEROLE')
    p.sql(f'REVOKE USAGE ON SCHEMA "{p.name("billing")}" FROM "{p.name("readers")}"', shop)
    p.sql(f'GRANT CREATE ON DATABASE "{shop}" TO "{p.name("readers")}"')
    p.sql(
        f'ALTER DEFAULT PRIVILEGES FOR ROLE "{p.name("app")}" IN SCHEMA "{p.name("billing")}" '
        f'GRANT INSERT ON TABLES TO "{p.name("readers")}"',
        shop,
    )
    report = p.run("drift", "--env", "dev", expect=2).output
    assert "connectionLimit: applied 5, live 9" in report
    assert "createrole: applied false, live true" in report
    assert f"missing: postgres.gitcops.io/Grant/{p.name('usage')}" in report
    assert (
        'privileges: applied ["CONNECT", "TEMPORARY"], live ["CREATE", "CONNECT", "TEMPORARY"]'
        in report
    )
    assert 'live ["SELECT", "INSERT"]' in report
    assert "4 of 10" in report or "(4 of 10" in report
    p.apply()
    p.run("drift", "--env", "dev")
    assert role_row(p, "app")[1] == 5
    assert privileges_on_schema(p, "readers", "billing") == ["USAGE"]
    p.plan()


def test_prune_deletes_in_reverse_dependency_order(clean: PgProject) -> None:
    p = clean
    docs = everything(p)
    p.set_docs(docs)
    p.apply()
    # The schema, and what lives in it or refers to it: dependents go first.
    kept = [
        d for d in docs if d["kind"] in ("Role", "Database") or "connect" in d["metadata"]["name"]
    ]
    p.set_docs(kept)
    result = p.apply()
    assert "5 deleted" in result.output, result.output
    shop = p.name("shop")
    assert p.sql(f"SELECT 1 FROM pg_namespace WHERE nspname = '{p.name('billing')}'", shop) == []
    assert p.sql("SELECT 1 FROM pg_extension WHERE extname = 'pgcrypto'", shop) == []
    assert p.sql("SELECT 1 FROM pg_default_acl", shop) == []
    assert p.one(f"SELECT count(*) FROM pg_roles WHERE rolname LIKE '{p.prefix}%'") == 3
    p.plan()


def test_existing_objects_are_adopted_only_when_asked(clean: PgProject) -> None:
    p = clean
    legacy = p.name("legacy")
    p.sql(f'CREATE ROLE "{legacy}" LOGIN CONNECTION LIMIT 3')
    p.set_docs([doc("Role", legacy, login=True, connectionLimit=4)])
    plan = p.plan(expect=1)
    assert f"postgres.gitcops.io/Role/{legacy} will be adopted" in plan.stdout
    assert "connectionLimit: 3 -> 4" in plan.stdout or "connectionLimit" in plan.stdout
    assert f"postgres.gitcops.io/Role/{legacy} (provider postgres)" in plan.stderr
    assert "--adopt" in plan.stderr
    refused = p.apply(expect=1)
    assert "not managed by gitcops would be adopted" in refused.output
    assert role_row(p, "legacy")[1] == 3  # nothing written
    p.run("plan", "--env", "dev", "--adopt")
    p.apply("--adopt")
    assert role_row(p, "legacy")[1] == 4
    p.plan()
    # The annotation is the other way to say yes, and it travels with the document.
    other = p.name("other")
    p.sql(f'CREATE ROLE "{other}"')
    p.set_docs(
        [
            doc("Role", legacy, login=True, connectionLimit=4),
            doc("Role", other, annotations={"gitcops.io/adopt": "true"}, createdb=True),
        ]
    )
    assert "1 adopted" in p.apply().output
    assert p.one(f"SELECT rolcreatedb FROM pg_roles WHERE rolname = '{other}'") is True


def test_import_round_trip(clean: PgProject, tmp_path: Path) -> None:
    p = clean
    role, db = p.name("svc"), p.name("olddb")
    p.sql(f'CREATE ROLE "{role}" LOGIN CREATEDB CONNECTION LIMIT 2')
    p.sql(f'CREATE DATABASE "{db}" OWNER "{role}" CONNECTION LIMIT 4')
    p.sql(f'CREATE SCHEMA s1 AUTHORIZATION "{role}"', db)
    p.sql(f'ALTER DEFAULT PRIVILEGES FOR ROLE "{role}" GRANT SELECT ON TABLES TO PUBLIC', db)
    out = tmp_path / "imported.yaml"
    p.run(
        "import",
        "--env",
        "dev",
        f"postgres.gitcops.io/Role/{role}",
        f"postgres.gitcops.io/Database/{db}",
        f"postgres.gitcops.io/Schema/{db}.s1",
        "--out",
        str(out),
    )
    listed = p.run("import", "--env", "dev", "--all", "DefaultPrivileges").stdout
    docs = list(yaml.safe_load_all(out.read_text()))
    docs += [d for d in yaml.safe_load_all(listed) if d["spec"]["database"] == db]
    by_kind = {d["kind"]: d for d in docs}
    assert by_kind["Role"]["spec"]["connectionLimit"] == 2
    assert by_kind["Role"]["spec"]["createdb"] is True
    assert by_kind["Database"]["spec"]["owner"] == role
    assert by_kind["Schema"]["spec"] == {"name": "s1", "database": db, "owner": role}
    assert by_kind["DefaultPrivileges"]["spec"]["role"] == "public"
    assert all(d["metadata"]["annotations"]["gitcops.io/adopt"] == "true" for d in docs)
    # Importing wrote nothing: the objects are not managed until the commit is applied.
    assert not p.cli.state.exists()
    p.set_docs(docs, "import")
    result = p.apply()
    assert "4 adopted" in result.output, result.output
    assert "configured" not in result.output  # the documents say what is there
    p.plan()


def test_a_secret_password_never_appears_anywhere(
    tmp_path: Path, keyed: tuple[Cli, str], postgres: PostgresServer
) -> None:
    cli, recipient = keyed
    p = make_project(tmp_path, cli, postgres)
    secret, rotated = "Pa55-first-" + p.prefix, "Pa55-second-" + p.prefix
    app = p.name("app")
    # The server trusts loopback: this role must give its password. Every statement is logged.
    hba = postgres.data_dir / "pg_hba.conf"
    rules = hba.read_text()
    hba.write_text(f"host all {app} 127.0.0.1/32 scram-sha-256\n{rules}")
    postgres.psql("ALTER SYSTEM SET log_statement = 'all'")
    postgres.psql("SELECT pg_reload_conf()")
    try:
        encrypt_values(cli, p.repo, "secrets/pg.sops.yaml", {"app": secret}, recipient)
        role = doc("Role", app, login=True, password=secret_ref("../secrets/pg.sops.yaml", "app"))
        p.set_docs([role])
        outputs = [p.plan(expect=2), p.apply(), p.plan(), p.run("drift", "--env", "dev")]
        with psycopg.connect(postgres.dsn(user=app, password=secret)) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (app,)
        encrypt_values(cli, p.repo, "secrets/pg.sops.yaml", {"app": rotated}, recipient)
        p.repo.commit("rotate")
        plan = p.plan(expect=2)
        assert "password: (sensitive value changed)" in plan.stdout
        outputs += [plan, p.apply(), p.plan(), p.run("history", "--env", "dev")]
        outputs.append(p.run("plan", "--env", "dev", "-o", "json"))
        with psycopg.connect(postgres.dsn(user=app, password=rotated)):
            pass
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(postgres.dsn(user=app, password=secret)).close()
        # A plain-text password is refused before anything is read or written.
        p.set_docs([doc("Role", p.name("plain"), password="hunter2-" + p.prefix)])
        refused = p.run("validate", expect=1)
        assert "spec.password: must come from a secret" in refused.output
        assert "hunter2" not in refused.output
        outputs.append(refused)
    finally:
        hba.write_text(rules)
        postgres.psql("ALTER SYSTEM RESET log_statement")
        postgres.psql("SELECT pg_reload_conf()")
        cleanup(p)
    for text in [r.output for r in outputs]:
        assert secret not in text and rotated not in text
    stored = files_under(cli.state.parent, tmp_path / "cache", tmp_path / "xdg-state")
    for path in stored:
        data = path.read_bytes()
        assert secret.encode() not in data and rotated.encode() not in data, path
    # The server never saw the plain text either: only a SCRAM verifier.
    log = postgres.log_path.read_text(errors="replace")
    assert "ALTER ROLE" in log or "CREATE ROLE" in log
    assert secret not in log and rotated not in log
    assert "SCRAM-SHA-256$" in log


def test_two_servers_in_one_environment(tmp_path: Path, cli: Cli, postgres: PostgresServer) -> None:
    binaries = postgres_binaries()
    assert binaries is not None
    with PostgresServer(binaries) as second:
        p = make_project(tmp_path, cli, postgres, {"pg-main": postgres, "pg-reports": second})
        main, reports = p.name("main"), p.name("reports")
        on_reports = {"gitcops.io/provider": "pg-reports"}
        missing = [doc("Role", main)]
        p.set_docs(missing)
        ambiguous = p.run("validate", expect=1).output
        assert "several instances of provider postgres (pg-main, pg-reports)" in ambiguous
        p.set_docs(
            [
                doc("Role", main, annotations={"gitcops.io/provider": "pg-main"}, login=True),
                doc("Role", reports, annotations=on_reports, login=True),
                doc("Database", reports, annotations=on_reports, owner=reports),
            ]
        )
        p.apply()
        assert p.one(f"SELECT count(*) FROM pg_roles WHERE rolname = '{main}'") == 1
        assert p.one(f"SELECT count(*) FROM pg_roles WHERE rolname = '{reports}'") == 0
        assert second.psql(f"SELECT count(*) FROM pg_roles WHERE rolname = '{reports}'")[0][0] == 1
        assert (
            second.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{reports}'")[0][0] == 1
        )
        p.plan()
        second.psql(f'ALTER ROLE "{reports}" NOLOGIN')
        assert f"Role/{reports}" in p.run("drift", "--env", "dev", expect=2).output
        p.set_docs([])
        p.apply()
        assert second.psql(f"SELECT count(*) FROM pg_roles WHERE rolname = '{reports}'")[0][0] == 0
        cleanup(p)


def test_a_server_restarted_mid_apply_is_retried(clean: PgProject) -> None:
    """CREATE DATABASE waits while its template has a session; the server restarts meanwhile,
    dropping gitcops' connection: the executor retries, and the run succeeds."""
    p = clean
    template = p.name("tmpl")
    p.sql(f'CREATE DATABASE "{template}"')
    blocker = p.server.connect(template)
    p.set_docs([doc("Role", p.name("first")), doc("Database", p.name("copy"), template=template)])
    restarted = threading.Event()

    def restart_when_waiting() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            waiting = p.sql(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'gitcops' "
                "AND query LIKE 'CREATE DATABASE%'"
            )[0][0]
            if waiting:
                p.server.restart()
                restarted.set()
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=restart_when_waiting)
    watcher.start()
    try:
        result = p.apply()
    finally:
        watcher.join()
        blocker.close()
    assert restarted.is_set()
    assert "2 created" in result.output, result.output
    assert p.one(f"SELECT count(*) FROM pg_database WHERE datname = '{p.name('copy')}'") == 1
    p.plan()


def test_a_terminal_error_is_reported_at_once_with_postgres_message(clean: PgProject) -> None:
    p = clean
    owner = p.name("owner")
    p.set_docs([doc("Role", owner), doc("Schema", p.name("s"), database="postgres", owner=owner)])
    p.apply()
    p.sql(f'CREATE TABLE "{p.name("s")}".keep (x int)')
    p.set_docs([doc("Role", owner)])
    started = time.monotonic()
    failed = p.apply(expect=1)
    assert time.monotonic() - started < 20
    assert "cannot drop schema" in failed.output and "other objects depend on it" in failed.output
    assert "attempts" not in failed.output  # not retried
    p.sql(f'DROP TABLE "{p.name("s")}".keep')
    p.apply()


def test_validate_never_contacts_the_server(tmp_path: Path, cli: Cli) -> None:
    """CI without credentials: the provider points at a port nobody listens on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "repo"
    settings = (
        f"    postgres: {{host: 127.0.0.1, port: {port}, user: nobody, password: {{env: PGPW}}}}"
    )
    repo = new_repo(path, project_yaml({}).rstrip("\n") + f"\n{settings}\n")
    repo.write("env/resources.yaml", yaml.safe_dump(doc("Role", "app", login=True)))
    repo.commit("init")
    # Without the credential (CI has none), validate checks everything else all the same.
    assert "1 resources rendered and checked" in cli("validate", repo=path).output
    unset = cli("plan", "--env", "dev", repo=path, expect=1).output
    assert "spec.providers.postgres.password.env: environment variable 'PGPW' is not set" in unset
    cli.env["PGPW"] = "not-used"
    assert "1 resources rendered and checked" in cli("validate", repo=path).output
    down = cli("plan", "--env", "dev", repo=path, expect=1).output
    assert "connection" in down.lower() and "not-used" not in down


def test_the_provider_logs_in_with_a_password_from_a_secret(
    tmp_path: Path, keyed: tuple[Cli, str], postgres: PostgresServer
) -> None:
    cli, recipient = keyed
    p = make_project(tmp_path, cli, postgres)
    deployer, password = p.name("deployer"), f"deploy-{p.prefix}-pw"
    p.sql(f"CREATE ROLE \"{deployer}\" LOGIN CREATEROLE PASSWORD '{password}'")
    hba = postgres.data_dir / "pg_hba.conf"
    rules = hba.read_text()
    hba.write_text(f"host all {deployer} 127.0.0.1/32 scram-sha-256\n{rules}")
    postgres.psql("SELECT pg_reload_conf()")
    try:
        encrypt_values(cli, p.repo, "secrets/admin.sops.yaml", {"pg": {"pw": password}}, recipient)
        p.repo.write(
            "gitcops.yaml",
            project_yaml({}).rstrip("\n")
            + f"\n    postgres: {{host: {postgres.host}, port: {postgres.port}, "
            + f"user: {deployer}, password: {{secretRef: {{file: secrets/admin.sops.yaml, "
            + "key: pg.pw}}}\n",
        )
        p.set_docs([doc("Role", p.name("made"), login=True)])
        outputs = [p.apply(), p.plan()]
        assert p.one(f"SELECT rolcanlogin FROM pg_roles WHERE rolname = '{p.name('made')}'")
        # The wrong password is a terminal error, named as PostgreSQL names it.
        encrypt_values(cli, p.repo, "secrets/admin.sops.yaml", {"pg": {"pw": "wrong"}}, recipient)
        p.repo.commit("wrong password")
        refused = p.plan(expect=1)
        assert "password authentication failed" in refused.output
        p.set_docs([doc("Role", p.name("made"), login=True), doc("Role", p.name("more"))])
        not_retried = p.apply(expect=1)
        assert "password authentication failed" in not_retried.output
        assert "attempts" not in not_retried.output
        outputs += [refused, not_retried]
    finally:
        hba.write_text(rules)
        postgres.psql("SELECT pg_reload_conf()")
        cleanup(p)
    for result in outputs:
        assert password not in result.output


def test_preflight_names_what_is_missing(clean: PgProject) -> None:
    p = clean
    p.set_docs(
        [
            doc("Database", p.name("db"), owner=p.name("nobody")),
            doc(
                "Grant",
                p.name("g"),
                role=p.name("ghost"),
                database="postgres",
                objectType="database",
                privileges=["connect"],
            ),
        ]
    )
    p.run("validate")  # offline: fine
    failed = p.plan(expect=1).output
    assert f"field spec.owner: role '{p.name('nobody')}' does not exist" in failed
    assert f"field spec.role: role '{p.name('ghost')}' does not exist" in failed
    assert p.sql(f"SELECT 1 FROM pg_database WHERE datname = '{p.name('db')}'") == []


def test_a_policy_can_forbid_replacements(clean: PgProject) -> None:
    p = clean
    p.repo.write(
        "policies/plan.rego",
        """package plan

import rego.v1

deny contains msg if {
    some change in input.changes
    change.action == "replace"
    msg := sprintf("%s would be dropped and created again", [change.id])
}
""",
    )
    p.set_docs([doc("Database", p.name("keep"), template="template0")])
    p.apply()
    p.set_docs([doc("Database", p.name("keep"), template="template0", encoding="SQL_ASCII")])
    refused = p.plan(expect=1).output
    assert f"postgres.gitcops.io/Database/{p.name('keep')} would be dropped and created" in refused
    assert "encoding cannot change in place" in refused
    p.apply(expect=1)
    keep = f"datname = '{p.name('keep')}'"
    assert p.one(f"SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE {keep}") == "UTF8"


def test_tables_added_after_a_grant_on_all_tables_show_as_an_update(clean: PgProject) -> None:
    p = clean
    reader, schema = p.name("reader"), p.name("s")
    p.set_docs(
        [
            doc("Role", reader),
            doc("Schema", schema, database="postgres"),
            doc(
                "Grant",
                p.name("g"),
                role=reader,
                database="postgres",
                objectType="table",
                schema=schema,
                privileges=["select"],
            ),
        ]
    )
    p.apply()  # an empty schema: the grant holds vacuously
    p.sql(f'CREATE TABLE "{schema}".a (x int)')
    p.apply()  # now on table a
    p.sql(f'CREATE TABLE "{schema}".b (x int)')
    plan = p.plan(expect=2).output
    assert f"postgres.gitcops.io/Grant/{p.name('g')} will be updated in place" in plan
    assert 'privileges: [] -> ["SELECT"]' in plan
    p.apply()
    assert p.one(f"SELECT has_table_privilege('{reader}', '\"{schema}\".b', 'SELECT')")
    p.sql(f'DROP TABLE "{schema}".a, "{schema}".b')
    p.plan()


def test_a_dsn_with_its_own_options_and_a_literal_password_refused(
    tmp_path: Path, cli: Cli, postgres: PostgresServer
) -> None:
    p = make_project(tmp_path, cli, postgres)
    dsn = (
        f"host={postgres.host} port={postgres.port} user={postgres.user} "
        "application_name=ops options='-c statement_timeout=5000'"
    )
    p.repo.write(
        "gitcops.yaml", project_yaml({}).rstrip("\n") + f'\n    postgres: {{dsn: "{dsn}"}}\n'
    )
    p.set_docs([doc("Role", p.name("via-dsn"), validUntil="2030-01-01T00:00:00+05:00")])
    try:
        p.apply()
        p.plan()  # read back in UTC whatever the dsn's options
        p.repo.write(
            "gitcops.yaml",
            project_yaml({}).rstrip("\n")
            + f'\n    postgres: {{dsn: "{dsn}", password: hunter2}}\n',
        )
        p.repo.commit("plain password")
        refused = p.run("validate", expect=1).output
        assert (
            "spec.providers.postgres.password: a credential is never written in plain text"
            in refused
        )
        assert "hunter2" not in refused
    finally:
        cleanup(p)


def test_adopting_an_object_that_must_be_replaced_is_refused_too(clean: PgProject) -> None:
    p = clean
    db = p.name("latin")
    p.sql(f"CREATE DATABASE \"{db}\" TEMPLATE template0 ENCODING 'LATIN1'")
    p.set_docs([doc("Database", db)])
    plan = p.plan(expect=1)
    assert "will be replaced" in plan.stdout and "encoding cannot change in place" in plan.stdout
    assert f"postgres.gitcops.io/Database/{db} (provider postgres)" in plan.stderr
    p.apply(expect=1)
    assert (
        p.one(f"SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = '{db}'")
        == "LATIN1"
    )
    p.apply("--adopt")
    assert (
        p.one(f"SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = '{db}'")
        == "UTF8"
    )
    p.plan()


def test_default_privileges_equal_to_the_builtin_ones_read_back(clean: PgProject) -> None:
    """PUBLIC may execute new functions by default: PostgreSQL stores no entry for it."""
    p = clean
    owner = p.name("owner")
    p.set_docs(
        [
            doc("Role", owner),
            doc(
                "DefaultPrivileges",
                p.name("exec"),
                role="public",
                owner=owner,
                database="postgres",
                objectType="function",
                privileges=["execute"],
            ),
        ]
    )
    assert "2 created" in p.apply().output
    p.plan()
    p.sql(f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC')
    assert (
        f"missing: postgres.gitcops.io/DefaultPrivileges/{p.name('exec')}"
        in p.run("drift", "--env", "dev", expect=2).output
    )
    p.apply()
    p.plan()
