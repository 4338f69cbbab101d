"""apply and rollback: the commands that change the world and record it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gitcops.cli.app import app
from gitcops.cli.common import (
    Adopt,
    Env,
    LockTimeout,
    Namespace,
    NoCache,
    Output,
    Policy,
    Repo,
    Rev,
    State,
    actor,
    check_output,
    policy_options,
    runtime,
)
from gitcops.cli.errors import fail, handle_errors
from gitcops.cli.output import colour_stdout, emit_json, err, out
from gitcops.cli.project_cmds import load_plan

if TYPE_CHECKING:
    from gitcops.cli.progress import ApplyProgress
    from gitcops.engine.applying import ApplyOutcome
    from gitcops.plan.model import Plan

Parallelism = Annotated[
    int,
    typer.Option(min=1, help="Changes applied at once (local file writes: one at a time)."),
]


@app.command()
@handle_errors
def apply(
    env: Env,
    plan_file: Annotated[
        Path | None, typer.Argument(help="A plan saved by `plan --out`; applied exactly.")
    ] = None,
    repo: Repo = ".",
    rev: Rev = None,
    state: State = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    parallelism: Parallelism = 8,
    lock_timeout: LockTimeout = 0.0,
    output: Output = "text",
    policy: Policy = None,
    namespace: Namespace = None,
    no_cache: NoCache = False,
    adopt: Adopt = False,
    override_promotion: Annotated[
        bool,
        typer.Option(
            "--override-promotion",
            help="Apply although the promotion rule refuses it (an emergency): needs --reason "
            "and an approval, and is recorded.",
        ),
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why the promotion rule is overridden.")
    ] = None,
) -> None:
    """Gate (policies, promotion, approvals), apply in dependency order, verify health checks,
    record the run."""
    from gitcops.apply.executor import ApplyOptions
    from gitcops.cli.progress import ApplyProgress
    from gitcops.engine.applying import apply_environment

    check_output(output)
    if plan_file is not None and rev is not None:
        fail("give either --rev or a plan file, not both")
    if override_promotion and not (reason and reason.strip()):
        fail("--override-promotion needs --reason TEXT: it is recorded in the audit log")
    saved = load_plan(plan_file) if plan_file is not None else None
    with runtime(no_cache) as rt, ApplyProgress.for_stderr() as progress:
        outcome = _refusing(
            lambda: apply_environment(
                rt,
                repo,
                env,
                actor=actor(),
                rev=rev,
                saved_plan=saved,
                state=state,
                options=ApplyOptions(parallelism=parallelism),
                policy=policy_options(policy, namespace),
                lock_timeout=lock_timeout,
                confirm=_confirmation(output, yes or saved is not None, progress),
                progress=progress.advance,
                adopt=adopt,
                override_promotion=reason.strip() if override_promotion and reason else None,
            ),
            output,
        )
    _report(outcome, output)


@app.command()
@handle_errors
def promote(
    source: Annotated[str, typer.Option("--from", help="The environment whose revision to take.")],
    target: Annotated[str, typer.Option("--to", help="The environment to apply it to.")],
    repo: Repo = ".",
    state: State = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    output: Output = "text",
    no_cache: NoCache = False,
) -> None:
    """Apply to --to the revision --from runs now (verified, and soaked as --to's promotion
    rule asks), with --to's own plan and gates."""
    from gitcops.cli.progress import ApplyProgress
    from gitcops.engine.promotion import promote as promote_revision

    check_output(output)
    with runtime(no_cache) as rt, ApplyProgress.for_stderr() as progress:
        outcome = _refusing(
            lambda: promote_revision(
                rt,
                repo,
                source,
                target,
                actor=actor(),
                state=state,
                confirm=_confirmation(output, yes, progress),
                progress=progress.advance,
            ),
            output,
        )
    _report(outcome, output)


