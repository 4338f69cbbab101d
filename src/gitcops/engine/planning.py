"""Make a Plan for a workspace: desired (Git) vs live (providers) vs last applied (state)."""

import functools
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from gitcops.engine.runtime import Runtime
from gitcops.engine.workspace import Workspace, desired_state
from gitcops.model.diagnostics import Diagnostics
from gitcops.model.drift import DriftMode, IgnoreRule, ignored_pointers
from gitcops.model.errors import GitcopsError, ProviderError
from gitcops.model.findings import Finding
from gitcops.model.identity import ResourceId
from gitcops.model.project import Environment, Project
from gitcops.model.resource import ADOPT, Resource
from gitcops.model.sensitive import FieldPath, Redactor
from gitcops.plan.model import ChangeAction, Plan, PlannedChange, live_fingerprint, spec_hash
from gitcops.plan.planner import Applied, Desired, plan_changes
from gitcops.providers.base import BatchReader, Declared, Preflight, Provider, ReadRequest
from gitcops.state.records import InventoryEntry
from gitcops.state.store import StateStore
from gitcops.validate.resources import DesiredResource

if TYPE_CHECKING:
    from gitcops.engine.approving import TrustRoot
    from gitcops.engine.policy_check import PolicyOptions
    from gitcops.plan.risk import Risk

LiveMap = dict[ResourceId, dict[str, Any] | None]


class PlanResult(NamedTuple):
    plan: Plan
    desired: list[DesiredResource]
    inventory_size: int = 0
    # What the plan was made against: an apply holding the lock reuses it instead of reading
    # (and decoding) every row again.
    inventory: dict[ResourceId, InventoryEntry] | None = None


class DriftSettings(NamedTuple):
    """An environment's drift mode and ignore rules, as gitcops.yaml gives them."""

    mode: DriftMode = DriftMode.DETECT
    rules: tuple[IgnoreRule, ...] = ()

    @classmethod
    def of(cls, project: Project, env: Environment) -> "DriftSettings":
        return cls(env.drift, project.ignore_rules(env))

    def mode_of(self, resource: Resource) -> DriftMode:
        return resource.drift_mode or self.mode

    def ignored(self, rid: ResourceId) -> tuple[str, ...]:
        return ignored_pointers(self.rules, rid) if self.rules else ()


_NO_SETTINGS = DriftSettings()


def to_desired(
    items: list[DesiredResource],
    redactor: Callable[[], Redactor],
    drift: DriftSettings = _NO_SETTINGS,
) -> list[Desired]:
    return [
        Desired(
            id=i.resource.id,
            api_version=i.resource.api_version,
            spec=i.resource.spec,
            depends_on=i.depends_on,
            stateful=i.stateful,
            address=i.address,
            origin=f"{i.resource.origin.file}#{i.resource.origin.position + 1}",
            sensitive=i.sensitive,
            digest=spec_hash(redactor().protect(i.resource.spec, i.sensitive))
            if i.sensitive
            else "",
            prune=i.resource.prune,
            drift=drift.mode_of(i.resource),
            ignored=drift.ignored(i.resource.id),
            instance=i.resource.instance,
            replace_fields=i.replace_fields,
        )
        for i in items
    ]


def store_redactor(store: StateStore) -> Callable[[], Redactor]:
    """The installation's redactor, its key read only if a secret is about."""
    return functools.cache(lambda: Redactor(store.redaction_key()))


def protect(
    changes: Sequence[PlannedChange], redactor: Callable[[], Redactor]
) -> tuple[PlannedChange, ...]:
    """Give every change with secrets its protected form (what plans and the state keep)."""
    return tuple(
        c._replace(
            protected=(
                redactor().protect(c.before, c.sensitive_before),
                redactor().protect(c.after, c.sensitive),
            ),
        )
        if c.sensitive_before and c.protected is None
        else c
        for c in changes
    )


class ToRead(NamedTuple):
    """One object to read: through which instance, as which spec, with what it was given."""

    key: ResourceId
    instance: str
    spec: dict[str, Any]
    state: Mapping[str, Any] | None = None


