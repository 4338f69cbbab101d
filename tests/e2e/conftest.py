"""End-to-end fixtures: a real Git repository and the real `gitcops` executable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

GITCOPS = str(Path(sys.executable).with_name("gitcops"))


def file_doc(
    name: str,
    path: str,
    content: str = "x\n",
    *,
    mode: str | None = None,
    depends_on: Iterable[str] = (),
    labels: dict[str, str] | None = None,
    **extra: object,
) -> dict[str, object]:
    spec: dict[str, object] = {"path": path, "content": content, **extra}
    if mode is not None:
        spec["mode"] = mode
    metadata: dict[str, object] = {"name": name}
    if labels:
        metadata["labels"] = labels
    deps = list(depends_on)
    if deps:
        metadata["annotations"] = {"config.kubernetes.io/depends-on": ",".join(deps)}
    return {"apiVersion": "local.gitcops.io/v1", "kind": "File", "metadata": metadata, "spec": spec}


def dir_doc(name: str, path: str) -> dict[str, object]:
    return {
        "apiVersion": "local.gitcops.io/v1",
        "kind": "Directory",
        "metadata": {"name": name},
        "spec": {"path": path},
    }


def symlink_doc(name: str, path: str, target: str) -> dict[str, object]:
    return {
        "apiVersion": "local.gitcops.io/v1",
        "kind": "Symlink",
        "metadata": {"name": name},
        "spec": {"path": path, "target": target},
    }


def dump(docs: Iterable[dict[str, object]]) -> str:
    return yaml.safe_dump_all(list(docs), sort_keys=False)


@dataclass
class Repo:
    path: Path
    root: Path  # the local provider root of environment dev

    def write(self, rel: str, text: str) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def remove(self, rel: str) -> None:
        (self.path / rel).unlink()

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=self.path, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def commit(self, message: str = "change") -> str:
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def set_resources(self, docs: Iterable[dict[str, object]], message: str = "resources") -> str:
        self.write("base/resources.yaml", dump(docs))
        return self.commit(message)

    def set_root(self, root: Path) -> None:
        """Point environment dev's local provider at another root (uncommitted)."""
        self.write("gitcops.yaml", PROJECT.format(root=root, prod_root=root.parent / "prod"))


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Cli:
    env: dict[str, str]
    state: Path
    calls: list[list[str]] = field(default_factory=list)
    wrapper: list[str] = field(default_factory=list)  # a command the executable runs under

    def __call__(
        self, *args: str, repo: Path | str | None = None, expect: int | None = 0
    ) -> Result:
        argv = [*self.wrapper, GITCOPS, *args]
        if repo is not None and args and args[0] not in ("init", "audit", "secrets"):
            argv += ["--repo", str(repo)]
        if (
            args
            and args[0] not in ("init", "validate", "render", "secrets", "import", "approve")
            and "--state" not in args
        ):
            argv += ["--state", str(self.state)]
        self.calls.append(argv)
        done = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=300)
        result = Result(done.returncode, done.stdout, done.stderr)
        if expect is not None and done.returncode != expect:
            pytest.fail(
                f"{' '.join(argv[len(self.wrapper) + 1 :])} exited {done.returncode}, "
                f"expected {expect}\n"
                f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            )
        return result


PROJECT = """\
apiVersion: gitcops.io/v1
kind: Project
metadata: {{name: shop}}
spec:
  environments:
    - name: dev
      path: environments/dev
      drift: heal
    - name: prod
      path: environments/prod
      drift: warn
      providers:
        local: {{root: {prod_root}}}
  providers:
    local: {{root: {root}}}
"""


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITCOPS_", "GIT_", "XDG_"))}
    env.update(
        GITCOPS_CACHE_DIR=str(tmp_path / "cache"),
        GITCOPS_ACTOR="tester",
        XDG_STATE_HOME=str(tmp_path / "xdg-state"),
        GIT_AUTHOR_NAME="Tester",
        GIT_AUTHOR_EMAIL="tester@example.com",
        GIT_COMMITTER_NAME="Tester",
        GIT_COMMITTER_EMAIL="tester@example.com",
    )
    return Cli(env, tmp_path / "state" / "state.db")


def new_repo(path: Path, project: str, root: Path | None = None, env_dir: str = "env") -> Repo:
    """A fresh repository at `path` with `project` as its gitcops.yaml and `env_dir` holding a
    kustomization of resources.yaml (not committed)."""
    path.mkdir(parents=True)
    r = Repo(path, root if root is not None else path / "out")
    r.git("init", "--quiet", "--initial-branch=main")
    r.git("config", "user.name", "Tester")
    r.git("config", "user.email", "tester@example.com")
    r.write("gitcops.yaml", project)
    r.write(f"{env_dir}/kustomization.yaml", "resources:\n  - resources.yaml\n")
    return r


