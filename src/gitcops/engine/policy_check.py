"""Policy checks for a workspace: Rego policies, the built-in library, secret scanning, waivers."""

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from gitcops.engine import findings_cache
from gitcops.engine.secret_scanner import SpecValues, start_early
from gitcops.engine.workspace import (
    EarlyScan,
    Workspace,
    checked_state,
    desired_cached,
    desired_state,
)
from gitcops.model.diagnostics import Diagnostic
from gitcops.model.errors import InvalidInputError
from gitcops.model.findings import Finding, Severity
from gitcops.plan.model import Plan
from gitcops.source.tree import SourceTree, walk_files
from gitcops.validate.policy.exceptions import Subject, apply_exceptions, parse_exceptions
from gitcops.validate.resources import DesiredResource

POLICY_DIR = "policies"
RESOURCE_BUILTIN = "gitcops.builtin.resources"
PLAN_BUILTIN = "gitcops.builtin.plan"
_FAILING_RULES = ("deny", "violation")


@dataclass(frozen=True, slots=True)
class PolicyOptions:
    extra_dirs: tuple[Path, ...] = ()  # --policy DIR
    namespaces: tuple[str, ...] = ()  # --namespace; empty: what gitcops.yaml says (main)
    today: dt.date = field(default_factory=dt.date.today)


@dataclass
class PolicyReport:
    findings: list[Finding] = field(default_factory=list)

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]

    @property
    def waived(self) -> list[Finding]:
        return [f for f in self.findings if f.waiver is not None]

    def notes(self) -> list[str]:
        """One line per warning and waiver: what a run records."""
        lines = [f"warning: {describe(f)}" for f in self.warnings]
        lines += [
            f"waived: {describe(f)} (by {f.waiver.owner} until {f.waiver.expires}: "
            f"{f.waiver.reason})"
            for f in self.waived
            if f.waiver is not None
        ]
        return lines


def describe(finding: Finding) -> str:
    where = finding.resource or (
        f"{finding.file}:{finding.line}" if finding.file and finding.line else finding.file
    )
    prefix = f"{where}: " if where else ""
    return f"{prefix}{finding.message} [{finding.rule}]"


def policy_files(tree: SourceTree, extra_dirs: Sequence[Path]) -> list[tuple[str, str]]:
    """(display path, text) of every .rego file: policies/ at the revision, then --policy dirs."""
    files = [
        (path, tree.read(path).decode("utf-8", "replace"))
        for path in walk_files(tree, POLICY_DIR)
        if path.endswith(".rego") and not path.endswith("_test.rego")
    ]
    return files + extra_policy_files(extra_dirs)


def extra_policy_files(extra_dirs: Sequence[Path]) -> list[tuple[str, str]]:
    """(path, text) of the .rego files under --policy directories, read from disk."""
    files = []
    for directory in extra_dirs:
        if not directory.is_dir():
            raise InvalidInputError(
                [Diagnostic(f"--policy {directory}: not a directory", str(directory))]
            )
        for path in sorted(directory.rglob("*.rego")):
            if not path.name.endswith("_test.rego"):
                files.append((str(path), path.read_text(errors="replace")))
    return files


def _settings(ws: Workspace) -> dict[str, Any]:
    return dict(ws.project.spec.policy)


def _builtin_config(settings: dict[str, Any]) -> dict[str, Any]:
    return {"gitcops": {"config": dict(settings.get("builtin", {}))}}


def _enabled(settings: dict[str, Any], name: str) -> bool:
    return bool(settings.get("builtin", {}).get(name, {}).get("enabled", True))


def _namespaces(
    settings: dict[str, Any], options: PolicyOptions, key: str, default: str
) -> list[str]:
    if options.namespaces and key == "namespaces":
        return list(options.namespaces)
    return list(settings.get(key, [default]))