def read_objects(
    providers: Mapping[str, Provider], items: Sequence[ToRead]
) -> list[dict[str, Any] | None]:
    """Live state of every item, in order (one id may be read twice: a resource that moved).
    A provider that reads in batches gets each kind's requests in one call, and those calls run
    at once, on threads (a remote system's round trips overlap); others are read one by one,
    here (local reads gain nothing from threads)."""
    out: list[dict[str, Any] | None] = [None] * len(items)
    batches: dict[tuple[str, str], list[int]] = {}
    # isinstance against a Protocol inspects the class each time: once per instance, not item.
    batching = {name: isinstance(p, BatchReader) for name, p in providers.items()}
    for n, item in enumerate(items):
        provider = providers.get(item.instance)
        if provider is None:
            raise ProviderError(f"{item.key}: provider {item.instance!r} is not configured")
        if batching[item.instance]:
            batches.setdefault((item.instance, item.key.kind), []).append(n)
        else:
            out[n] = provider.read(ReadRequest(item.key, item.spec, item.state)).live

    def read_batch(positions: list[int]) -> list[dict[str, Any] | None]:
        group = [items[n] for n in positions]
        provider = providers[group[0].instance]
        assert isinstance(provider, BatchReader)
        answers = provider.read_batch([ReadRequest(i.key, i.spec, i.state) for i in group])
        if len(answers) != len(group):
            raise ProviderError(
                f"provider {group[0].instance}: {len(answers)} answers for {len(group)} reads"
            )
        return [a.live for a in answers]

    groups = list(batches.values())
    if len(groups) == 1:
        results = [read_batch(groups[0])]
    elif groups:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(groups))) as pool:
            results = list(pool.map(read_batch, groups))
    else:
        results = []
    for positions, lives in zip(groups, results, strict=True):
        for n, live in zip(positions, lives, strict=True):
            out[n] = live
    return out


@dataclass
class LiveState:
    current: LiveMap  # desired resources, and inventory entries still reachable
    previous: LiveMap  # objects resources managed before they moved
    unreachable: dict[ResourceId, str]  # inventory entries not reachable as recorded


def read_live(
    providers: Mapping[str, Provider],
    desired: list[Desired],
    applied: Mapping[ResourceId, Applied],
) -> LiveState:
    state = LiveState({}, {}, {})
    wanted: dict[ResourceId, Desired] = {}
    current: list[ToRead] = []
    previous: list[ToRead] = []
    for want in desired:
        if want.stateful:
            wanted[want.id] = want
            old = applied.get(want.id)
            instance = want.provider
            same = old is not None and old.provider == instance
            kept = old.state if old is not None and same else None
            current.append(ToRead(want.id, instance, want.spec, kept))
    for rid, old in applied.items():
        still = wanted.get(rid)
        if still is not None and (old.address is None or old.address == still.address):
            continue
        instance = old.provider
        provider = providers.get(instance)
        spec = old.spec
        if provider is None or (
            old.address is not None and provider.address(rid, spec) != old.address
        ):
            state.unreachable[rid] = old.address or str(rid)
            continue
        target = previous if still is not None else current
        target.append(ToRead(rid, instance, spec, old.state))
    lives = read_objects(providers, [*current, *previous])
    state.current = {i.key: live for i, live in zip(current, lives[: len(current)], strict=True)}
    state.previous = {i.key: live for i, live in zip(previous, lives[len(current) :], strict=True)}
    return state


class Wanted(NamedTuple):
    """A desired spec, as fill_write_only needs it."""

    id: ResourceId
    instance: str
    spec: dict[str, Any]
    sensitive: tuple[FieldPath, ...] = ()

    @property
    def provider(self) -> str:
        """The provider instance that manages it (its type's when not named)."""
        return self.instance or self.id.provider


def fill_write_only(
    providers: Mapping[str, Provider],
    wanted: Iterable[Wanted],
    live: Mapping[ResourceId, dict[str, Any] | None],
    applied: Mapping[ResourceId, Applied],
    redactor: Callable[[], Redactor],
) -> None:
    """Fields a system never reports take their last applied value; a secret's is its keyed
    hash, so it compares equal to the desired value only while the secret is unchanged (a
    rotated secret shows as changed; the value itself is never read back)."""
    for want in wanted:
        now, old = live.get(want.id), applied.get(want.id)
        provider = providers.get(want.provider)
        if now is None or old is None or provider is None:
            continue
        fields = provider.kinds()[want.id.kind].write_only_fields
        before = old.spec if fields else {}
        for name in fields:
            if name not in before:
                continue
            if (name,) in want.sensitive and name in want.spec:
                token = redactor().protect({name: want.spec[name]}, [(name,)])[name]
                now[name] = want.spec[name] if token == before[name] else before[name]
            else:
                now[name] = before[name]


def still_needed(
    providers: Mapping[str, Provider],
    desired: list[Desired],
    applied: Mapping[ResourceId, Applied],
) -> dict[ResourceId, ResourceId]:
    """Objects that left Git but that desired resources still depend on (implicit edges)."""
    wanted = {d.id for d in desired}
    gone = [a for a in applied.values() if a.id not in wanted]
    needed: dict[ResourceId, ResourceId] = {}
    for name, provider in providers.items():
        candidates = [Declared(a.id, a.spec) for a in gone if a.provider == name]
        if not candidates:
            continue
        present = [Declared(d.id, d.spec) for d in desired if d.provider == name]
        for edge in provider.implicit_edges([*present, *candidates]):
            if edge.dependent in wanted and edge.dependency not in wanted:
                needed.setdefault(edge.dependency, edge.dependent)
    return needed


