"""init, validate, render and plan: everything that reads a revision and writes nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gitcops.cli.app import app
from gitcops.cli.common import (
    Env,
    Format,
    Namespace,
    Output,
    Policy,
    Repo,
    Rev,
    State,
    Worktree,
    check_output,
    open_state,
    policy_options,
    workspace,
    write_atomically,
)
from gitcops.cli.errors import fail, handle_errors
from gitcops.cli.output import colour_stdout, emit_json, err, out

if TYPE_CHECKING:
    from gitcops.engine.workspace import Workspace


@app.command()
@handle_errors
def init(directory: Annotated[Path, typer.Argument(help="Where to create the project.")]) -> None:
    """Scaffold a working example project, `git init` it and make the first commit."""
    from gitcops.engine.scaffold import scaffold

    files = scaffold(directory)
    out(f"Created {directory} with {len(files)} files and a first commit.")
    out(f"Next: gitcops plan --env dev --repo {directory}")


@app.command()
@handle_errors
def validate(
    env: Annotated[str | None, typer.Option("--env", "-e", help="Only this environment.")] = None,
    repo: Repo = ".",
    rev: Rev = None,
    worktree: Worktree = False,
    output: Output = "text",
    policy: Policy = None,
    namespace: Namespace = None,
    report_format: Format = None,
) -> None:
    """Render and check every environment: schema, references, graph, paths, policies, secrets."""
    from gitcops.cli.findings import REPORT_FORMATS, emit_report, show_findings
    from gitcops.engine.policy_check import check_resources, scan_secrets, warm_up
    from gitcops.engine.workspace import (
        desired_state,
        open_source,
        open_workspace,
        project_of,
        tree_at,
    )
    from gitcops.model.errors import InvalidInputError

    check_output(output)
    if report_format is not None and report_format not in REPORT_FORMATS:
        fail(f"--format must be sarif or junit, not {report_format!r}")
    options = policy_options(policy, namespace)
    source = open_source(repo)
    revision, tree = tree_at(source, rev, worktree)
    names = [env] if env else [e.name for e in project_of(tree).spec.environments]
    problems = []
    findings = []
    counts: dict[str, int] = {}
    scanned = False
    for name in names:
        try:
            ws = open_workspace(source, name, rev, worktree)
            warm_up(ws)
            counts[name] = len(desired_state(ws))
            findings.extend(check_resources(ws, options).findings)
            if not scanned:
                findings.extend(scan_secrets(ws, options).findings)
                scanned = True
        except InvalidInputError as exc:
            problems.extend(exc.diagnostics)
    unique = list(dict.fromkeys(problems))
    unique_findings = list(dict.fromkeys(findings))
    blocked = bool(unique) or any(f.blocking for f in unique_findings)
    if report_format is not None:
        emit_report(report_format, unique_findings, unique, "gitcops validate")
    elif output == "json":
        emit_json(
            "ValidationResult",
            {
                "revision": revision.commit,
                "valid": not blocked,
                "environments": counts,
                "diagnostics": [d.as_json() for d in unique],
                "findings": [f.as_json() for f in unique_findings],
            },
        )
    else:
        if unique:
            err(f"error: {len(unique)} problem{'s' if len(unique) != 1 else ''} found:")
            for diagnostic in unique:
                err(f"  {diagnostic}")
        for name, count in counts.items():
            out(f"{name}: {count} resources rendered and checked")
        show_findings(unique_findings, "policy")
    if blocked:
        raise typer.Exit(1)


@app.command()
@handle_errors
def render(env: Env, repo: Repo = ".", rev: Rev = None, worktree: Worktree = False) -> None:
    """Print the environment's final documents as a deterministic YAML stream."""
    import yaml

    from gitcops.engine.workspace import desired_state

    ws = workspace(repo, env, rev, worktree)
    docs = [item.public_document() for item in desired_state(ws)]
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
) -> None:
    """Show what apply would change: desired (Git) vs live vs last applied; and what policy says."""
    from gitcops.cli.findings import REPORT_FORMATS, emit_report, show_findings
    from gitcops.engine.planning import make_plan
    from gitcops.plan.text import render_plan

    check_output(output)
    if report_format is not None and report_format not in REPORT_FORMATS:
        fail(f"--format must be sarif or junit, not {report_format!r}")
    ws = workspace(repo, env, rev, worktree, policies=True)
    result = make_plan(
        ws, open_state(state), with_fingerprint=out_file is not None or output == "json"
    )
    findings = policy_findings(ws, result.plan, result.inventory_size, policy, namespace)
    blocked = any(f.blocking for f in findings)
    if out_file is not None:
        save_plan(out_file, result.plan.as_json())
    if report_format is not None:
        emit_report(report_format, findings, [], f"gitcops plan {env}")
    elif output == "json":
        document = result.plan.as_json()
        document["policy"] = {
            "passed": not blocked,
            "findings": [f.as_json() for f in findings],
        }
        emit_json("Plan", document)
    else:
        colour = colour_stdout()
        sys.stdout.write("".join(f"{line}\n" for line in render_plan(result.plan, colour=colour)))
        if findings:
            out()
            show_findings(findings, "policy")
        if out_file is not None:
            out(f"\nSaved the plan to {out_file}: gitcops apply --env {env} {out_file}")
    if timings:
        for stage, seconds in ws.timings.items():
            err(f"timing {stage}: {seconds * 1000:.1f} ms")
    if blocked:
        err("error: policy failures: apply would refuse this plan")
        raise typer.Exit(1)
    if detailed_exitcode and result.plan.has_changes:
        raise typer.Exit(2)


def policy_findings(
    ws: Workspace,
    plan: Any,
    inventory_size: int,
    policy: list[Path] | None,
    namespace: list[str] | None,
) -> list[Any]:
    """Resource policies (cached by tree), and plan policies when the plan changes something."""
    from gitcops.engine.policy_check import check_plan, check_resources

    options = policy_options(policy, namespace)
    findings = list(check_resources(ws, options).findings)
    if plan.has_changes:
        findings += check_plan(ws, plan, inventory_size, options).findings
    return findings


def save_plan(path: Path, data: dict[str, Any]) -> None:
    write_atomically(path, json.dumps(data, indent=1, ensure_ascii=False).encode())


def load_plan(path: Path) -> Any:
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
