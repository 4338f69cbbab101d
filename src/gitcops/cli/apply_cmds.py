"""apply and rollback: the commands that change the world and record it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gitcops.cli.app import app
from gitcops.cli.common import (
    Env,
    Namespace,
    Output,
    Policy,
    Repo,
    Rev,
    State,
    actor,
    check_output,
    open_state,
    source_with_env,
    workspace,
)
from gitcops.cli.errors import fail, handle_errors
from gitcops.cli.output import colour_stdout, emit_json, err, out

if TYPE_CHECKING:
    from gitcops.engine.workspace import Workspace
from gitcops.cli.project_cmds import load_plan, policy_findings


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
    parallelism: Annotated[
        int, typer.Option(help="Changes applied at once (local file writes: one at a time).")
    ] = 8,
    lock_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for another apply to finish.")
    ] = 0.0,
    output: Output = "text",
    policy: Policy = None,
    namespace: Namespace = None,
) -> None:
    """Gate (policies), apply in dependency order, verify health checks, record the run."""
    check_output(output)
    if plan_file is not None and rev is not None:
        fail("give either --rev or a plan file, not both")
    saved = load_plan(plan_file) if plan_file is not None else None
    if saved is not None and saved.revision == "worktree":
        fail("the plan was made from uncommitted files (--worktree); apply only applies commits")
    ws = workspace(repo, env, saved.revision if saved else rev, policies=True)
    _run_apply(
        ws,
        state,
        yes or saved is not None,
        parallelism,
        lock_timeout,
        output,
        saved,
        "apply",
        (policy, namespace),
    )


def _run_apply(
    ws: Workspace,
    state: str | None,
    yes: bool,
    parallelism: int,
    lock_timeout: float,
    output: str,
    saved: Any,
    kind: str,
    policy_args: tuple[list[Path] | None, list[str] | None] = (None, None),
) -> None:
    from gitcops.apply.executor import ApplyOptions
    from gitcops.cli.progress import ApplyProgress
    from gitcops.engine.applying import apply_workspace
    from gitcops.plan.model import Plan
    from gitcops.plan.text import render_plan

    def confirm(plan: Plan) -> bool:
        if output == "text":
            lines = render_plan(plan, colour=colour_stdout())
            sys.stdout.write("".join(f"{line}\n" for line in lines))
        if not plan.has_changes:
            return True  # nothing to change; health checks still run
        if yes:
            return True
        if not sys.stdin.isatty():
            fail("refusing to apply without confirmation on a non-interactive run; pass --yes")
        return typer.confirm("Apply these changes?", default=False)

    progress = ApplyProgress.for_terminal()

    def gate(plan: Plan) -> bool:
        accepted = confirm(plan)
        if accepted:
            progress.start(plan)
        return accepted

    def policy_gate(plan: Plan, inventory_size: int) -> list[str]:
        from gitcops.cli.findings import show_findings
        from gitcops.engine.policy_check import PolicyReport
        from gitcops.model.errors import GitcopsError

        report = PolicyReport(policy_findings(ws, plan, inventory_size, *policy_args))
        if report.blocking:
            show_findings(report.findings, "policy")
            raise GitcopsError(
                f"{len(report.blocking)} policy failure(s) block this apply; nothing was changed"
            )
        return report.notes()

    with progress:
        outcome = apply_workspace(
            ws,
            open_state(state),
            saved_plan=saved,
            options=ApplyOptions(parallelism=parallelism),
            actor=actor(),
            kind=kind,
            lock_timeout=lock_timeout,
            on_plan=gate,
            gate=policy_gate,
            progress=progress.advance,
        )
    if outcome is None:
        out("Apply cancelled; nothing changed.")
        raise typer.Exit(1)
    _report_apply(outcome, output)
    if not outcome.succeeded:
        raise typer.Exit(1)


def _report_apply(outcome: Any, output: str) -> None:
    from gitcops.apply.changeset import Action

    counts = outcome.changeset.counts
    if output == "json":
        emit_json(
            "ApplyResult",
            {
                "run": outcome.run_id,
                "environment": f"{outcome.plan.project}/{outcome.plan.environment}",
                "revision": outcome.plan.revision,
                "succeeded": outcome.succeeded,
                "healthy": outcome.healthy,
                "durationSeconds": round(outcome.duration, 3),
                "summary": counts,
                "warnings": list(outcome.warnings),
                "entries": [e.as_json() for e in outcome.changeset.entries],
            },
        )
        return
    for note in outcome.warnings:
        err(note)
    for entry in outcome.changeset.entries:
        if entry.action in (Action.FAILED, Action.SKIPPED):
            err(f"{entry.action.value}: {entry.id}: {entry.message}")
        elif entry.action is Action.VERIFIED:
            out(f"verified: {entry.id}: {entry.message}")
    summary = ", ".join(f"{n} {a}" for a, n in counts.items() if n)
    verdict = "Apply complete" if outcome.succeeded else "Apply failed"
    out(f"{verdict} (run {outcome.run_id}, {outcome.duration:.2f}s): {summary or 'nothing to do'}.")


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
    lock_timeout: Annotated[float, typer.Option(help="Seconds to wait for the lock.")] = 0.0,
    output: Output = "text",
) -> None:
    """Apply the rendered state of an earlier revision, recorded as a rollback run."""
    from gitcops.engine.inspect import rollback_target
    from gitcops.engine.policy_check import warm_up
    from gitcops.engine.workspace import desired_state, open_workspace

    check_output(output)
    source = source_with_env(repo, env)
    target = to or rollback_target(source, open_state(state), env)
    ws = open_workspace(source, env, target)
    warm_up(ws)
    desired_state(ws)
    err(f"Rolling {ws.scope} back to {ws.revision.short} ({ws.revision.message})")
    _run_apply(ws, state, yes, 8, lock_timeout, output, None, "rollback")