def fingerprint(changes: Sequence[PlannedChange]) -> str:
    """Over what was read, with secrets as their keyed hashes: a plan file may be shared."""
    return live_fingerprint([(str(c.id), c.public_before) for c in changes])


class AdoptionRefusedError(GitcopsError):
    """Objects of a remote system exist but were never managed: taken over only when asked."""

    def __init__(self, changes: Sequence[PlannedChange]) -> None:
        self.ids = [c.id for c in changes]
        listed = "\n".join(f"  {c.id} (provider {c.provider})" for c in changes)
        super().__init__(
            f"{len(changes)} existing object(s) not managed by gitcops would be adopted:\n"
            f"{listed}\nreview their field diff in the plan, then run again with --adopt, or "
            'annotate the document with gitcops.io/adopt: "true"'
        )


def adoption_refusals(
    providers: Mapping[str, Provider],
    items: Sequence[DesiredResource],
    plan: Plan,
    managed: Collection[ResourceId],
) -> list[PlannedChange]:
    """Adoptions of remote systems' objects that nobody asked for (--adopt or annotation),
    replacements of objects never managed included."""
    asked = {i.resource.id for i in items if i.resource.annotations.get(ADOPT) == "true"}
    refused = [
        c
        for c in plan.changes
        if (
            c.action is ChangeAction.ADOPT
            or (c.action is ChangeAction.REPLACE and c.id not in managed)
        )
        and c.id not in asked
        and getattr(providers.get(c.provider), "explicit_adoption", False)
    ]
    return refused


def preflight(providers: Mapping[str, Provider], items: Sequence[DesiredResource]) -> None:
    """The providers' live checks (does the owner exist?): plan and apply run them, validate
    never does (it works without credentials)."""
    diags = Diagnostics()
    by_instance: dict[str, list[DesiredResource]] = {}
    for item in items:
        by_instance.setdefault(item.resource.provider, []).append(item)
    for name, group in by_instance.items():
        provider = providers.get(name)
        if not isinstance(provider, Preflight):
            continue
        by_id = {i.resource.id: i.resource for i in group}
        for rid, path, message in provider.preflight(
            [Declared(i.resource.id, i.resource.spec) for i in group]
        ):
            res = by_id[rid]
            diags.error(message, file=res.origin.file, document=res.where(), path=path)
    diags.raise_if_errors()


def make_plan(
    ws: Workspace,
    store: StateStore,
    *,
    with_fingerprint: bool = True,
    prune_reason: str = "pruned: no longer in Git",
    adopt: bool | None = None,
) -> PlanResult:
    """`with_fingerprint` costs a hash per object; only saved and JSON plans need it.
    `adopt`: None for a look only (drift, status); else the plan is for applying: live checks
    run first, and adopting a remote system's objects needs True or their annotation."""
    items = desired_state(ws)
    started = time.perf_counter()
    if adopt is not None:
        preflight(ws.providers, items)
    redactor = store_redactor(store)
    desired = to_desired(items, redactor, DriftSettings.of(ws.project, ws.environment))
    status = store.env_status(ws.scope)
    applied = store.inventory(ws.scope)
    live = read_live(ws.providers, desired, applied)
    fill_write_only(
        ws.providers,
        (Wanted(d.id, d.instance, d.spec, d.sensitive) for d in desired),
        live.current,
        applied,
        redactor,
    )
    ws.timings["read live"] = time.perf_counter() - started
    changes = protect(
        plan_changes(
            desired,
            live.current,
            applied,
            previous=live.previous,
            unreachable=live.unreachable,
            needed_by=still_needed(ws.providers, desired, applied),
            prune_reason=prune_reason,
        ),
        redactor,
    )
    ws.timings["plan"] = time.perf_counter() - started - ws.timings["read live"]
    plan = Plan(
        project=ws.project.name,
        environment=ws.environment.name,
        revision=ws.revision.commit,
        requested_revision=ws.revision.requested,
        tree=ws.revision.tree,
        author=ws.revision.author,
        created_at=time.time(),
        changes=changes,
        inventory_serial=status.serial if status else 0,
        live_fingerprint=fingerprint(changes) if with_fingerprint else "",
    )
    if adopt is False:
        refused = adoption_refusals(ws.providers, items, plan, applied)
        if refused:
            raise AdoptionRefusedError(refused)
    return PlanResult(plan, items, len(applied), applied)