def _engine(ws: Workspace, options: PolicyOptions) -> Any:
    """Compiled once per Runtime for the same policies and settings: plan and apply check
    resources and then the plan; an agent checks the same policies again and again."""
    from gitcops.validate.policy.builtin import active_builtin_policies
    from gitcops.validate.policy.engine import PolicyEngine, PolicyFile

    files = policy_files(ws.tree, options.extra_dirs)
    files += active_builtin_policies(_settings(ws).get("builtin", {}))
    config = _builtin_config(_settings(ws))
    key = ("policy-engine", json.dumps([files, config], sort_keys=True, default=str))
    return ws.runtime.memo(key, lambda: PolicyEngine([PolicyFile(p, t) for p, t in files], config))


def _evaluate(
    ws: Workspace, options: PolicyOptions, inputs: Sequence[dict[str, Any]], namespaces: Any
) -> list[Any]:
    rt = ws.runtime
    engine = _engine(ws, options)
    with rt.serialised_policy():
        return list(engine.evaluate(inputs, namespaces, workers=rt.policy_workers))


def resource_input(ws: Workspace, item: DesiredResource) -> dict[str, Any]:
    res = item.resource
    # Policies judge shapes, never secrets: they see the marker where a secret goes.
    document = item.public_document()
    document["gitcops"] = {
        "project": ws.project.name,
        "environment": ws.environment.name,
        "provider": res.id.provider,
        "id": str(res.id),
        "file": res.origin.file,
        "document": res.origin.position + 1,
    }
    return document


class _Raw(NamedTuple):
    """A policy result as the engine reports it (its RawFinding), rebuilt from the cache."""

    position: int  # of the input
    namespace: str
    rule: str
    message: str
    details: dict[str, Any]
    policy_file: str | None


def _to_finding(raw: Any, source: str, items: Sequence[DesiredResource] | None) -> Finding:
    severity = Severity.FAILURE if raw.rule in _FAILING_RULES else Severity.WARNING
    details = dict(raw.details)
    rule = f"{raw.namespace}.{raw.rule}"
    if source == "builtin" and isinstance(details.get("rule"), str):
        rule = f"builtin.{details.pop('rule')}"
    item = items[raw.position] if items is not None else None
    return Finding(
        source=source,
        rule=rule,
        severity=severity,
        message=raw.message,
        file=item.resource.origin.file if item else None,
        document=item.resource.where() if item else None,
        resource=str(item.resource.id) if item else None,
        policy_file=raw.policy_file,
        details=tuple(sorted(details.items())),
    )