def dev_prod_project(root: Path, prod: str = "") -> str:
    """Project shop: environments dev and prod on the same documents (env/), each with its
    own local root under `root`; `prod`: more settings of prod (indented lines)."""
    return f"""\
apiVersion: gitcops.io/v1
kind: Project
metadata: {{name: shop}}
spec:
  environments:
    - name: dev
      path: env
      providers:
        local: {{root: {root}/dev}}
    - name: prod
      path: env
      providers:
        local: {{root: {root}/prod}}
{prod}  providers:
    local: {{root: {root}/dev}}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    root = tmp_path / "out" / "dev"
    project = PROJECT.format(root=root, prod_root=tmp_path / "out" / "prod")
    r = new_repo(tmp_path / "repo", project, root, env_dir="base")
    r.write("environments/dev/kustomization.yaml", "resources:\n  - ../../base\n")
    r.write("environments/prod/kustomization.yaml", "resources:\n  - ../../base\n")
    r.write("base/resources.yaml", dump([file_doc("motd", "etc/motd", "hello\n")]))
    r.commit("initial")
    return r


def tree_snapshot(root: Path) -> dict[str, str]:
    """Every path under root with its content (files), target (links) or '<dir>'."""
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = f"-> {os.readlink(path)}"
        elif path.is_dir():
            out[rel] = "<dir>"
        else:
            out[rel] = path.read_bytes().decode("utf-8", "replace")
    return out


def copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, symlinks=True)


# -- secrets -----------------------------------------------------------------------------------


def age_identity(path: Path) -> str:
    """A fresh age identity in a key file; returns its recipient."""
    from pyrage import x25519

    identity = x25519.Identity.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# test key\n{identity}\n")
    return str(identity.to_public())


def secret_ref(file: str, key: str | None = None) -> dict[str, object]:
    ref: dict[str, object] = {"file": file}
    if key is not None:
        ref["key"] = key
    return {"valueFrom": {"secretRef": ref}}


def encrypt_values(
    cli: Cli, repo: Repo, rel: str, values: dict[str, object], recipient: str
) -> None:
    """Write `values` as YAML at `rel` and encrypt it in place with `gitcops secrets`."""
    repo.write(rel, yaml.safe_dump(values))
    cli("secrets", "encrypt", str(repo.path / rel), "--age", recipient)


def files_under(*roots: Path) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        if root.is_file():
            found.append(root)
        elif root.exists():
            found.extend(p for p in root.rglob("*") if p.is_file())
    return found


@pytest.fixture
def keyed(cli: Cli, tmp_path: Path) -> tuple[Cli, str]:
    """The CLI with an age key (SOPS_AGE_KEY_FILE) and no default sops key file."""
    keys = tmp_path / "keys" / "age.txt"
    recipient = age_identity(keys)
    cli.env["SOPS_AGE_KEY_FILE"] = str(keys)
    cli.env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg-config")
    return cli, recipient


# -- the engine as a library ---------------------------------------------------------------------


def desired_of(
    repo: Repo, cache: Path | None, env: str = "dev"
) -> tuple[dict[str, dict[str, Any]], Counter[str]]:
    """The environment's desired specs by name, through one Runtime on `cache` (None: the cache
    off), and the work that Runtime counted."""
    from gitcops.engine.runtime import Runtime
    from gitcops.engine.workspace import desired_state, open_workspace

    with Runtime(cache_dir=cache, caching=cache is not None) as rt:
        ws = open_workspace(rt, rt.source(str(repo.path)), env)
        try:
            specs = {d.resource.id.name: d.resource.spec for d in desired_state(ws)}
        finally:
            ws.close()
        return specs, rt.stats


# -- a PostgreSQL server ---------------------------------------------------------------------------

from collections.abc import Iterator  # noqa: E402  (kept with the fixtures that use it)

from pg_server import PostgresServer, postgres_binaries  # noqa: E402


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for this test session (one per xdist worker) on 127.0.0.1, superuser
    `gitcops_admin`, trust authentication. Skipped without the server binaries, failed in CI."""
    binaries = postgres_binaries()
    if binaries is None:
        searched = "$GITCOPS_PG_BIN, /usr/lib/postgresql/*/bin, initdb on PATH"
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL server binaries not found, and CI must have them: {searched}")
        pytest.skip(
            "PostgreSQL server binaries not found (install the Debian package postgresql): "
            f"searched {searched}"
        )
    with PostgresServer(binaries) as server:
        yield server


@pytest.fixture
def postgres_db(postgres: PostgresServer) -> Iterator[str]:
    """The name of a fresh, empty database on the session's server, dropped after the test.
    Brings the server back first if an earlier test killed it and left it down."""
    if not postgres.running:
        postgres.start_again()
    name = f"test_{os.urandom(6).hex()}"
    postgres.psql(f'CREATE DATABASE "{name}"')
    yield name
    if postgres.running:
        postgres.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
