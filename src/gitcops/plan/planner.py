"""The planner: a pure function of (desired, live, last applied) to a Plan's ordered changes."""

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from gitcops.model.drift import DriftMode
from gitcops.model.graph import topological_order
from gitcops.model.identity import ResourceId
from gitcops.model.sensitive import FieldPath
from gitcops.plan.diff import diff, same
from gitcops.plan.ignore import respect
from gitcops.plan.model import ChangeAction, PlannedChange, spec_hash


class Desired(NamedTuple):
    id: ResourceId
    api_version: str
    spec: dict[str, Any]
    depends_on: tuple[ResourceId, ...] = ()
    stateful: bool = True
    address: str | None = None
    origin: str = ""
    sensitive: tuple[FieldPath, ...] = ()  # spec fields holding secrets
    digest: str = ""  # the hash the state records (secrets hashed with a key); default spec_hash
    prune: bool = True  # False: gitcops.io/prune: disabled (left in place when it leaves Git)
    drift: DriftMode = DriftMode.DETECT  # its effective mode: its annotation's, or its env's
    ignored: tuple[str, ...] = ()  # document pointers (/spec/...) its ignore rules name
    instance: str = ""  # the provider instance that manages it ("": its type's)
    replace_fields: tuple[str, ...] = ()  # spec keys its provider cannot change in place

    @property
    def provider(self) -> str:
        """The provider instance that manages it (its type's when not named)."""
        return self.instance or self.id.provider

    @property
    def applied_hash(self) -> str:
        return self.digest or spec_hash(self.spec)


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
    def provider(self) -> str:
        """The provider instance that manages it."""
        ...

    @property
    def spec(self) -> dict[str, Any]:
        """Only prunes need the old spec, so implementations may parse it on demand."""
        ...

    @property
    def sensitive(self) -> tuple[FieldPath, ...]:
        """The spec fields that held secrets when it was applied."""
        ...

    @property
    def instance(self) -> str:
        """The provider instance that manages it ("": its type's)."""
        ...

    @property
    def state(self) -> Mapping[str, Any] | None:
        """What the system assigned when it was written (an id, a version)."""
        ...

    @property
    def prune(self) -> bool:
        """False when its document said `gitcops.io/prune: disabled` when it was applied."""
        ...


def _change(
    action: ChangeAction,
    want: Desired,
    before: dict[str, Any] | None,
    reason: str = "",
    was_sensitive: tuple[FieldPath, ...] = (),
    *,
    target: dict[str, Any] | None = None,
    drift: DriftMode | None = None,
    state: Mapping[str, Any] | None = None,
) -> PlannedChange:
    """`target` is what the object is compared with (the desired spec with the live values of
    its ignored fields); the change's `after` stays the desired spec, as Git says."""
    compared = target if target is not None else want.spec
    # An update, or an adoption of an object that differs: compared field by field.
    compares = action is ChangeAction.UPDATE or (
        action is ChangeAction.ADOPT and before is not None
    )
    diffs = tuple(diff(before, compared)) if compares else ()
    if compares and want.replace_fields:
        forced = sorted(
            {str(d.path[0]) for d in diffs if d.path and d.path[0] in want.replace_fields}
        )
        if forced:
            action = ChangeAction.REPLACE
            why = f"replaced: {', '.join(forced)} cannot change in place"
            reason = f"{reason}; {why}" if reason else why
    return PlannedChange(
        action,
        id=want.id,
        api_version=want.api_version,
        before=before,
        after=want.spec,
        diff=diffs,
        depends_on=want.depends_on,
        reason=reason,
        origin=want.origin,
        address=want.address,
        sensitive=want.sensitive,
        was_sensitive=tuple(p for p in was_sensitive if p not in want.sensitive),
        prune=want.prune,
        drift=drift,
        ignored=want.ignored if before is not None else (),
        instance=want.instance,
        state=state,
    )


_DRIFTED = "drifted: changed outside gitcops"
_DELETED = "deleted outside gitcops"


