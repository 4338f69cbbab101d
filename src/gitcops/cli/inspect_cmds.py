"""drift, status, history and the audit log: read-only views of the state."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from gitcops.cli.app import app, audit_app
from gitcops.cli.common import (
    Env,
    NoCache,
    OptionalEnv,
    Output,
    Repo,
    Rev,
    State,
    check_output,
    runtime,
    write_atomically,
)
from gitcops.cli.errors import handle_errors
from gitcops.cli.output import emit_json, err, out


@app.command()
@handle_errors
def drift(
    env: Env,
    repo: Repo = ".",
    state: State = None,
    output: Output = "text",
    no_cache: NoCache = False,
) -> None:
    """Compare live objects with what was last applied; exit 2 if they differ."""
    from gitcops.engine.inspect import drift_report
    from gitcops.model.sensitive import CHANGED, is_token
    from gitcops.plan.text import show_value

    check_output(output)
    with runtime(no_cache) as rt:
        report = drift_report(rt, repo, env, state)
    if output == "json":
        emit_json("DriftReport", report.as_json())
    elif not report.items:
        out(f"No drift: {report.checked} resources of {report.scope} match what was applied.")
    else:
        out(f"Drift in {report.scope} ({len(report.items)} of {report.checked} resources):")
        for item in report.items:
            out(f"  {item.state}: {item.id} (drift mode {item.mode})")
            for d in item.diff:
                if is_token(d.old) and is_token(d.new):
                    out(f"      {d.field}: {CHANGED}")
                else:
                    out(f"      {d.field}: applied {show_value(d.old)}, live {show_value(d.new)}")
    if report.items:
        raise typer.Exit(2)


@app.command()
@handle_errors
def status(
    repo: Repo = ".",
    rev: Rev = None,
    state: State = None,
    output: Output = "text",
    no_cache: NoCache = False,
) -> None:
    """Per environment: applied and latest revisions, in sync or not (the last run succeeded
    and a plan of the latest revision would change nothing), healthy or not."""
    import time

    from gitcops.engine.inspect import status_report

    check_output(output)
    with runtime(no_cache) as rt:
        report = status_report(rt, repo, rev, state)
    if output == "json":
        emit_json("Status", report.as_json())
        return
    if report.note:
        out(report.note)
        return
    out(f"{'ENVIRONMENT':<14}{'APPLIED':<14}{'LATEST':<14}{'SYNC':<10}{'HEALTH':<11}LAST RUN")
    for view in report.environments:
        st = view.status
        applied = st.applied_revision[:12] if st and st.applied_revision else "-"
        sync = "in-sync" if view.in_sync else "outdated" if st else "never"
        health = "-" if not st or st.healthy is None else "healthy" if st.healthy else "unhealthy"
        last = f"#{st.last_run_id} {st.last_run_status}" if st else "-"
        out(
            f"{view.name:<14}{applied:<14}{view.latest_revision[:12]:<14}{sync:<10}"
            f"{health:<11}{last}"
        )
    for view in report.environments:
        notes = []
        if not view.in_sync and view.status is not None and view.reason:
            notes.append(view.reason)
        control = view.control
        if control.suspended:
            why = f": {control.suspended_reason}" if control.suspended_reason else ""
            notes.append(f"suspended{why}")
        if control.pin:
            until = " until the branch moves" if control.pinned_head else ""
            notes.append(f"pinned to {control.pin[:12]}{until}")
        if control.bad:
            notes.append("bad revisions: " + ", ".join(r[:12] for r in control.bad))
        reconcile = view.last_reconcile
        if reconcile is not None:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(reconcile.at))
            notes.append(f"agent {when}: {reconcile.outcome} ({reconcile.reason})")
            if reconcile.source_error:
                notes.append(f"source unreachable: {reconcile.source_error}")
        for note in notes:
            out(f"  {view.name}: {note}")


@app.command()
@handle_errors
def history(
    env: OptionalEnv = None,
    repo: Repo = ".",
    state: State = None,
    limit: Annotated[int, typer.Option(min=1, help="How many runs.")] = 20,
    output: Output = "text",
    no_cache: NoCache = False,
) -> None:
    """List runs, newest first."""
    import time

    from gitcops.engine.inspect import run_as_json, run_history

    check_output(output)
    with runtime(no_cache) as rt:
        runs = run_history(rt, repo, env, state, limit)
    if output == "json":
        emit_json("History", {"runs": [run_as_json(r) for r in runs]})
        return
    out(f"{'RUN':<6}{'ENVIRONMENT':<22}{'KIND':<10}{'REVISION':<14}{'STATUS':<13}{'WHEN':<21}ACTOR")
    for r in runs:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.started_at))
        out(
            f"{r.id:<6}{r.scope:<22}{r.kind:<10}{r.revision[:12]:<14}{r.status:<13}{when:<21}{r.actor}"
        )


@audit_app.command("verify")
@handle_errors
def audit_verify(
    state: State = None,
    output: Output = "text",
    head: Annotated[
        str | None,
        typer.Option(
            "--head",
            metavar="SEQ:HASH",
            help="A head kept elsewhere (printed by an earlier verify, sent with every "
            "notification): the log must still hold that entry with that hash.",
        ),
    ] = None,
) -> None:
    """Recompute the audit log's hash chain; exit 1 if any entry was altered or removed."""
    from gitcops.engine.inspect import audit_verdict_as_json, verify_audit
    from gitcops.state.records import AuditHead

    check_output(output)
    try:
        checked = AuditHead.parse(head) if head is not None else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--head'") from None
    with runtime() as rt:
        verdict = verify_audit(rt, state, checked)
    if output == "json":
        emit_json("AuditVerification", audit_verdict_as_json(verdict, checked))
    elif verdict.ok:
        also = f"; entry {checked.seq} matches the head given" if checked is not None else ""
        out(f"Audit log intact: {verdict.entries} entries, hash chain verified{also}.")
        out(f"head {verdict.head}" if verdict.head is not None else "head: none (no entries)")
    else:
        err(f"Audit log TAMPERED at entry {verdict.first_bad_seq}: {verdict.problem}")
    if not verdict.ok:
        raise typer.Exit(1)


