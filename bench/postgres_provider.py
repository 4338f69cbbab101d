"""Plan and apply of the PostgreSQL provider against a local server, and its no-op plan.

    .venv/bin/python bench/postgres_provider.py [--roles 200 --schemas 50 --grants 500 --repeat 5]

A throwaway server (tests/e2e/pg_server.py: initdb on a free loopback port, fsync off) and a
project in a temporary Git repository: ROLES roles, one database `shop`, SCHEMAS schemas in it
and GRANTS grants, a mix of database CONNECT, schema USAGE and SELECT on all tables of a schema,
each (role, object type, schema) once. After the first apply a few tables are created by hand
in some schemas (so that the ALL TABLES reads do real work) and a second apply grants on them.

Timed, each one whole `gitcops` process (interpreter start-up included, see compare.py's
run_measured): the first plan (everything to create), the apply that creates it all, the apply
after the tables appeared, the no-op plan (`--repeat` runs on a warm cache after one untimed
warm-up, and one run on a new, empty cache), and the plan after one grant was changed by hand
with psql (it must show exactly one update), then the apply that puts it back. Every plan runs
with `--detailed-exitcode` (a no-op plan must exit 0) and `--timings`, whose 'read live' stage
(preflight, the state's inventory, every catalog read) is reported. Target (issue 13): the
warm no-op plan's median < 0.5 s (the cold one is shown against it too, for information).

What gitcops applied is also checked in the catalog with psql (roles, schemas, and the ACL
entries each kind of grant should have made). gitcops runs with its bytecode in a directory of
its own (PYTHONPYCACHEPREFIX; PYTHONDONTWRITEBYTECODE unset), filled by an untimed plan first,
so that no timed run compiles modules, whatever state the checkout's __pycache__ is in. Its
caches are keyed by the mtimes of gitcops' own files: editing src/ during a run turns "warm"
runs cold, which the table's "rendered" column reports (runs that missed the desired cache).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from compare import REPO_ROOT, Command, Run, run_measured

sys.path.insert(0, str(REPO_ROOT / "tests" / "e2e"))
from pg_server import PostgresServer, postgres_binaries

GITCOPS = REPO_ROOT / ".venv" / "bin" / "gitcops"
TARGET_S = 0.5
DATABASE = "shop"
_READ_LIVE = re.compile(r"^timing read live: ([0-9.]+) ms$", re.MULTILINE)
_PLAN_LINE = re.compile(
    r"^Plan: (?P<create>\d+) to create, (?:(?P<adopt>\d+) to adopt, )?(?P<update>\d+) to "
    r"update, (?P<delete>\d+) to delete, (?P<noop>\d+) unchanged",
    re.MULTILINE,
)
_CACHED = re.compile(r"^timing desired \(cached\):", re.MULTILINE)
_NO_CHANGES = re.compile(r"^No changes\. .*: (?P<noop>\d+) resources up to date", re.MULTILINE)


@dataclass(frozen=True)
class Workload:
    roles: int
    schemas: int
    grants: int
    table_schemas: int  # the first ones get tables, after the first apply
    tables: int  # per such schema
    seed: int

    def grant_specs(self) -> list[dict[str, str]]:
        """CONNECT for a fifth (at most one per role), the rest half USAGE on a schema, half
        SELECT on all its tables; (role, schema) pairs drawn without replacement per type."""
        connect = min(self.roles, self.grants // 5)
        usage = (self.grants - connect + 1) // 2
        select = self.grants - connect - usage
        if max(usage, select) > self.roles * self.schemas:
            raise SystemExit(f"{self.grants} grants need more than {self.roles} x {self.schemas}")
        rng = random.Random(self.seed)
        specs = [
            {"role": f"app-{i}", "objectType": "database", "privileges": "connect"}
            for i in range(connect)
        ]
        for object_type, privilege, count in (
            ("schema", "usage", usage),
            ("table", "select", select),
        ):
            for pair in sorted(rng.sample(range(self.roles * self.schemas), count)):
                role, schema = divmod(pair, self.schemas)
                specs.append(
                    {
                        "role": f"app-{role}",
                        "objectType": object_type,
                        "schema": f"s_{schema}",
                        "privileges": privilege,
                    }
                )
        return specs

    @property
    def documents(self) -> int:
        return self.roles + 1 + self.schemas + self.grants


# -- the project --------------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> None:
    identity = ("-c", "user.name=bench", "-c", "user.email=bench@example.invalid")
    subprocess.run(
        ("git", *identity, "-c", "commit.gpgsign=false", *args),
        cwd=repo, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def write_project(repo: Path, workload: Workload, server: PostgresServer) -> None:
    env = repo / "env"
    env.mkdir(parents=True)
    (repo / "gitcops.yaml").write_text(
        "apiVersion: gitcops.io/v1\n"
        "kind: Project\n"
        "metadata: {name: pgbench}\n"
        "spec:\n"
        "  environments:\n"
        "    - name: dev\n"
        "      path: env\n"
        "  providers:\n"
        f"    postgres: {{host: {server.host}, port: {server.port}, user: {server.user}}}\n"
    )
    head = "apiVersion: postgres.gitcops.io/v1\n"
    roles = [
        f"{head}kind: Role\nmetadata: {{name: app-{i}}}\n"
        "spec: {login: true, connectionLimit: 5}\n"
        for i in range(workload.roles)
    ]
    databases = [f"{head}kind: Database\nmetadata: {{name: {DATABASE}}}\nspec: {{}}\n"]
    schemas = [
        f"{head}kind: Schema\nmetadata: {{name: s-{i}}}\n"
        f"spec: {{name: s_{i}, database: {DATABASE}}}\n"
        for i in range(workload.schemas)
    ]
    grants = []
    for i, g in enumerate(workload.grant_specs()):
        schema = f", schema: {g['schema']}" if "schema" in g else ""
        grants.append(
            f"{head}kind: Grant\nmetadata: {{name: g-{i}}}\n"
            f"spec: {{role: {g['role']}, database: {DATABASE}, objectType: {g['objectType']}"
            f"{schema}, privileges: [{g['privileges']}]}}\n"
        )
    files = {"roles.yaml": roles, "databases.yaml": databases, "schemas.yaml": schemas}
    files["grants.yaml"] = grants
    for name, docs in files.items():
        (env / name).write_text("---\n".join(docs))
    (env / "kustomization.yaml").write_text(
        "resources:\n" + "".join(f"  - {name}\n" for name in files)
    )
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "pgbench")


def create_tables(server: PostgresServer, workload: Workload) -> int:
    statements = [
        f"CREATE TABLE s_{s}.t_{t} (id bigint PRIMARY KEY, body text)"
        for s in range(min(workload.table_schemas, workload.schemas))
        for t in range(workload.tables)
    ]
    if statements:
        server.psql("; ".join(statements), database=DATABASE)
    return len(statements)


def check_catalog(server: PostgresServer, workload: Workload) -> None:
    """What gitcops applied, as PostgreSQL's catalog has it (after the tables were added)."""
    grants = workload.grant_specs()
    with_tables = {f"s_{s}" for s in range(min(workload.table_schemas, workload.schemas))}
    acl = (
        "SELECT count(*) FROM {table} o, aclexplode(o.{column}) a "
        "JOIN pg_roles r ON r.oid = a.grantee "
        "WHERE r.rolname LIKE 'app-%%' AND a.privilege_type = %s AND {where}"
    )
    queries = {
        "roles": ("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'app-%'", None),
        "schemas": (r"SELECT count(*) FROM pg_namespace WHERE nspname LIKE 's\_%'", None),
        "database CONNECT": (
            acl.format(table="pg_database", column="datacl", where="o.datname = 'shop'"),
            ["CONNECT"],
        ),
        "schema USAGE": (
            acl.format(table="pg_namespace", column="nspacl", where=r"o.nspname LIKE 's\_%%'"),
            ["USAGE"],
        ),
        "table SELECT (role, table)": (
            acl.format(table="pg_class", column="relacl", where="o.relkind = 'r'"),
            ["SELECT"],
        ),
    }
    expected = {
        "roles": workload.roles,
        "schemas": workload.schemas,
        "database CONNECT": sum(g["objectType"] == "database" for g in grants),
        "schema USAGE": sum(g["objectType"] == "schema" for g in grants),
        "table SELECT (role, table)": workload.tables
        * sum(g["objectType"] == "table" and g["schema"] in with_tables for g in grants),
    }
    for what, (query, params) in queries.items():
        found = server.psql(query, DATABASE, params=params)[0][0]
        if found != expected[what]:
            raise SystemExit(f"catalog: {found} {what}, expected {expected[what]}")
    print(f"catalog check: {expected}", file=sys.stderr)


