"""drift, status, history and the audit log: read-only views of the state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from gitcops.cli.app import app, audit_app
from gitcops.cli.common import (
    Env,
    Output,
    Repo,
    Rev,
    State,
    check_output,
    open_state,
    source_with_env,
)
from gitcops.cli.errors import handle_errors
from gitcops.cli.output import emit_json, err, out

if TYPE_CHECKING:
    pass


@app.command()
@handle_errors
def drift(env: Env, repo: Repo = ".", state: State = None, output: Output = "text") -> None:
    """Compare live objects with what was last applied; exit 2 if they differ."""
    from gitcops.engine.inspect import detect_drift
    from gitcops.model.sensitive import CHANGED, is_token
    from gitcops.plan.text import show_value

    check_output(output)
    source = source_with_env(repo, env)
    report = detect_drift(source, env, open_state(state))
    if output == "json":
        emit_json("DriftReport", report.as_json())
    elif not report.items:
        out(f"No drift: {report.checked} resources of {report.scope} match what was applied.")
    else:
        out(f"Drift in {report.scope} ({len(report.items)} of {report.checked} resources):")
        for item in report.items:
            out(f"  {item.state}: {item.id}")
            for d in item.diff:
                if is_token(d.old) and is_token(d.new):
                    out(f"      {d.field}: {CHANGED}")
                else:
                    out(f"      {d.field}: applied {show_value(d.old)}, live {show_value(d.new)}")
    if report.items:
        raise typer.Exit(2)


@app.command()
@handle_errors
def status(repo: Repo = ".", rev: Rev = None, state: State = None, output: Output = "text") -> None:
    """Per environment: applied and latest revisions, in sync or not, healthy or not."""
    from gitcops.engine.inspect import environment_views
    from gitcops.engine.workspace import open_source

    check_output(output)
    views = environment_views(open_source(repo), open_state(state), rev)
    if output == "json":
        emit_json("Status", {"environments": [v.as_json() for v in views]})
        return
    out(f"{'ENVIRONMENT':<14}{'APPLIED':<14}{'LATEST':<14}{'SYNC':<10}{'HEALTH':<10}LAST RUN")
    for view in views:
        st = view.status
        applied = st.applied_revision[:12] if st and st.applied_revision else "-"
        sync = "in-sync" if view.in_sync else "outdated" if st else "never"
        health = "-" if not st or st.healthy is None else "healthy" if st.healthy else "unhealthy"
        last = f"#{st.last_run_id} {st.last_run_status}" if st else "-"
        out(
            f"{view.name:<14}{applied:<14}{view.latest_revision[:12]:<14}{sync:<10}{health:<10}{last}"
        )


@app.command()
@handle_errors
def history(
    env: Annotated[str | None, typer.Option("--env", "-e", help="Only this environment.")] = None,
    repo: Repo = ".",
    state: State = None,
    limit: Annotated[int, typer.Option(help="How many runs.")] = 20,
    output: Output = "text",
) -> None:
    """List runs, newest first."""
    import time

    from gitcops.engine.inspect import history as run_history

    check_output(output)
    source = source_with_env(repo, env)
    runs = run_history(source, open_state(state), env, limit)
    if output == "json":
        emit_json(
            "History",
            {
                "runs": [
                    {
                        "id": r.id,
                        "environment": r.scope,
                        "kind": r.kind,
                        "revision": r.revision,
                        "trigger": r.trigger,
                        "actor": r.actor,
                        "startedAt": r.started_at,
                        "finishedAt": r.finished_at,
                        "status": r.status,
                        "summary": r.summary,
                        "warnings": r.warnings,
                    }
                    for r in runs
                ]
            },
        )
        return
    out(f"{'RUN':<6}{'ENVIRONMENT':<22}{'KIND':<10}{'REVISION':<14}{'STATUS':<13}{'WHEN':<21}ACTOR")
    for r in runs:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.started_at))
        out(
            f"{r.id:<6}{r.scope:<22}{r.kind:<10}{r.revision[:12]:<14}{r.status:<13}{when:<21}{r.actor}"
        )


@audit_app.command("verify")
@handle_errors
def audit_verify(state: State = None, output: Output = "text") -> None:
    """Recompute the audit log's hash chain; exit 1 if any entry was altered or removed."""
    check_output(output)
    verdict = open_state(state).verify_audit()
    if output == "json":
        emit_json(
            "AuditVerification",
            {
                "ok": verdict.ok,
                "entries": verdict.entries,
                "firstBadSeq": verdict.first_bad_seq,
                "problem": verdict.problem or None,
            },
        )
    elif verdict.ok:
        out(f"Audit log intact: {verdict.entries} entries, hash chain verified.")
    else:
        err(f"Audit log TAMPERED at entry {verdict.first_bad_seq}: {verdict.problem}")
    if not verdict.ok:
        raise typer.Exit(1)


@audit_app.command("log")
@handle_errors
def audit_log(
    env: Annotated[str | None, typer.Option("--env", "-e", help="Scope: project/env.")] = None,
    state: State = None,
    output: Output = "text",
) -> None:
    """Print the audit log, oldest first."""
    import time

    check_output(output)
    entries = list(open_state(state).audit(env))
    if output == "json":
        emit_json(
            "AuditLog",
            {
                "entries": [
                    {
                        "seq": e.seq,
                        "ts": e.ts,
                        "scope": e.scope,
                        "run": e.run_id,
                        "actor": e.actor,
                        "action": e.action,
                        "subject": e.subject,
                        "detail": e.detail,
                        "hash": e.hash,
                    }
                    for e in entries
                ]
            },
        )
        return
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.ts))
        out(f"{e.seq:>6} {when} {e.scope:<20} {e.actor:<12} {e.action:<22} {e.subject}")
