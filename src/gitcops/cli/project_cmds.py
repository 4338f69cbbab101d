"""init, validate, render and plan: everything that reads a revision and writes nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gitcops.cli.app import app
from gitcops.cli.common import (
    Adopt,
    Env,
    Format,
    Namespace,
    NoCache,
    OptionalEnv,
    Output,
    Policy,
    Repo,
    Rev,
    State,
    Worktree,
    check_output,
    policy_options,
    runtime,
    write_atomically,
)
from gitcops.cli.errors import fail, handle_errors
from gitcops.cli.output import colour_stdout, emit_json, err, out

if TYPE_CHECKING:
    from gitcops.plan.model import Plan


@app.command()
@handle_errors
def init(directory: Annotated[Path, typer.Argument(help="Where to create the project.")]) -> None:
    """Scaffold a working example project, `git init` it and make the first commit."""
    from gitcops.engine.scaffold import scaffold

    files = scaffold(directory)
    out(f"Created {directory} with {len(files)} files and a first commit.")
    out(f"Next: gitcops plan --env dev --repo {directory}")


def _check_format(report_format: str | None) -> None:
    from gitcops.cli.findings import REPORT_FORMATS

    if report_format is not None and report_format not in REPORT_FORMATS:
        fail(f"--format must be sarif or junit, not {report_format!r}")


@app.command()
@handle_errors
def validate(
    env: OptionalEnv = None,
    repo: Repo = ".",
    rev: Rev = None,
    worktree: Worktree = False,
    output: Output = "text",
    policy: Policy = None,
    namespace: Namespace = None,
    report_format: Format = None,
    no_cache: NoCache = False,
) -> None:
    """Render and check every environment: schema, references, graph, paths, policies, secrets."""
    from gitcops.cli.findings import emit_report, show_findings
    from gitcops.engine.validation import validate_revision

    check_output(output)
    _check_format(report_format)
    with runtime(no_cache) as rt:
        result = validate_revision(
            rt,
            repo,
            env=env,
            rev=rev,
            worktree=worktree,
            policy=policy_options(policy, namespace),
        )
    if report_format is not None:
        emit_report(report_format, result.findings, result.diagnostics, "gitcops validate")
    elif output == "json":
        emit_json("ValidationResult", result.as_json())
    else:
        if result.diagnostics:
            count = len(result.diagnostics)
            err(f"error: {count} problem{'s' if count != 1 else ''} found:")
            for diagnostic in result.diagnostics:
                err(f"  {diagnostic}")
        for name, count in result.environments.items():
            out(f"{name}: {count} resources rendered and checked")
        show_findings(result.findings, "policy")
    if not result.valid:
        raise typer.Exit(1)


@app.command()
@handle_errors
def render(
    env: Env,
    repo: Repo = ".",
    rev: Rev = None,
    worktree: Worktree = False,
    no_cache: NoCache = False,
) -> None:
    """Print the environment's final documents as a deterministic YAML stream."""
    import yaml

    from gitcops.engine.workspace import desired_state, open_workspace

    with runtime(no_cache) as rt:
        ws = open_workspace(rt, rt.source(repo), env, rev, worktree, offline=True)
        try:
            docs = [item.public_document() for item in desired_state(ws)]
        finally:
            ws.close()
    sys.stdout.write(
        yaml.dump_all(docs, Dumper=yaml.CSafeDumper, sort_keys=True, default_flow_style=False)
    )


@app.command()
@handle_errors
def plan(
    env: Env,
    repo: Repo = ".",
    rev: Rev = None,
    worktree: Worktree = False,
    state: State = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Save the plan here.")] = None,
    output: Output = "text",
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 2 when there are changes.")
    ] = False,
    timings: Annotated[bool, typer.Option("--timings", help="Stage timings on stderr.")] = False,
    policy: Policy = None,
    namespace: Namespace = None,
    report_format: Format = None,
    no_cache: NoCache = False,
    adopt: Adopt = False,
) -> None:
    """Show what apply would change: desired (Git) vs live vs last applied; and what policy says."""
    from gitcops.cli.findings import emit_report, show_findings
    from gitcops.engine.planning import plan_environment
    from gitcops.plan.text import render_plan

    check_output(output)
    _check_format(report_format)
    with runtime(no_cache) as rt:
        report = plan_environment(
            rt,
            repo,
            env,
            rev=rev,
            worktree=worktree,
            state=state,
            policy=policy_options(policy, namespace),
            fingerprint=out_file is not None or output == "json",
            adopt=adopt,
        )
    saving = out_file is not None and not report.refused  # apply PLANFILE would adopt them
    if saving and out_file is not None:
        save_plan(out_file, report.plan)
    if report_format is not None:
        emit_report(report_format, report.findings, [], f"gitcops plan {env}")
    elif output == "json":
        emit_json("Plan", report.as_json())
    else:
        colour = colour_stdout()
        sys.stdout.write("".join(f"{line}\n" for line in render_plan(report.plan, colour=colour)))
        if report.findings:
            out()
            show_findings(report.findings, "policy")
        if saving:
            out(f"\nSaved the plan to {out_file}: gitcops apply --env {env} {out_file}")
    if timings:
        for stage, seconds in report.timings.items():
            err(f"timing {stage}: {seconds * 1000:.1f} ms")
    if report.blocked:
        err("error: policy failures: apply would refuse this plan")
        raise typer.Exit(1)
    if report.refused:
        from gitcops.engine.planning import AdoptionRefusedError

        err(f"error: {AdoptionRefusedError(report.refused)}")
        raise typer.Exit(1)
    if detailed_exitcode and report.plan.has_changes:
        raise typer.Exit(2)


def save_plan(path: Path, plan: Plan) -> None:
    write_atomically(path, json.dumps(plan.as_json(), indent=1, ensure_ascii=False).encode())


def load_plan(path: Path) -> Plan:
    from gitcops.model.errors import PlanError
    from gitcops.plan.model import Plan

    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise PlanError(f"plan file {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise PlanError(f"{path} is not a readable gitcops plan: {exc}") from None
    if not isinstance(data, dict):
        raise PlanError(f"{path} is not a readable gitcops plan: not a JSON object")
    try:
        return Plan.from_json(data)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PlanError(f"{path} is not a readable gitcops plan: {exc!r}") from None