# -- running gitcops ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    run: Run
    stdout: str
    stderr: str

    @property
    def cached(self) -> bool:
        """Whether the desired state came from the cache (no render, no validation)."""
        return _CACHED.search(self.stderr) is not None

    @property
    def read_live_ms(self) -> float | None:
        found = _READ_LIVE.search(self.stderr)
        return float(found.group(1)) if found else None

    def counts(self) -> dict[str, int]:
        """Actions in a plan's text: create, adopt, update, delete, noop."""
        if found := _NO_CHANGES.search(self.stdout):
            return {"create": 0, "adopt": 0, "update": 0, "delete": 0, "noop": int(found["noop"])}
        if found := _PLAN_LINE.search(self.stdout):
            return {k: int(v or 0) for k, v in found.groupdict().items()}
        raise SystemExit(f"no plan summary in the output:\n{self.stdout[-2000:]}{self.stderr}")


class Gitcops:
    def __init__(self, root: Path) -> None:
        self.root, self.repo, self.state = root, root / "repo", root / "state" / "state.db"
        self.warm = root / "cache"
        self.pycache = root / "pycache"
        self._runs = 0

    def cold_cache(self) -> Path:
        return self.root / f"cache-cold-{self._runs}"

    def __call__(
        self,
        sub: str,
        *,
        cache: Path,
        ok: frozenset[int] = frozenset({0}),
        state: Path | None = None,
    ) -> Outcome:
        argv = [str(GITCOPS), sub, "--env", "dev"]
        argv += ["--yes"] if sub == "apply" else ["--detailed-exitcode", "--timings"]
        argv += ["--repo", str(self.repo), "--state", str(state or self.state)]
        env = {
            "GITCOPS_CACHE_DIR": str(cache),
            "PYTHONPYCACHEPREFIX": str(self.pycache),
            "PYTHONDONTWRITEBYTECODE": "",  # empty: unset, for Python
        }
        self._runs += 1
        logs = self.root / "logs"
        label = f"{self._runs:03d}-{sub}"
        run = run_measured(Command(tuple(argv), env, self.root, ok_codes=ok), logs, label)
        outcome = Outcome(
            run,
            (logs / f"{label}.out").read_text(errors="replace"),
            (logs / f"{label}.err").read_text(errors="replace"),
        )
        if run.error is not None:
            raise SystemExit(f"gitcops {sub} failed: {run.error}")
        return outcome


