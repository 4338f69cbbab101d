"""Make a Plan for a workspace: desired (Git) vs live (providers) vs last applied (state)."""

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from gitcops.engine.workspace import Workspace, desired_state
from gitcops.model.errors import ProviderError
from gitcops.model.identity import ResourceId
from gitcops.model.sensitive import Redactor
from gitcops.plan.model import Plan, PlannedChange, live_fingerprint, spec_hash
from gitcops.plan.planner import Applied, Desired, plan_changes
from gitcops.providers.base import Declared, Provider, ReadRequest
from gitcops.state.records import InventoryEntry
from gitcops.state.store import StateStore
from gitcops.validate.resources import DesiredResource

LiveMap = dict[ResourceId, dict[str, Any] | None]


# A NamedTuple, not a frozen dataclass: defining one at start-up costs ~10x less.
class PlanResult(NamedTuple):
    plan: Plan
    desired: list[DesiredResource]
    inventory_size: int = 0
    # What the plan was made against: an apply holding the lock reuses it instead of reading
    # (and decoding) every row again.
    inventory: dict[ResourceId, InventoryEntry] | None = None


def to_desired(items: list[DesiredResource], redactor: Callable[[], Redactor]) -> list[Desired]:
    return [
        Desired(
            id=i.resource.id,
            api_version=i.resource.api_version,
            spec=i.resource.spec,
            depends_on=i.depends_on,
            stateful=i.stateful,
            address=i.address,
            origin=f"{i.resource.origin.file}#{i.resource.origin.index + 1}",
            sensitive=i.sensitive,
            digest=spec_hash(redactor().protect(i.resource.spec, i.sensitive))
            if i.sensitive
            else "",
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


def read_one(
    providers: Mapping[str, Provider], rid: ResourceId, spec: dict[str, Any]
) -> dict[str, Any] | None:
    provider = providers.get(rid.provider)
    if provider is None:
        raise ProviderError(f"{rid}: provider {rid.provider!r} is not configured any more")
    return provider.read(ReadRequest(rid, spec)).live


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
    for want in desired:
        if want.stateful:
            wanted[want.id] = want
            state.current[want.id] = read_one(providers, want.id, want.spec)
    for rid, old in applied.items():
        still = wanted.get(rid)
        if still is not None and (old.address is None or old.address == still.address):
            continue
        provider = providers.get(rid.provider)
        spec = old.spec
        if provider is None or (
            old.address is not None and provider.address(rid, spec) != old.address
        ):
            state.unreachable[rid] = old.address or str(rid)
            continue
        target = state.previous if still is not None else state.current
        target[rid] = read_one(providers, rid, spec)
    return state


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
        candidates = [Declared(a.id, a.spec) for a in gone if a.id.provider == name]
        if not candidates:
            continue
        present = [Declared(d.id, d.spec) for d in desired if d.id.provider == name]
        for edge in provider.implicit_edges([*present, *candidates]):
            if edge.dependent in wanted and edge.dependency not in wanted:
                needed.setdefault(edge.dependency, edge.dependent)
    return needed


def fingerprint(changes: Sequence[PlannedChange]) -> str:
    """Over what was read, with secrets as their keyed hashes: a plan file may be shared."""
    return live_fingerprint([(str(c.id), c.public_before) for c in changes])


def make_plan(ws: Workspace, store: StateStore, *, with_fingerprint: bool = True) -> PlanResult:
    """`with_fingerprint` costs a hash per object; only saved and JSON plans need it."""
    items = desired_state(ws)
    started = time.perf_counter()
    redactor = store_redactor(store)
    desired = to_desired(items, redactor)
    status = store.env_status(ws.scope)
    applied = store.inventory(ws.scope)
    live = read_live(ws.providers, desired, applied)
    ws.timings["read live"] = time.perf_counter() - started
    changes = protect(
        plan_changes(
            desired,
            live.current,
            applied,
            previous=live.previous,
            unreachable=live.unreachable,
            needed_by=still_needed(ws.providers, desired, applied),
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
    return PlanResult(plan, items, len(applied), applied)