@app.command()
@handle_errors
def rollback(
    env: Env,
    to: Annotated[
        str | None, typer.Option("--to", help="Revision to return to (default: the previous one).")
    ] = None,
    repo: Repo = ".",
    state: State = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    lock_timeout: LockTimeout = 0.0,
    output: Output = "text",
    no_cache: NoCache = False,
    until_newer: Annotated[
        bool,
        typer.Option(
            "--until-newer", help="Pin only until the branch gets a new commit (default: unpin)."
        ),
    ] = False,
) -> None:
    """Apply the rendered state of an earlier revision, recorded as a rollback run. The
    environment stays pinned there (the agent does not move it) until `gitcops unpin`."""
    from gitcops.cli.progress import ApplyProgress
    from gitcops.engine.applying import rollback_environment
    from gitcops.engine.inspect import rollback_target
    from gitcops.engine.workspace import head_project

    check_output(output)
    with runtime(no_cache) as rt, ApplyProgress.for_stderr() as progress:
        project = head_project(rt, repo, env)
        target = rt.source(repo).resolve(to) if to else rollback_target(rt, repo, env, state)
        err(f"Rolling {project.name}/{env} back to {target.short} ({target.message})")
        outcome = _refusing(
            lambda: rollback_environment(
                rt,
                repo,
                env,
                target.commit,
                actor=actor(),
                state=state,
                lock_timeout=lock_timeout,
                confirm=_confirmation(output, yes, progress),
                progress=progress.advance,
                until_newer=until_newer,
            ),
            output,
        )
    if outcome is not None and outcome.succeeded:
        until = "the branch gets a new commit" if until_newer else f"gitcops unpin --env {env}"
        err(f"Pinned {env} to {target.short} until {until}.")
    _report(outcome, output)


def _refusing(run: Callable[[], ApplyOutcome | None], output: str) -> ApplyOutcome | None:
    """Run an apply; a policy refusal lists the failures before the error (on stderr when
    stdout is for JSON)."""
    from gitcops.cli.findings import show_findings
    from gitcops.engine.applying import PolicyRefusalError

    try:
        return run()
    except PolicyRefusalError as refusal:
        show_findings(refusal.findings, "policy", to_stderr=output == "json")
        raise


def _confirmation(output: str, yes: bool, progress: ApplyProgress) -> Callable[[Plan], bool]:
    from gitcops.plan.text import render_plan

    def confirm(plan: Plan) -> bool:
        if output == "text":
            lines = render_plan(plan, colour=colour_stdout())
            sys.stdout.write("".join(f"{line}\n" for line in lines))
        accepted = not plan.has_changes or yes  # no changes: health checks still run
        if not accepted:
            if not sys.stdin.isatty():
                fail("refusing to apply without confirmation on a non-interactive run; pass --yes")
            accepted = typer.confirm("Apply these changes?", default=False)
        if accepted:
            progress.start(plan)
        return accepted

    return confirm


def _report(outcome: ApplyOutcome | None, output: str) -> None:
    from gitcops.apply.changeset import Action

    if outcome is None:
        (err if output == "json" else out)("Apply cancelled; nothing changed.")
        raise typer.Exit(1)
    if output == "json":
        emit_json("ApplyResult", outcome.as_json())
    else:
        for note in outcome.warnings:
            err(note)
        for entry in outcome.changeset.entries:
            if entry.action in (Action.FAILED, Action.SKIPPED):
                err(f"{entry.action.value}: {entry.id}: {entry.message}")
            elif entry.action is Action.VERIFIED:
                out(f"verified: {entry.id}: {entry.message}")
        counts = outcome.changeset.counts
        summary = ", ".join(f"{n} {a}" for a, n in counts.items() if n)
        verdict = "Apply complete" if outcome.succeeded else "Apply failed"
        out(
            f"{verdict} (run {outcome.run_id}, {outcome.duration:.2f}s): "
            f"{summary or 'nothing to do'}."
        )
    if not outcome.succeeded:
        raise typer.Exit(1)
