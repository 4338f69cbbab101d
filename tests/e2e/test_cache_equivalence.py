"""Every cache gives the same answers: each scenario runs with the cache off, cold, warm, and warm
from another project with an identical tree; outputs (text and JSON, less timestamps and
durations) and the state's rows are identical in all four.

A scenario is a list of steps run through the real `gitcops` executable on a real Git repository.
Commits are made with fixed dates and authors, so identical trees are identical commits, and the
same redaction key is given to every run (GITCOPS_REDACTION_KEY), so secrets hash alike.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import GITCOPS, age_identity, dir_doc, dump, file_doc, symlink_doc

REDACTION_KEY = "ab" * 32

PROJECT = """\
apiVersion: gitcops.io/v1
kind: Project
metadata: {name: shop}
spec:
  environments:
    - name: dev
      path: environments/dev
      drift: heal
      providers:
        local: {root: ./out/dev}
    - name: prod
      path: environments/prod
      drift: warn
      providers:
        local: {root: ./out/prod}
  providers:
    local: {root: ./out}
"""
WAIVED = """\
  policy:
    exceptions:
      - rule: main.deny
        resources: {kind: File, name: legacy}
        reason: grandfathered
        owner: sre
        expires: 2999-01-01
"""
TEAM_POLICY = """package main

import rego.v1

deny contains msg if {
    input.kind == "File"
    not input.metadata.labels.team
    msg := sprintf("%s has no team label", [input.metadata.name])
}