@audit_app.command("log")
@handle_errors
def audit_log(
    env: Annotated[
        str | None,
        typer.Option(
            "--env",
            "-e",
            help="Only this environment: a name of the project at --repo, or PROJECT/ENV.",
        ),
    ] = None,
    repo: Annotated[
        str | None,
        typer.Option("--repo", help="The project whose environment --env names (default: .)."),
    ] = None,
    state: State = None,
    output: Output = "text",
) -> None:
    """Print the audit log, oldest first."""
    import time

    from gitcops.engine.inspect import audit_entries, audit_entry_as_json
    from gitcops.engine.workspace import head_project

    check_output(output)
    with runtime() as rt:
        scope = env
        if env is not None and ("/" not in env or repo is not None):
            scope = f"{head_project(rt, repo or '.', env).name}/{env}"
        entries = audit_entries(rt, state, scope)
    if output == "json":
        emit_json("AuditLog", {"entries": [audit_entry_as_json(e) for e in entries]})
        return
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.ts))
        out(f"{e.seq:>6} {when} {e.scope:<20} {e.actor:<12} {e.action:<22} {e.subject}")


@app.command("import")
@handle_errors
def import_(
    env: Env,
    ids: Annotated[
        list[str] | None,
        typer.Argument(
            help="Objects to import, as group/Kind/name (postgres.gitcops.io/Role/app; "
            "per-database kinds: postgres.gitcops.io/Schema/DATABASE.NAME)."
        ),
    ] = None,
    all_kinds: Annotated[
        list[str] | None,
        typer.Option("--all", help="Every object of this kind (repeatable): Kind or group/Kind."),
    ] = None,
    provider: Annotated[
        str | None, typer.Option("--provider", help="The provider instance to read through.")
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the documents here (default: stdout).")
    ] = None,
    repo: Repo = ".",
    no_cache: NoCache = False,
) -> None:
    """Write documents for existing objects, ready to commit. Nothing is managed until that
    commit is applied; each document carries gitcops.io/adopt: "true"."""
    import yaml

    from gitcops.cli.errors import fail
    from gitcops.engine.importing import import_documents

    if not ids and not all_kinds:
        fail("name objects to import, or --all KIND")
    with runtime(no_cache) as rt:
        docs = import_documents(
            rt, repo, env, ids or [], all_kinds=all_kinds or [], provider=provider
        )
    text = yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False)
    if out_file is None:
        sys.stdout.write(text)
    else:
        write_atomically(out_file, text.encode())
        err(f"Wrote {len(docs)} document{'s' if len(docs) != 1 else ''} to {out_file}")