def _spec_strings(
    value: Any, path: tuple[str | int, ...] = ("spec",), key: str | None = None
) -> Iterator[tuple[tuple[str | int, ...], str | None, str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _spec_strings(v, (*path, k), str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _spec_strings(v, (*path, i), key)
    elif isinstance(value, str):
        yield path, key, value


def _spec_values(item: DesiredResource) -> SpecValues:
    # Masked as policies see it: a secret from a reference is not plain text in Git.
    return list(_spec_strings(item.public_spec))


def _secret_rows(ws: Workspace, item: DesiredResource) -> list[findings_cache.SecretRow]:
    return ws.runtime.scanner.scan_each([_spec_values(item)])[0]


def warm_up(ws: Workspace, early: EarlyScan | None = None) -> None:
    """Before rendering, on a run whose policy check will load detect-secrets (~0.2 s: no
    process saved its detectors' fixed patterns in this cache directory yet, and the desired
    state is not cached), start loading it in a child, on the other core; or keep the one
    started even earlier (secret_scanner.start_early), which is cancelled if not needed."""
    wanted = (
        ws.early_scan is None
        and _enabled(_settings(ws), "plaintextSecrets")
        # cached: the check finds its findings cached too, or scans only a few documents
        and not desired_cached(ws)
    )
    if not wanted:
        if early is not None:
            early.scanner.cancel()
        return
    if early is None:
        scanner = start_early(ws.runtime)
        early = EarlyScan(scanner) if scanner is not None else None
    ws.early_scan = early


def hand_over(ws: Workspace) -> None:
    """Once the desired state is known, give the scanner that warm_up forked every document's
    values, so that it scans while the plan is made; the policy check then takes the rows of
    the documents it evaluates."""
    early = ws.early_scan
    if early is None or early.submitted is not None:
        return
    items = checked_state(ws).items
    early.scanner.submit([_spec_values(item) for item in items])
    early.submitted = items


def _take_scanner(ws: Workspace) -> EarlyScan | None:
    """The early scanner, with the documents already submitted to it (if any)."""
    early, ws.early_scan = ws.early_scan, None
    return early


def _secret_finding(item: DesiredResource, path: tuple[str | int, ...], what: str) -> Finding:
    from gitcops.model.diagnostics import format_path

    return Finding(
        source="builtin",
        rule="builtin.plaintext_secrets",
        severity=Severity.FAILURE,
        message=f"field {format_path(path)} holds {what} in plain text; "
        "encrypt it with SOPS and reference it instead",
        file=item.resource.origin.file,
        document=item.resource.where(),
        resource=str(item.resource.id),
    )


def _subjects(items: Sequence[DesiredResource]) -> dict[str, Subject]:
    return {
        str(i.resource.id): Subject(
            i.resource.kind, i.resource.name, i.resource.id.namespace or None, i.resource.labels
        )
        for i in items
    }


def _cache_key(ws: Workspace, options: PolicyOptions) -> str | None:
    """The Git tree id covers policies/ and every document; --policy dirs are hashed here; the
    code fingerprint covers the built-in policies and the scanner."""
    cache = ws.runtime.cache
    if cache is None or ws.tree.cache_key is None:
        return None
    return cache.key(
        "policy",
        ws.tree.cache_key,
        ws.environment.name,
        _settings(ws),
        list(options.namespaces),
        extra_policy_files(options.extra_dirs),
    )


def _encode(findings: list[Finding]) -> str:
    return json.dumps(
        [
            [
                f.source,
                f.rule,
                f.severity.value,
                f.message,
                f.file,
                f.line,
                f.document,
                f.resource,
                f.policy_file,
                [list(kv) for kv in f.details],
            ]
            for f in findings
        ]
    )


def _decode(text: str) -> list[Finding]:
    return [
        Finding(
            source=row[0],
            rule=row[1],
            severity=Severity(row[2]),
            message=row[3],
            file=row[4],
            line=row[5],
            document=row[6],
            resource=row[7],
            policy_file=row[8],
            details=tuple((k, v) for k, v in row[9]),
        )
        for row in json.loads(text)
    ]


def _resource_findings(
    ws: Workspace, options: PolicyOptions, items: list[DesiredResource] | None
) -> list[Finding]:
    """Raw (unwaived) findings about the environment's resources, cached by tree and config,
    and per document below that (_evaluate_resources). `items`: only these resources (the
    valid part of an invalid set), never cached as the tree's."""
    cache = ws.runtime.cache
    key = _cache_key(ws, options) if items is None else None
    if key is not None and cache is not None:
        data = cache.read("policy", key)
        if data is not None:
            try:
                return _decode(data.decode())
            except (ValueError, KeyError, IndexError, TypeError):
                pass
    findings = _evaluate_resources(ws, options, desired_state(ws) if items is None else items)
    if key is not None and cache is not None:
        cache.write("policy", key, _encode(findings))
    return findings


def _evaluate_resources(
    ws: Workspace, options: PolicyOptions, items: list[DesiredResource]
) -> list[Finding]:
    """Evaluate each document, or take its cached findings when nothing they depend on changed."""
    settings = _settings(ws)
    # One pass over the inputs for user and built-in namespaces: converting inputs is the cost.
    namespaces = [*_namespaces(settings, options, "namespaces", "main"), RESOURCE_BUILTIN]
    secrets = _enabled(settings, "plaintextSecrets")
    inputs = [resource_input(ws, item) for item in items]
    cache = ws.runtime.cache
    keys = [findings_cache.document_key(document) for document in inputs]
    stored = (
        findings_cache.DocumentFindings(
            cache.path(findings_cache.FOLDER, _bundle_key(ws, options, namespaces, secrets))
        )
        if cache is not None
        else None
    )
    rows = [stored.get(key) if stored is not None else None for key in keys]
    missing = [i for i, row in enumerate(rows) if row is None]
    if missing:
        fresh = _evaluate_documents(
            ws,
            options,
            [items[i] for i in missing],
            [inputs[i] for i in missing],
            namespaces,
            secrets,
        )
        if fresh is None:
            # A policy failed at run time: evaluated as a whole, the error names the input's
            # position among all documents (and nothing is cached).
            return _evaluate_all(ws, options, items, inputs, namespaces, secrets)
        for i, row in zip(missing, fresh, strict=True):
            rows[i] = row
    current = {k: r for k, r in zip(keys, rows, strict=True) if k is not None and r is not None}
    if stored is not None and (missing or len(current) != stored.size):
        stored.save(current)  # new entries, or entries of documents now gone
    findings = [
        _to_finding(
            _Raw(i, namespace, rule, message, details, policy_file),
            "builtin" if namespace == RESOURCE_BUILTIN else "policy",
            items,
        )
        for i, row in enumerate(rows)
        if row is not None
        for namespace, rule, message, details, policy_file in row[0]
    ]
    findings += [
        _secret_finding(items[i], path, what)
        for i, row in enumerate(rows)
        if row is not None
        for path, what in row[1]
    ]
    return findings


def _evaluate_all(
    ws: Workspace,
    options: PolicyOptions,
    items: Sequence[DesiredResource],
    inputs: Sequence[dict[str, Any]],
    namespaces: Sequence[str],
    secrets: bool,
) -> list[Finding]:
    findings = [
        _to_finding(raw, "builtin" if raw.namespace == RESOURCE_BUILTIN else "policy", items)
        for raw in _evaluate(ws, options, inputs, namespaces)
    ]
    if secrets:
        findings += [
            _secret_finding(item, path, what)
            for item in items
            for path, what in _secret_rows(ws, item)
        ]
    return findings


# Fewer documents are scanned here: forking costs more than it saves.
_FORK_SCAN_AT = 32


def _evaluate_documents(
    ws: Workspace,
    options: PolicyOptions,
    items: Sequence[DesiredResource],
    inputs: Sequence[dict[str, Any]],
    namespaces: Sequence[str],
    secrets: bool,
) -> list[tuple[list[findings_cache.PolicyRow], list[findings_cache.SecretRow]]] | None:
    """Fresh findings of each of *items*; None when a policy fails at run time on one of them
    (the index in that error would be a position among *items*, not among all documents)."""
    from gitcops.validate.policy.engine import PolicyRuntimeError

    results: list[tuple[list[findings_cache.PolicyRow], list[findings_cache.SecretRow]]] = [
        ([], []) for _ in items
    ]

    # Two independent CPU-bound jobs: on two cores the scan runs beside rego-cpp.
    rt = ws.runtime
    rt.count("policy documents evaluated", len(items))
    early = _take_scanner(ws) if secrets else None
    if early is not None and not secrets:
        early.scanner.cancel()
        early = None
    scanning = early.scanner if early is not None else None
    specs: list[SpecValues] = []
    if secrets and (early is None or early.submitted is None):
        early = None  # what the child scans is asked for here
        specs = [_spec_values(item) for item in items]
        if scanning is None and len(items) >= _FORK_SCAN_AT:
            scanning = rt.fork_worker(rt.scanner.scan_each)
        if scanning is not None:
            scanning.submit(specs)
    try:
        raws = _evaluate(ws, options, inputs, namespaces)
    except BaseException as exc:
        if scanning is not None:
            scanning.cancel()
        if isinstance(exc, PolicyRuntimeError):
            return None
        raise
    for raw in raws:
        row = (raw.namespace, raw.rule, raw.message, dict(raw.details), raw.policy_file)
        results[raw.position][0].append(row)
    if secrets:
        if early is not None and early.submitted is not None:
            found = _rows_of(ws, items, early.submitted, early.scanner.result())
        else:
            found = scanning.result() if scanning is not None else rt.scanner.scan_each(specs)
        for n, rows in enumerate(found):
            results[n][1].extend(rows)
    return results


def _rows_of(
    ws: Workspace,
    items: Sequence[DesiredResource],
    submitted: Sequence[DesiredResource],
    found: list[list[findings_cache.SecretRow]],
) -> list[list[findings_cache.SecretRow]]:
    """The scan rows of *items* out of those of everything submitted (the same objects)."""
    position = {id(item): n for n, item in enumerate(submitted)}
    out = []
    for item in items:
        n = position.get(id(item))
        out.append(found[n] if n is not None else _secret_rows(ws, item))
    return out


def _bundle_key(
    ws: Workspace, options: PolicyOptions, namespaces: Sequence[str], secrets: bool
) -> str:
    """Everything a document's findings depend on besides its own policy input (the built-in
    policies and the scanner are in the code fingerprint)."""
    assert ws.runtime.cache is not None
    return ws.runtime.cache.key(
        "policy-documents",
        ws.environment.name,  # one entry file per environment
        policy_files(ws.tree, options.extra_dirs),
        _settings(ws),
        list(namespaces),
        secrets,
    )


def check_resources(
    ws: Workspace, options: PolicyOptions, items: list[DesiredResource] | None = None
) -> PolicyReport:
    """Resource policies, the built-in library and the plaintext-secret check, on every
    desired resource (`items`: only these, e.g. the valid part of an invalid set)."""
    findings = _resource_findings(ws, options, items)
    return _waive(ws, findings, options, items)


def check_plan(
    ws: Workspace,
    plan: Plan,
    inventory_size: int,
    options: PolicyOptions,
    risk: dict[str, Any] | None = None,
) -> PolicyReport:
    """Plan policies (and the built-in blast-radius guard) over one plan.

    User plan policies get every change with its before and after; the built-in guard only
    needs the deletions' ids and the counts, so it gets those alone: rego-cpp holds an input as
    a tree of nodes, and a plan of 10,000 creates costs it hundreds of megabytes.
    """
    settings = _settings(ws)
    engine = _engine(ws, options)
    wanted = _namespaces(settings, options, "planNamespaces", "plan")
    user = [ns for ns in wanted if ns in engine.namespaces]
    findings = []
    if user:
        document = plan_input(plan, inventory_size, risk=risk)
        raws = _evaluate(ws, options, [document], user)
        findings += [_to_finding(raw, "policy", None) for raw in raws]
    light = plan_input(plan, inventory_size, bodies=False, only_deletes=True)
    raws = _evaluate(ws, options, [light], [PLAN_BUILTIN])
    findings += [_to_finding(raw, "builtin", None) for raw in raws]
    return _waive(ws, findings, options)


def scan_secrets(ws: Workspace, options: PolicyOptions) -> PolicyReport:
    if not _enabled(_settings(ws), "secretScanning"):
        return PolicyReport()
    return _waive(ws, ws.runtime.scanner.scan_tree(ws.tree), options)


def _waive(
    ws: Workspace,
    findings: list[Finding],
    options: PolicyOptions,
    items: list[DesiredResource] | None = None,
) -> PolicyReport:
    exceptions = parse_exceptions(_settings(ws))
    if not exceptions:
        return PolicyReport(findings)
    if any(f.resource for f in findings):
        subjects = _subjects(desired_state(ws) if items is None else items)
    else:
        subjects = {}
    return PolicyReport(
        apply_exceptions(
            findings,
            exceptions,
            environment=ws.environment.name,
            subjects=subjects,
            today=options.today,
        )
    )


def plan_input(
    plan: Plan,
    inventory_size: int,
    *,
    bodies: bool = True,
    only_deletes: bool = False,
    risk: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "risk": risk,
        "kind": "Plan",
        "project": plan.project,
        "environment": plan.environment,
        "revision": plan.revision,
        "author": plan.author,
        "summary": plan.summary.as_json(),
        "inventory": {"resources": inventory_size},
        "changes": [
            {
                "action": c.action.value,
                "id": str(c.id),
                "apiVersion": c.api_version,
                "kind": c.id.kind,
                "name": c.id.name,
                "namespace": c.id.namespace or None,
                "before": c.public_before if bodies else None,
                "after": c.public_after if bodies else None,
                "diff": [d.as_json() for d in c.public_diff()] if bodies else [],
                "reason": c.reason,
                "drift": c.drift.value if c.drift is not None else None,
            }
            for c in plan.changes
            # No-ops and checks are counted in the summary, not listed.
            if c.is_change and (not only_deletes or c.action.value == "delete")
        ],
    }
