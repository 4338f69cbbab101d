"""The planner: a pure function of (desired, live, last applied) to a Plan's ordered changes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gitcops.model.graph import topological_order
from gitcops.model.identity import ResourceId
from gitcops.plan.diff import diff, same
from gitcops.plan.model import ChangeAction, PlannedChange, spec_hash


@dataclass(frozen=True, slots=True)
class Desired:
    id: ResourceId
    api_version: str
    spec: dict[str, Any]
    depends_on: tuple[ResourceId, ...] = ()
    stateful: bool = True
    address: str | None = None
    origin: str = ""


class Applied(Protocol):
    """What the state store remembers of a resource: its last applied spec and edges."""

    @property
    def id(self) -> ResourceId: ...

    @property
    def api_version(self) -> str: ...

    @property
    def spec_hash(self) -> str: ...

    @property
    def depends_on(self) -> tuple[ResourceId, ...]: ...

    @property
    def address(self) -> str | None: ...

    @property
    def spec(self) -> dict[str, Any]:
        """Only prunes need the old spec, so implementations may parse it on demand."""
        ...


def _change(
    action: ChangeAction,
    want: Desired,
    before: dict[str, Any] | None,
    reason: str = "",
) -> PlannedChange:
    return PlannedChange(
        action,
        id=want.id,
        api_version=want.api_version,
        before=before,
        after=want.spec,
        diff=tuple(diff(before, want.spec)) if action is ChangeAction.UPDATE else (),
        depends_on=want.depends_on,
        reason=reason,
        origin=want.origin,
    )


def _desired_change(
    want: Desired, live: dict[str, Any] | None, applied: Applied | None
) -> PlannedChange:
    if not want.stateful:
        return _change(ChangeAction.CHECK, want, None)
    if live is None:
        reason = "deleted outside gitcops" if applied is not None else ""
        return _change(ChangeAction.CREATE, want, None, reason)
    if same(live, want.spec):
        return _change(
            ChangeAction.NOOP,
            want,
            live,
            "" if applied is not None else "adopted: already in place",
        )
    if applied is not None and applied.spec_hash == spec_hash(want.spec):
        reason = "drifted: changed outside gitcops"
    elif applied is None:
        reason = "exists, not yet managed"
    else:
        reason = ""
    return _change(ChangeAction.UPDATE, want, live, reason)


def plan_changes(
    desired: Sequence[Desired],
    live: Mapping[ResourceId, dict[str, Any] | None],
    applied: Mapping[ResourceId, Applied],
) -> list[PlannedChange]:
    """Changes for desired resources in dependency order, then prunes in reverse order."""
    wanted = {d.id: d for d in desired}
    order = topological_order([d.id for d in desired], {d.id: d.depends_on for d in desired})
    changes = [_desired_change(wanted[i], live.get(i), applied.get(i)) for i in order]

    claimed = {d.address for d in desired if d.address}
    gone = [a for a in applied.values() if a.id not in wanted]
    prune_order = topological_order([a.id for a in gone], {a.id: a.depends_on for a in gone})
    by_id = {a.id: a for a in gone}
    for rid in reversed(prune_order):
        old = by_id[rid]
        now = live.get(rid)
        forget = old.address is not None and old.address in claimed
        if forget:
            reason = "forgotten: the object now belongs to another resource in Git"
        elif now is None:
            reason = "already gone; removed from the inventory"
        else:
            reason = "pruned: no longer in Git"
        changes.append(
            PlannedChange(
                ChangeAction.DELETE,
                id=rid,
                api_version=old.api_version,
                before=now,
                after=None,
                depends_on=old.depends_on,
                reason=reason,
                forget_only=forget or now is None,
            )
        )
    return changes