def _expect(what: str, counts: dict[str, int], **wanted: int) -> None:
    wrong = {k: counts.get(k, 0) for k, v in wanted.items() if counts.get(k, 0) != v}
    if wrong:
        raise SystemExit(f"{what}: expected {wanted}, the plan says {counts}")


# -- the benchmark ------------------------------------------------------------------------------


@dataclass
class Row:
    case: str
    outcomes: list[Outcome]
    note: str = ""

    def cells(self) -> str:
        walls = [o.run.wall_s for o in self.outcomes]
        lives = [o.read_live_ms for o in self.outcomes if o.read_live_ms is not None]
        live = f"{statistics.median(lives):.0f}" if lives else "-"
        rss = max(o.run.maxrss_kib for o in self.outcomes) * 1024 / 1e6
        rendered = sum(not o.cached for o in self.outcomes) if lives else "-"
        return (
            f"| {self.case} | {len(walls)} | {statistics.median(walls):.3f} | {max(walls):.3f} | "
            f"{live} | {rss:.0f} | {rendered} | {self.note} |"
        )


def bench(workload: Workload, repeat: int, keep: bool) -> tuple[list[Row], float, float]:
    """The table's rows, the warm no-op plan's median and the cold one's time."""
    root = Path(tempfile.mkdtemp(prefix="gitcops-pg-bench-"))
    server = PostgresServer()
    rows: list[Row] = []
    try:
        server.start()
        version = server.psql("SHOW server_version")[0][0]
        print(
            f"PostgreSQL {version} on {server.host}:{server.port}, work in {root}", file=sys.stderr
        )
        write_project(root / "repo", workload, server)
        gitcops = Gitcops(root)
        total = workload.documents
        # Untimed: fills the bytecode directory (and the OS's caches), touching no real state.
        throwaway = root / "warm-up"
        gitcops("plan", cache=throwaway / "cache", state=throwaway / "state.db", ok=frozenset({2}))

        first = gitcops("plan", cache=gitcops.warm, ok=frozenset({2}))
        _expect("first plan", first.counts(), create=total, adopt=0, update=0, delete=0)
        rows.append(Row("first plan (all to create)", [first], f"{total} to create"))

        apply = gitcops("apply", cache=gitcops.warm)
        rows.append(Row("apply (create all)", [apply]))
        check = gitcops("plan", cache=gitcops.warm)  # untimed: exits 0, or SystemExit
        _expect("plan after apply", check.counts(), noop=total)

        tables = create_tables(server, workload)
        drifted = gitcops("plan", cache=gitcops.warm, ok=frozenset({0, 2})).counts()
        changed = total - drifted["noop"]
        catch_up = gitcops("apply", cache=gitcops.warm)
        rows.append(
            Row(f"apply after {tables} tables were added", [catch_up], f"{changed} changes")
        )
        check_catalog(server, workload)

        gitcops("plan", cache=gitcops.warm)  # warm-up, untimed
        warm = [gitcops("plan", cache=gitcops.warm) for _ in range(repeat)]
        for outcome in warm:
            _expect("no-op plan", outcome.counts(), noop=total)
        rows.append(Row("no-op plan (warm cache)", warm, "exit 0, no changes"))
        cold = gitcops("plan", cache=gitcops.cold_cache())
        _expect("no-op plan (cold cache)", cold.counts(), noop=total)
        rows.append(Row("no-op plan (cold cache)", [cold], "exit 0, no changes"))

        # Drift: one role also gets CREATE on a schema it is granted USAGE on.
        usage = next(g for g in workload.grant_specs() if g["objectType"] == "schema")
        server.psql(f'GRANT CREATE ON SCHEMA {usage["schema"]} TO "{usage["role"]}"', DATABASE)
        drift = [gitcops("plan", cache=gitcops.warm, ok=frozenset({2})) for _ in range(repeat)]
        for outcome in drift:
            _expect("drift plan", outcome.counts(), create=0, update=1, delete=0, noop=total - 1)
        rows.append(Row("plan after 1 grant changed by psql", drift, "1 to update, exit 2"))
        heal = gitcops("apply", cache=gitcops.warm)
        rows.append(Row("apply (heal that grant)", [heal]))
        _expect("plan after heal", gitcops("plan", cache=gitcops.warm).counts(), noop=total)
    finally:
        server.stop()
        if keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return rows, statistics.median(o.run.wall_s for o in warm), cold.run.wall_s