def open_checked(
    rt: Runtime, repo: str, env: str, rev: str | None = None, worktree: bool = False
) -> Workspace:
    """Open, render and validate an environment whose policies will be checked next: all
    checks pass before anything (state included) is written. On a first run, the secret
    scanner's child is forked first, so that it loads while this process renders."""
    from gitcops.engine.policy_check import hand_over, warm_up
    from gitcops.engine.secret_scanner import start_early
    from gitcops.engine.workspace import EarlyScan, open_workspace

    early = start_early(rt)
    try:
        ws = open_workspace(rt, rt.source(repo), env, rev, worktree)
    except BaseException:
        if early is not None:
            early.cancel()
        raise
    try:
        warm_up(ws, EarlyScan(early) if early is not None else None)
        desired_state(ws)
        hand_over(ws)
    except BaseException:
        ws.close()
        raise
    return ws


class PlanReport(NamedTuple):
    """A plan and what policy says of it. The plan's warnings are the policy notes."""

    plan: Plan
    findings: list[Finding]
    inventory_size: int
    timings: dict[str, float]
    # Adoptions apply would refuse (no --adopt, no annotation): shown, then an error.
    refused: tuple[PlannedChange, ...] = ()
    risk: "Risk | None" = None

    @property
    def blocked(self) -> bool:
        return any(f.blocking for f in self.findings)

    def as_json(self) -> dict[str, Any]:
        document = self.plan.as_json()
        document["policy"] = {
            "passed": not self.blocked,
            "findings": [f.as_json() for f in self.findings],
        }
        if self.risk is not None:
            document["risk"] = self.risk.as_json()
        return document


def policy_findings(
    ws: Workspace,
    plan: Plan,
    inventory_size: int,
    options: "PolicyOptions",
    risk: "Risk | None" = None,
) -> list[Finding]:
    """Resource policies (cached by tree), and plan policies when the plan changes something
    (they see the plan's risk as input.risk)."""
    from gitcops.engine.policy_check import check_plan, check_resources

    findings = list(check_resources(ws, options).findings)
    if plan.has_changes:
        scored = risk.as_json() if risk is not None else None
        findings += check_plan(ws, plan, inventory_size, options, scored).findings
    return findings


def plan_risk(ws: Workspace, store: StateStore, result: PlanResult) -> "Risk":
    return risk_of(ws, store, result.plan, result.desired, result.inventory or {})


def applied_here(store: StateStore, ws: Workspace) -> bool:
    """The workspace's revision is what the environment runs (and passed its gates)."""
    status = store.env_status(ws.scope)
    return status is not None and status.applied_revision == ws.revision.commit


def risk_of(
    ws: Workspace,
    store: StateStore,
    plan: Plan,
    desired: Sequence[DesiredResource],
    inventory: Mapping[ResourceId, InventoryEntry],
    root: "TrustRoot | None" = None,
) -> "Risk":
    """The plan's risk; for what runs already, unchanged, none (and nothing looked up)."""
    from gitcops.engine.risk import assess_plan
    from gitcops.plan.risk import Risk

    if not plan.has_changes and applied_here(store, ws):
        return Risk(0, ())
    wanted = {d.resource.id for d in desired}
    gone = {rid: e.depends_on for rid, e in inventory.items() if rid not in wanted}
    return assess_plan(ws, store, desired, plan, gone, root)


def with_notes(plan: Plan, findings: list[Finding]) -> Plan:
    """The plan carrying the policy warnings and waivers shown with it (a saved plan keeps them)."""
    from gitcops.engine.policy_check import PolicyReport

    notes = PolicyReport(findings).notes()
    return plan._replace(warnings=tuple(dict.fromkeys([*plan.warnings, *notes])))


def plan_environment(
    rt: Runtime,
    repo: str,
    env: str,
    *,
    rev: str | None = None,
    worktree: bool = False,
    state: str | None = None,
    policy: "PolicyOptions | None" = None,
    fingerprint: bool = True,
    adopt: bool = False,
) -> PlanReport:
    """What apply would change (desired vs live vs last applied) and what policy says of it.
    `fingerprint=False` skips hashing what was read (only saved and JSON plans need it)."""
    from gitcops.engine.policy_check import PolicyOptions

    ws = open_checked(rt, repo, env, rev, worktree)
    try:
        store = rt.store(state)
        result = make_plan(ws, store, with_fingerprint=fingerprint, adopt=True)
        risk = plan_risk(ws, store, result)
        findings = policy_findings(
            ws, result.plan, result.inventory_size, policy or PolicyOptions(), risk
        )
        refused = (
            ()
            if adopt
            else adoption_refusals(
                ws.providers, result.desired, result.plan, result.inventory or {}
            )
        )
        return PlanReport(
            with_notes(result.plan, findings),
            findings,
            result.inventory_size,
            dict(ws.timings),
            tuple(refused),
            risk,
        )
    finally:
        ws.close()
