"""A gitcops project managing a real PostgreSQL server, for the postgres provider's tests.

Roles are server-wide and the server is shared by a worker's tests: every name a test uses
starts with its own prefix.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from conftest import Cli, Repo, Result, new_repo
from pg_server import PostgresServer

API = "postgres.gitcops.io/v1"


def doc(
    kind: str, name: str, /, annotations: dict[str, str] | None = None, **spec: Any
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": API, "kind": kind, "metadata": metadata, "spec": spec}


def project_yaml(instances: dict[str, PostgresServer], extra: str = "") -> str:
    lines = [
        "apiVersion: gitcops.io/v1",
        "kind: Project",
        "metadata: {name: pg}",
        "spec:",
        "  environments:",
        "    - {name: dev, path: env}",
        "  providers:",
    ]
    for name, server in instances.items():
        kind = "" if name == "postgres" else "type: postgres, "
        lines.append(
            f"    {name}: {{{kind}host: {server.host}, port: {server.port}, user: {server.user}}}"
        )
    return "\n".join(lines) + "\n" + extra


@dataclass
class PgProject:
    repo: Repo
    cli: Cli
    server: PostgresServer
    prefix: str

    def name(self, base: str) -> str:
        return f"{self.prefix}_{base}"

    def set_docs(self, docs: Iterable[dict[str, Any]], message: str = "change") -> str:
        self.repo.write("env/resources.yaml", yaml.safe_dump_all(list(docs), sort_keys=False))
        return self.repo.commit(message)

    def run(self, *args: str, expect: int | None = 0) -> Result:
        return self.cli(*args, repo=self.repo.path, expect=expect)

    def apply(self, *extra: str, expect: int | None = 0) -> Result:
        return self.run("apply", "--env", "dev", "--yes", *extra, expect=expect)

    def plan(self, *extra: str, expect: int | None = 0) -> Result:
        return self.run("plan", "--env", "dev", "--detailed-exitcode", *extra, expect=expect)

    def sql(self, statement: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        return self.server.psql(statement, database)

    def one(self, statement: str, database: str = "postgres") -> Any:
        rows = self.sql(statement, database)
        return rows[0][0] if rows else None


def make_project(
    tmp_path: Path,
    cli: Cli,
    server: PostgresServer,
    instances: dict[str, PostgresServer] | None = None,
) -> PgProject:
    repo = new_repo(tmp_path / "repo", project_yaml(instances or {"postgres": server}))
    repo.write("env/resources.yaml", "")
    repo.commit("initial")
    return PgProject(repo, cli, server, f"t{os.urandom(3).hex()}")