def _code_version() -> str:
    """HEAD, and how many files under src/ differ from it (read-only: no index refresh)."""
    git = ("git", "--no-optional-locks", "-C", str(REPO_ROOT))
    head = subprocess.run(
        (*git, "rev-parse", "--short", "HEAD"), capture_output=True, text=True, check=False
    ).stdout.strip()
    changed = subprocess.run(
        (*git, "status", "--porcelain", "--untracked-files=no", "--", "src"),
        capture_output=True, text=True, check=False,
    ).stdout.splitlines()  # fmt: skip
    return f"{head or '?'}" + (f" + {len(changed)} modified files in src/" if changed else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--roles", type=int, default=200)
    parser.add_argument("--schemas", type=int, default=50)
    parser.add_argument("--grants", type=int, default=500)
    parser.add_argument("--table-schemas", type=int, default=10, help="schemas given tables")
    parser.add_argument("--tables", type=int, default=5, help="tables in each of those")
    parser.add_argument("--repeat", type=int, default=5, help="warm no-op and drift plans")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args()
    for name in [k for k in os.environ if k.startswith("PG")]:
        del os.environ[name]  # they would steer the provider's libpq elsewhere
    if postgres_binaries() is None:
        raise SystemExit("no PostgreSQL server binaries (install postgresql or set GITCOPS_PG_BIN)")
    workload = Workload(
        args.roles, args.schemas, args.grants, args.table_schemas, args.tables, args.seed
    )
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = os.getloadavg()[0]
    rows, noop, cold = bench(workload, max(1, args.repeat), args.keep)
    print(
        f"{started}, {platform.node()}, {os.cpu_count()} CPUs, load {load:.2f} -> "
        f"{os.getloadavg()[0]:.2f}, gitcops at {_code_version()}: {workload.roles} roles, "
        f"1 database, {workload.schemas} schemas, {workload.grants} grants "
        f"({workload.documents} documents)\n"
    )
    print(
        "| case | runs | median s | max s | read live ms (median) | peak RSS MB | rendered | "
        "result |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|---|")
    for row in rows:
        print(row.cells())
    verdict = "PASS" if noop < TARGET_S else "FAIL"
    print(f"\nno-op plan (warm cache, median) < {TARGET_S} s: {verdict} ({noop:.3f} s)")
    within = "within" if cold < TARGET_S else "over"
    print(f"no-op plan (cold cache, one run): {cold:.3f} s, {within} {TARGET_S} s (information)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
