"""suspend, resume and unpin: what people decide about an environment beyond Git."""

from __future__ import annotations

from typing import Annotated

import typer

from gitcops.cli.app import app
from gitcops.cli.common import Env, Repo, State, actor, runtime
from gitcops.cli.errors import handle_errors
from gitcops.cli.output import out


@app.command()
@handle_errors
def suspend(
    env: Env,
    repo: Repo = ".",
    state: State = None,
    reason: Annotated[str, typer.Option(help="Why: shown by status, kept in the audit log.")] = "",
) -> None:
    """Stop the agent reconciling an environment (it still reports drift) until resumed."""
    from gitcops.engine.controls import suspend as suspend_env

    with runtime() as rt:
        suspend_env(rt, repo, env, state=state, actor=actor(), reason=reason)
    out(f"Suspended {env}: the agent will not reconcile it until `gitcops resume --env {env}`.")


@app.command()
@handle_errors
def resume(env: Env, repo: Repo = ".", state: State = None) -> None:
    """Let the agent reconcile a suspended environment again."""
    from gitcops.engine.controls import resume as resume_env

    with runtime() as rt:
        resume_env(rt, repo, env, state=state, actor=actor())
    out(f"Resumed {env}.")


@app.command()
@handle_errors
def unpin(env: Env, repo: Repo = ".", state: State = None) -> None:
    """Release the pin a rollback set: the agent goes back to the branch's latest revision."""
    from gitcops.engine.controls import unpin as unpin_env

    with runtime() as rt:
        unpin_env(rt, repo, env, state=state, actor=actor())
    out(f"Unpinned {env}: the agent follows the branch again.")
