"""suspend, resume and unpin: what people decide about an environment beyond Git."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gitcops.cli.app import app
from gitcops.cli.common import Env, NoCache, Repo, State, actor, runtime
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


@app.command()
@handle_errors
def agent(
    repo: Repo = ".",
    branch: Annotated[
        str | None, typer.Option(help="The branch to follow (default: the repository's HEAD).")
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option("--env", "-e", help="An environment to reconcile (repeatable; default all)."),
    ] = None,
    state: State = None,
    interval: Annotated[
        float, typer.Option(min=0.1, help="Seconds between reconciles (with 10% jitter).")
    ] = 60.0,
    once: Annotated[
        bool, typer.Option("--once", help="One pass over the environments, then exit (0 or 1).")
    ] = False,
    listen: Annotated[
        str,
        typer.Option(help="HOST:PORT of the webhooks, /metrics and health endpoints, or off."),
    ] = "127.0.0.1:8080",
    webhook_secret_file: Annotated[
        Path | None,
        typer.Option(help="The webhooks' shared secret (default: $GITCOPS_WEBHOOK_SECRET)."),
    ] = None,
    log_format: Annotated[str, typer.Option(help="json or text, on stderr.")] = "text",
    no_cache: NoCache = False,
) -> None:
    """Pull-based reconciling: fetch, render, validate, plan, apply, verify, record; again and
    again, per environment, until SIGTERM or SIGINT."""
    import os
    import signal

    from gitcops.agent.logs import configure
    from gitcops.agent.loop import AgentConfig
    from gitcops.agent.service import Service
    from gitcops.cli.errors import fail

    if log_format not in ("json", "text"):
        fail(f"--log-format must be json or text, not {log_format!r}")
    address = None
    secret = None
    if not once and listen != "off":
        from gitcops.api.app import parse_listen
        from gitcops.api.webhooks import load_secret

        try:
            address = parse_listen(listen)
            secret = load_secret(webhook_secret_file, os.environ)
        except ValueError as exc:
            fail(str(exc))
    handler = configure(log_format)
    config = AgentConfig(repo, branch, tuple(env or ()), state, interval)
    with runtime(no_cache) as rt:
        rt.source(repo, fetch=False)
        service = Service(rt, config, listen=address, secret=secret)
        if once:
            raise typer.Exit(0 if service.run_once() else 1)
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda *_: service.stop())
        service.run()
    handler.flush()