def _desired_change(
    want: Desired,
    live: dict[str, Any] | None,
    applied: Applied | None,
    previous_owner: Applied | None,
) -> PlannedChange:
    if not want.stateful:
        return _change(ChangeAction.CHECK, want, None)
    moved = applied is not None and _moved(applied, want)
    if live is None:
        if applied is None or moved:
            return _change(ChangeAction.CREATE, want, None)
        if applied.spec_hash != want.applied_hash:  # Git changed it too: that is applied
            return _change(ChangeAction.CREATE, want, None, _DELETED)
        if want.drift is DriftMode.IGNORE:
            reason = f"{_DELETED}; drift mode ignore: not recreated"
            return _change(ChangeAction.NOOP, want, None, reason, drift=want.drift)
        reason = f"{_DELETED}; drift mode {want.drift}: apply recreates it"
        return _change(ChangeAction.CREATE, want, None, reason, drift=want.drift)
    # Ignored fields take their live values: they never differ, and are written back as they are.
    target = respect(want.spec, live, want.ignored) if want.ignored else want.spec
    if applied is None and previous_owner is not None:
        # Renamed in Git: the object is already managed, under the id it is leaving.
        reason = f"taken over from {previous_owner.id}"
        if same(live, target):
            return _change(ChangeAction.NOOP, want, live, reason)
        return _change(
            ChangeAction.UPDATE, want, live, reason, previous_owner.sensitive, target=target
        )
    if applied is None:
        # An object that exists but was never managed: taking it over is a change of its own,
        # shown as such (and later, when its document leaves Git, it is pruned like any other).
        if same(live, target):
            return _change(
                ChangeAction.ADOPT, want, live, "exists, not yet managed: adopted", target=target
            )
        return _change(
            ChangeAction.ADOPT,
            want,
            live,
            "exists, not yet managed: adopted and updated",
            target=target,
        )
    state = applied.state
    if same(live, target):
        return _change(ChangeAction.NOOP, want, live, state=state)
    # A field that held a secret when applied still holds it live, even if Git now says otherwise.
    if applied.spec_hash != want.applied_hash:  # Git changed it: applied whatever the mode
        return _change(
            ChangeAction.UPDATE, want, live, "", applied.sensitive, target=target, state=state
        )
    if want.drift is DriftMode.IGNORE:
        reason = f"{_DRIFTED}; drift mode ignore: left as it is"
        return _change(ChangeAction.NOOP, want, live, reason, drift=want.drift, state=state)
    reason = f"{_DRIFTED}; drift mode {want.drift}: apply overwrites it"
    return _change(
        ChangeAction.UPDATE,
        want,
        live,
        reason,
        applied.sensitive,
        target=target,
        drift=want.drift,
        state=state,
    )


def _moved(applied: Applied, want: Desired) -> bool:
    return (
        applied.address is not None and want.address is not None and applied.address != want.address
    )


class _Old(NamedTuple):
    """An object gitcops applied that must go: its resource left Git, or moved elsewhere."""

    entry: Applied
    live: dict[str, Any] | None
    superseded: bool  # the resource still exists; only its previous object goes


def plan_changes(
    desired: Sequence[Desired],
    live: Mapping[ResourceId, dict[str, Any] | None],
    applied: Mapping[ResourceId, Applied],
    *,
    previous: Mapping[ResourceId, dict[str, Any] | None] | None = None,
    unreachable: Mapping[ResourceId, str] | None = None,
    needed_by: Mapping[ResourceId, ResourceId] | None = None,
    prune_reason: str = "pruned: no longer in Git",
) -> list[PlannedChange]:
    """Changes for desired resources in dependency order, then removals in reverse order.

    `previous` holds the live state of objects that resources managed before they moved (their
    address changed); `unreachable` names inventory entries the providers can no longer reach
    as recorded (their configuration changed), with the address they were recorded at;
    `needed_by` names objects that left Git but that a desired resource still needs (a
    directory still holding managed files): those are forgotten, not deleted. `prune_reason`
    says why a resource absent from the desired set goes (a rollback names its target).
    """
    previous = previous or {}
    unreachable = unreachable or {}
    needed_by = needed_by or {}
    wanted = {d.id: d for d in desired}
    order = topological_order([d.id for d in desired], {d.id: d.depends_on for d in desired})
    owners = {a.address: a for a in applied.values() if a.address and a.id not in wanted}
    changes = [
        _desired_change(wanted[i], live.get(i), applied.get(i), owners.get(wanted[i].address or ""))
        for i in order
    ]

    claimed = {d.address for d in desired if d.address}
    old: dict[ResourceId, _Old] = {}
    for entry in applied.values():
        want = wanted.get(entry.id)
        if want is None:
            old[entry.id] = _Old(entry, live.get(entry.id), superseded=False)
        elif want.stateful and _moved(entry, want):
            old[entry.id] = _Old(entry, previous.get(entry.id), superseded=True)
    prune_order = topological_order(list(old), {i: o.entry.depends_on for i, o in old.items()})
    for rid in reversed(prune_order):
        changes.append(
            _removal(old[rid], claimed, unreachable.get(rid), needed_by.get(rid), prune_reason)
        )
    return changes


def _removal(
    old: _Old,
    claimed: set[str],
    unreachable_at: str | None,
    needed_by: ResourceId | None,
    prune_reason: str,
) -> PlannedChange:
    entry = old.entry
    now = old.live
    keep = False
    if needed_by is not None and not old.superseded:
        reason = f"forgotten, not deleted: {needed_by} still needs it"
        keep = True
    elif unreachable_at is not None:
        reason = (
            f"left in place: {unreachable_at} is not reachable with the current provider "
            "configuration"
        )
        now, keep = None, True
    elif entry.address is not None and entry.address in claimed:
        reason = "forgotten: the object now belongs to another resource in Git"
        keep = True
    elif now is None:
        reason = "already gone; removed from the inventory"
        keep = True
    elif not entry.prune and not old.superseded:
        reason = "left in place and forgotten: its document said gitcops.io/prune: disabled"
        keep = True
    elif old.superseded:
        reason = f"moved: the previous object at {entry.address} is removed"
    else:
        reason = prune_reason
    return PlannedChange(
        ChangeAction.DELETE,
        id=entry.id,
        api_version=entry.api_version,
        before=now,
        after=None,
        depends_on=entry.depends_on,
        reason=reason,
        forget_only=keep,
        address=entry.address,
        superseded=old.superseded,
        sensitive=entry.sensitive if now is not None else (),
        prune=entry.prune,
        instance=entry.instance,
        state=entry.state,
    )
