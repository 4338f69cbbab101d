"""Change management: preview a merge request, approve a rendered state, list approvals."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from gitcops.cli.app import app
from gitcops.cli.common import Env, NoCache, Output, Repo, State, check_output, runtime
from gitcops.cli.errors import fail, handle_errors
from gitcops.cli.output import emit_json, err, out


@app.command()
@handle_errors
def preview(
    base: Annotated[str, typer.Option("--base", help="The merge request's target (e.g. main).")],
    head: Annotated[str, typer.Option("--head", help="The merge request's head commit.")],
    envs: Annotated[
        list[str] | None, typer.Option("--env", "-e", help="Only these environments (repeatable).")
    ] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="markdown, json or sarif.")
    ] = "markdown",
    repo: Repo = ".",
    state: State = None,
    no_cache: NoCache = False,
) -> None:
    """The merge-request view: rendered diff, plan, policy, risk and approvals needed, per
    environment the change touches. Exit 1 when policy fails."""
    from gitcops.engine.preview import preview as make_preview

    if output not in ("markdown", "json", "sarif"):
        fail(f"unknown --output {output!r} (markdown, json or sarif)")
    with runtime(no_cache) as rt:
        result = make_preview(rt, repo, base, head, environments=envs or [], state=state)
    if output == "json":
        emit_json("Preview", result.as_json())
    elif output == "sarif":
        from gitcops.cli.findings import emit_report

        findings = [f for e in result.environments for f in e.findings]
        emit_report("sarif", findings, [], "gitcops preview")
    else:
        from gitcops.cli.preview_markdown import render

        sys.stdout.write(render(result))
    if result.blocked:
        err("error: policy failures: apply would refuse this change")
        raise typer.Exit(1)


@app.command()
@handle_errors
def approve(
    env: Env,
    rev: Annotated[str | None, typer.Argument(help="The revision (default HEAD).")] = None,
    key: Annotated[
        str | None,
        typer.Option("--key", help="SSH private key (default: git's user.signingKey)."),
    ] = None,
    repo: Repo = ".",
    no_cache: NoCache = False,
) -> None:
    """Sign an approval of the environment's rendered state at REV (an SSH signature kept in
    Git under refs/notes/gitcops-approvals: push that ref to share it)."""
    from gitcops.engine.approving import approve as sign_approval

    with runtime(no_cache) as rt:
        commit, digest = sign_approval(rt, repo, env, rev, key)
    out(f"Approved {env} at {commit[:12]}: rendered state {digest[:12]}")
    err("Share it: git push origin refs/notes/gitcops-approvals")


@app.command()
@handle_errors
def approvals(
    env: Env,
    rev: Annotated[str | None, typer.Argument(help="The revision (default HEAD).")] = None,
    repo: Repo = ".",
    state: State = None,
    output: Output = "text",
    no_cache: NoCache = False,
) -> None:
    """The approvals of the environment's rendered state at REV, each verified against the
    rules of the revision the environment last applied."""
    from gitcops.engine.approving import list_approvals

    check_output(output)
    with runtime(no_cache) as rt:
        verdict = list_approvals(rt, repo, env, rev, state)
    if output == "json":
        emit_json(
            "Approvals",
            {
                "environment": env,
                "digest": verdict.digest,
                "required": verdict.required,
                "satisfied": verdict.satisfied,
                "approvers": list(verdict.approvers),
                "rules": verdict.origin,
                "approvals": [c.as_json() for c in verdict.checked],
            },
        )
        return
    out(
        f"{env}: rendered state {verdict.digest[:12]}: {len(verdict.approvers)} of "
        f"{verdict.required} approval(s) required (rules from {verdict.origin})"
    )
    for c in verdict.checked:
        status = "valid" if c.approver and not c.problem else f"not counted: {c.problem}"
        out(f"  {c.approver or 'unknown key'} at {c.revision[:12]}: {status}")
