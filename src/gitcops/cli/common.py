"""What the commands share: their options, the Runtime they run the engine in, small helpers."""

from __future__ import annotations

import contextlib
import getpass
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gitcops.cli.errors import fail

if TYPE_CHECKING:
    from gitcops.engine.policy_check import PolicyOptions
    from gitcops.engine.runtime import Runtime

Repo = Annotated[
    str, typer.Option("--repo", help="Repository: a path, or a file://, http(s):// or ssh:// URL.")
]
State = Annotated[
    str | None,
    typer.Option(
        "--state", help="State store: an SQLite path (default: $GITCOPS_STATE or user state dir)."
    ),
]
Env = Annotated[str, typer.Option("--env", "-e", help="Environment name.")]
OptionalEnv = Annotated[str | None, typer.Option("--env", "-e", help="Only this environment.")]
Rev = Annotated[str | None, typer.Option("--rev", help="Branch, tag or commit (default HEAD).")]
Worktree = Annotated[
    bool, typer.Option("--worktree", help="Read uncommitted files (pre-commit checks).")
]
Output = Annotated[str, typer.Option("--output", "-o", help="text or json.")]
Adopt = Annotated[
    bool,
    typer.Option(
        "--adopt",
        help="Take over existing objects of remote systems (PostgreSQL, ...) that the plan "
        'shows as adopt; without it they need the annotation gitcops.io/adopt: "true".',
    ),
]
NoCache = Annotated[
    bool,
    typer.Option("--no-cache", help="Use no cache (as GITCOPS_NO_CACHE=1): same answers, slower."),
]
LockTimeout = Annotated[
    float, typer.Option(min=0, help="Seconds to wait for another apply to finish.")
]
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


def policy_options(policy: list[Path] | None, namespace: list[str] | None) -> PolicyOptions:
    from gitcops.engine.policy_check import PolicyOptions

    return PolicyOptions(tuple(policy or ()), tuple(namespace or ()))


def actor() -> str:
    return os.environ.get("GITCOPS_ACTOR") or getpass.getuser()


@contextlib.contextmanager
def runtime(no_cache: bool = False) -> Iterator[Runtime]:
    """The command's Runtime: closed (repositories, stores, workers) when the command ends."""
    from gitcops.engine.runtime import Runtime

    with Runtime(caching=False if no_cache else None, tune_gc=True) as rt:
        yield rt


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
