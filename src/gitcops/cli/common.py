"""What the commands share: their options, and opening the state, a repository, a workspace."""

from __future__ import annotations

import getpass
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gitcops.cli.errors import fail

if TYPE_CHECKING:
    from gitcops.engine.workspace import Workspace
    from gitcops.state.store import StateStore

Repo = Annotated[str, typer.Option("--repo", help="Repository path or URL.")]
State = Annotated[
    str | None,
    typer.Option("--state", help="State store: SQLite path (default: user state dir)."),
]
Env = Annotated[str, typer.Option("--env", "-e", help="Environment name.")]
Rev = Annotated[str | None, typer.Option("--rev", help="Branch, tag or commit (default HEAD).")]
Worktree = Annotated[
    bool, typer.Option("--worktree", help="Read uncommitted files (pre-commit checks).")
]
Output = Annotated[str, typer.Option("--output", "-o", help="text or json.")]


Policy = Annotated[
    list[Path] | None,
    typer.Option("--policy", help="Another directory of .rego policies (repeatable)."),
]
Namespace = Annotated[
    list[str] | None,
    typer.Option("--namespace", help="Rego package(s) of resource policies (default main)."),
]
Format = Annotated[
    str | None, typer.Option("--format", help="A CI report instead: sarif or junit.")
]


def policy_options(policy: list[Path] | None, namespace: list[str] | None) -> Any:
    from gitcops.engine.policy_check import PolicyOptions

    return PolicyOptions(tuple(policy or ()), tuple(namespace or ()))


def actor() -> str:
    return os.environ.get("GITCOPS_ACTOR") or getpass.getuser()


opened_stores: list[StateStore] = []


def open_state(state: str | None) -> StateStore:
    from gitcops.engine.paths import default_state_location
    from gitcops.state.sqlite import open_store

    store = open_store(state or default_state_location())
    opened_stores.append(store)
    return store


def workspace(
    repo: str, env: str, rev: str | None, worktree: bool = False, *, policies: bool = False
) -> Workspace:
    """Open, render and validate: all checks pass before anything (state included) is written.
    `policies`: the command goes on to check them (what they need can get ready meanwhile)."""
    early = None
    if policies:
        # First thing: the child loading detect-secrets gets the most time to do it.
        from gitcops.engine.secret_scanner import start_early

        early = start_early()
    from gitcops.engine.workspace import desired_state, open_source, open_workspace

    try:
        ws = open_workspace(open_source(repo), env, rev, worktree)
    except BaseException:
        if early is not None:
            early.cancel()
        raise
    if not policies:
        desired_state(ws)
        return ws
    from gitcops.engine.policy_check import hand_over, warm_up

    warm_up(ws, early)
    desired_state(ws)
    hand_over(ws)
    return ws


def source_with_env(repo: str, env: str | None) -> Any:
    """Open the repository and check the environment exists, before any state is opened."""
    from gitcops.engine.workspace import open_source, project_of, tree_at

    source = open_source(repo)
    if env is not None:
        project_of(tree_at(source, None)[1]).environment(env)
    return source


def check_output(output: str) -> None:
    if output not in ("text", "json"):
        fail(f"--output must be text or json, not {output!r}")


def write_atomically(target: Path, data: bytes, new_mode: int = 0o644) -> None:
    """Replace `target` whole (temp file, fsync, rename), keeping its mode if it exists."""
    try:
        mode = target.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = new_mode
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