warn contains msg if {
    input.metadata.name == "motd"
    msg := "motd is world-readable"
}
"""
CHECK = {
    "apiVersion": "local.gitcops.io/v1",
    "kind": "HealthCheck",
    "metadata": {
        "name": "motd-there",
        "annotations": {"config.kubernetes.io/depends-on": "local.gitcops.io/File/motd"},
    },
    "spec": {"command": {"argv": ["test", "-s", "etc/motd"]}},
}


@dataclass(frozen=True)
class Commit:
    files: dict[str, str | bytes | None]  # None: removed


@dataclass(frozen=True)
class Live:
    """Change the live system by hand (relative to the project directory)."""

    path: str
    content: str | None  # None: removed


@dataclass(frozen=True)
class Run:
    argv: tuple[str, ...]


Step = Commit | Live | Run


def _labelled(doc: dict[str, Any], team: str = "web") -> dict[str, Any]:
    doc["metadata"].setdefault("labels", {})["team"] = team
    return doc


def _base(*docs: dict[str, Any]) -> dict[str, str | bytes | None]:
    return {
        "gitcops.yaml": PROJECT,
        "base/kustomization.yaml": "resources:\n  - resources.yaml\n",
        "base/resources.yaml": dump(docs),
        "environments/dev/kustomization.yaml": "resources:\n  - ../../base\n",
        "environments/prod/kustomization.yaml": (
            "resources:\n  - ../../base\ncommonLabels:\n  env: prod\n"
        ),
    }


def _plan_apply(env: str = "dev") -> list[Step]:
    return [
        Run(("plan", "--env", env)),
        Run(("plan", "--env", env, "-o", "json")),
        Run(("apply", "--env", env, "--yes")),
        Run(("plan", "--env", env, "--detailed-exitcode")),
    ]


def _scenarios(secret_file: bytes) -> dict[str, list[Step]]:
    core = [
        dir_doc("etc", "etc"),
        file_doc("motd", "etc/motd", "hello\n", mode="0644"),
        file_doc("index", "www/index.html", "<h1>hi</h1>\n"),
        symlink_doc("current", "current", "www"),
        CHECK,
    ]
    return {
        "converge-drift-heal": [
            Commit(_base(*core)),
            Run(("validate",)),
            Run(("render", "--env", "dev")),
            *_plan_apply(),
            Live("out/dev/etc/motd", "edited by hand\n"),
            Live("out/dev/www/index.html", None),
            Run(("drift", "--env", "dev")),
            Run(("drift", "--env", "dev", "-o", "json")),
            Run(("status",)),
            Run(("apply", "--env", "dev", "--yes", "-o", "json")),
            Run(("status", "-o", "json")),
            *_plan_apply("prod"),
            Run(("history", "-o", "json")),
            Run(("audit", "log", "-o", "json")),
        ],
        "change-prune-adopt": [
            Commit(_base(*core)),
            Run(("apply", "--env", "dev", "--yes")),
            Live("out/dev/legacy.txt", "made by hand\n"),
            Commit(
                {
                    "base/resources.yaml": dump(
                        [
                            core[0],
                            file_doc("motd", "etc/motd", "hello again\n", mode="0600"),
                            file_doc("legacy", "legacy.txt", "managed\n"),
                            {
                                **file_doc("kept", "kept.txt"),
                                "metadata": {
                                    "name": "kept",
                                    "annotations": {"gitcops.io/prune": "disabled"},
                                },
                            },
                            CHECK,
                        ]
                    )
                }
            ),
            *_plan_apply(),
            Commit({"base/resources.yaml": dump([core[0], core[1]])}),
            *_plan_apply(),
            Run(("rollback", "--env", "dev", "--yes")),
            Run(("history", "--env", "dev")),
            Run(("status",)),
        ],
        "policies": [
            Commit(
                {
                    **_base(
                        _labelled(file_doc("motd", "etc/motd")),
                        file_doc("legacy", "legacy.txt"),
                    ),
                    "policies/team.rego": TEAM_POLICY,
                    "gitcops.yaml": PROJECT + WAIVED,
                }
            ),
            Run(("validate", "-o", "json")),
            *_plan_apply(),
            Commit({"base/resources.yaml": dump([file_doc("motd", "etc/motd")])}),
            Run(("validate",)),
            Run(("plan", "--env", "dev", "-o", "json")),
            Run(("apply", "--env", "dev", "--yes")),
            Run(("validate", "--format", "sarif")),
        ],
        "secrets": [
            Commit(
                {
                    **_base(
                        file_doc("motd", "etc/motd"),
                        {
                            **file_doc("db", "etc/db.pass", mode="0600"),
                            "spec": {
                                "path": "etc/db.pass",
                                "mode": "0600",
                                "content": {
                                    "valueFrom": {
                                        "secretRef": {
                                            "file": "../secrets/db.sops.yaml",
                                            "key": "password",
                                        }
                                    }
                                },
                            },
                        },
                    ),
                    "secrets/db.sops.yaml": secret_file,
                }
            ),
            *_plan_apply(),
            Live("out/dev/etc/db.pass", "guessed\n"),
            Run(("drift", "--env", "dev")),
            Run(("plan", "--env", "dev", "-o", "json")),
            Run(("apply", "--env", "dev", "--yes", "-o", "json")),
            Run(("render", "--env", "dev")),
        ],
        "saved-plan": [
            Commit(_base(*core)),
            Run(("plan", "--env", "dev", "--out", "../plan.json")),
            Run(("apply", "--env", "dev", "../plan.json", "-o", "json")),
            Commit({"base/resources.yaml": dump(core[:2])}),
            Run(("plan", "--env", "dev", "--out", "../plan.json", "-o", "json")),
            Live("out/dev/etc/motd", "moved on\n"),
            Run(("apply", "--env", "dev", "../plan.json")),
            Run(("apply", "--env", "dev", "--yes")),
        ],
        "invalid-input": [
            Commit(_base(*core)),
            Run(("apply", "--env", "dev", "--yes")),
            Commit(
                {
                    "base/resources.yaml": dump(
                        [*core, file_doc("bad", "bad.txt", mode="999"), core[1]]
                    ),
                    "base/extra.yaml": "kind: [unclosed\n",
                }
            ),
            Run(("validate",)),
            Run(("validate", "-o", "json")),
            Run(("plan", "--env", "dev")),
            Commit({"base/resources.yaml": dump(core), "base/extra.yaml": None}),
            Run(("plan", "--env", "dev", "--detailed-exitcode")),
            Run(("validate", "--worktree")),
        ],
    }


_TIMES = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
_DURATION = re.compile(r"\d+\.\d\ds\)")
_VOLATILE = {"createdAt", "startedAt", "finishedAt", "ts", "durationSeconds", "duration", "hash"}


def _normal(text: str, work: Path) -> Any:
    text = text.replace(str(work), "<WORK>")
    try:
        return _strip(json.loads(text))
    except ValueError:
        return _DURATION.sub("<D>s)", _TIMES.sub("<TIME>", text))


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _state_rows(state: Path, work: Path) -> dict[str, list[Any]]:
    """Every row of every table, less timestamps and the hashes that cover them."""
    if not state.exists():
        return {}
    db = sqlite3.connect(state)
    try:
        volatile = {"started_at", "finished_at", "updated_at", "ts", "hash", "prev_hash"}
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows: dict[str, list[Any]] = {}
        for table in sorted(tables):
            cursor = db.execute(f"SELECT * FROM {table} ORDER BY 1, 2")
            names = [d[0] for d in cursor.description]
            rows[table] = [
                {
                    n: _normal(v, work) if isinstance(v, str) else v
                    for n, v in zip(names, row, strict=True)
                    if n not in volatile
                }
                for row in cursor
            ]
        return rows
    finally:
        db.close()


def _run(steps: list[Step], work: Path, cache: Path | None, base_env: dict[str, str]) -> Any:
    shutil.rmtree(work, ignore_errors=True)
    project = work / "project"
    project.mkdir(parents=True)
    env = dict(base_env)
    env["GITCOPS_STATE"] = str(work / "state" / "state.db")
    if cache is None:
        env["GITCOPS_NO_CACHE"] = "1"
        env["GITCOPS_CACHE_DIR"] = str(work / "no-cache-here")
    else:
        env["GITCOPS_CACHE_DIR"] = str(cache)

    def git(*args: str, when: int = 0) -> None:
        stamp = f"2026-01-01T00:{when // 60:02d}:{when % 60:02d}+00:00"
        subprocess.run(
            ["git", *args],
            cwd=project,
            env={**env, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp},
            check=True,
            capture_output=True,
        )

    git("init", "--quiet", "--initial-branch=main")
    transcript: list[Any] = []
    for n, step in enumerate(steps):
        if isinstance(step, Commit):
            for rel, content in step.files.items():
                target = project / rel
                if content is None:
                    target.unlink()
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(content, bytes):
                    target.write_bytes(content)
                else:
                    target.write_text(content)
            git("add", "--all")
            git("commit", "--quiet", "-m", f"step {n}", when=n)
        elif isinstance(step, Live):
            target = project / step.path
            if step.content is None:
                target.unlink()
            else:
                target.write_text(step.content)
        else:
            done = subprocess.run(
                [GITCOPS, *step.argv, "--repo", str(project)],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            transcript.append(
                [
                    list(step.argv),
                    done.returncode,
                    _normal(done.stdout, work),
                    _normal(done.stderr, work),
                ]
            )
    transcript.append(_state_rows(work / "state" / "state.db", work))
    return transcript


@pytest.fixture(scope="module")
def secret_setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, dict[str, str]]:
    """One encrypted file, made once: its bytes are the same in every project."""
    home = tmp_path_factory.mktemp("secrets")
    keys = home / "age.txt"
    recipient = age_identity(keys)
    source = home / "db.sops.yaml"
    source.write_text(yaml.safe_dump({"password": "s3cret-value-for-tests"}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITCOPS_", "GIT_", "XDG_"))}
    env.update(
        SOPS_AGE_KEY_FILE=str(keys),
        XDG_CONFIG_HOME=str(home / "xdg-config"),
        XDG_STATE_HOME=str(home / "xdg-state"),
        GITCOPS_ACTOR="tester",
        GITCOPS_REDACTION_KEY=REDACTION_KEY,
        GIT_AUTHOR_NAME="Tester",
        GIT_AUTHOR_EMAIL="tester@example.com",
        GIT_COMMITTER_NAME="Tester",
        GIT_COMMITTER_EMAIL="tester@example.com",
    )
    subprocess.run(
        [GITCOPS, "secrets", "encrypt", str(source), "--age", recipient],
        env=env,
        check=True,
        capture_output=True,
    )
    return source.read_bytes(), env


SCENARIOS = list(_scenarios(b"").keys())


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_cache_never_changes_an_answer(
    name: str, secret_setup: tuple[bytes, dict[str, str]], tmp_path: Path
) -> None:
    secret, env = secret_setup
    steps = _scenarios(secret)[name]
    cache = tmp_path / "cache"
    run: Callable[[str, Path | None], Any] = lambda where, c: _run(  # noqa: E731
        steps, tmp_path / where, c, env
    )
    off = run("project-a", None)
    cold = run("project-b", cache)
    warm = run("project-b", cache)  # the same directory again, every answer cached
    other = run("project-c", cache)  # another checkout of the same commits
    assert not (tmp_path / "project-a" / "no-cache-here").exists()
    for label, transcript in (("cold", cold), ("warm", warm), ("warm from another", other)):
        for expected, got in zip(off, transcript, strict=True):
            assert got == expected, f"{name}: {label} differs from no cache at {expected[0]}"
    # The scenario did what it says: the runs produced something to compare.
    assert any(step[1] == 0 for step in off[:-1])
