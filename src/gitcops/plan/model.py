"""The Plan: data that can be saved, shown, checked by policy, approved, and applied exactly."""

import hashlib
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, NamedTuple

from gitcops.model.canonical import canonical_json
from gitcops.model.drift import DriftMode
from gitcops.model.identity import ResourceId
from gitcops.model.sensitive import FieldPath, lookup, mask, under
from gitcops.plan.diff import DiffItem
from gitcops.plan.ignore import respect

PLAN_FORMAT = "gitcops.io/plan/v1"


class ChangeAction(StrEnum):
    CREATE = "create"
    REPLACE = "replace"  # a field that cannot change in place changed: delete, then create
    ADOPT = "adopt"  # exists, not yet managed: taken over (and updated if it differs)
    UPDATE = "update"
    DELETE = "delete"
    NOOP = "no-op"
    CHECK = "check"  # a health check: runs on apply, changes nothing


class PlannedChange(NamedTuple):
    action: ChangeAction
    id: ResourceId
    api_version: str
    before: dict[str, Any] | None  # live essence (None: absent)
    after: dict[str, Any] | None  # desired essence (None: to be deleted)
    diff: tuple[DiffItem, ...] = ()
    depends_on: tuple[ResourceId, ...] = ()
    reason: str = ""  # why: "pruned: no longer in Git", "drifted", "adopted", ...
    forget_only: bool = False  # delete from inventory only: another resource now owns the object
    origin: str = ""
    address: str | None = None  # the real-world object (a path): recorded in the inventory
    superseded: bool = False  # a delete of the object a resource managed before it moved
    sensitive: tuple[FieldPath, ...] = ()  # spec fields holding secrets
    # Fields that held secrets when last applied: the live `before` still holds them.
    was_sensitive: tuple[FieldPath, ...] = ()
    # (before, after) with every sensitive field replaced by its token: what may leave memory.
    protected: tuple[dict[str, Any] | None, dict[str, Any] | None] | None = None
    prune: bool = True  # False: gitcops.io/prune: disabled; recorded with the object
    # Caused by drift (Git did not change it): the resource's effective drift mode. None: the
    # change comes from Git (or is not a change of a managed object).
    drift: DriftMode | None = None
    # Document pointers (/spec/...) whose live values the change keeps (ignoreDifferences):
    # left out of `diff`, and written back as they are. Only for an object that exists.
    ignored: tuple[str, ...] = ()
    instance: str = ""  # the provider instance that manages it ("": its type's)
    # What the system assigned when the object was written (an id), for the provider's
    # update and delete: from the inventory, never saved in a plan file.
    state: Mapping[str, Any] | None = None

    @property
    def provider(self) -> str:
        """The provider instance to ask."""
        return self.instance or self.id.provider

    @property
    def is_change(self) -> bool:
        return self.action in _CHANGES

    @property
    def target(self) -> dict[str, Any] | None:
        """What an update or adoption writes: `after`, with the live values of ignored fields."""
        if self.ignored and self.after is not None:
            return respect(self.after, self.before, self.ignored)
        return self.after

    @property
    def public_before(self) -> dict[str, Any] | None:
        return self._public()[0]

    @property
    def public_after(self) -> dict[str, Any] | None:
        return self._public()[1]

    @property
    def sensitive_before(self) -> tuple[FieldPath, ...]:
        return self.sensitive + self.was_sensitive

    def _public(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        if not self.sensitive_before:
            return self.before, self.after
        if self.protected is None:
            return mask(self.before, self.sensitive_before), mask(self.after, self.sensitive)
        return self.protected

    def public_diff(self) -> tuple[DiffItem, ...]:
        """The diff as it may be shown or saved: sensitive values are their tokens."""
        if not self.sensitive_before:
            return self.diff
        before, after = self._public()
        return tuple(
            DiffItem(
                item.op,
                item.path,
                lookup(before, item.path)[1] if item.old is not None else None,
                lookup(after, item.path)[1] if item.new is not None else None,
            )
            if under(item.path, self.sensitive_before)
            else item
            for item in self.diff
        )

    def as_json(self) -> dict[str, Any]:
        """Never holds a secret: this is what plan files, `-o json` and policies see."""
        return {
            "action": self.action.value,
            "id": str(self.id),
            "apiVersion": self.api_version,
            "kind": self.id.kind,
            "name": self.id.name,
            "namespace": self.id.namespace or None,
            "before": self.public_before,
            "after": self.public_after,
            "diff": [d.as_json() for d in self.public_diff()],
            "sensitive": [list(p) for p in self.sensitive],
            "wasSensitive": [list(p) for p in self.was_sensitive],
            "dependsOn": [str(d) for d in self.depends_on],
            "reason": self.reason,
            "forgetOnly": self.forget_only,
            "origin": self.origin or None,
            "address": self.address,
            "superseded": self.superseded,
            "prune": self.prune,
            "drift": self.drift.value if self.drift is not None else None,
            "ignored": list(self.ignored),
            "provider": self.provider,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "PlannedChange":
        """A saved change: its sensitive fields hold tokens until the revision is rendered."""
        sensitive = tuple(tuple(p) for p in data.get("sensitive", []))
        was_sensitive = tuple(tuple(p) for p in data.get("wasSensitive", []))
        rid = ResourceId.parse(data["id"])
        return cls(
            action=ChangeAction(data["action"]),
            id=rid,
            api_version=data["apiVersion"],
            before=data.get("before"),
            after=data.get("after"),
            diff=tuple(DiffItem.from_json(d) for d in data.get("diff", [])),
            depends_on=tuple(ResourceId.parse(d) for d in data.get("dependsOn", [])),
            reason=data.get("reason", ""),
            forget_only=bool(data.get("forgetOnly", False)),
            origin=data.get("origin") or "",
            address=data.get("address"),
            superseded=bool(data.get("superseded", False)),
            sensitive=sensitive,
            was_sensitive=was_sensitive,
            protected=(data.get("before"), data.get("after"))
            if sensitive or was_sensitive
            else None,
            prune=bool(data.get("prune", True)),
            drift=DriftMode(data["drift"]) if data.get("drift") else None,
            ignored=tuple(str(p) for p in data.get("ignored", [])),
            instance=_instance(str(data.get("provider") or ""), rid),
        )


def _instance(name: str, rid: ResourceId) -> str:
    # One spelling for the default instance (""), so a plan read back from JSON is equal.
    return "" if name == rid.provider else name


_CHANGES = frozenset(
    {
        ChangeAction.CREATE,
        ChangeAction.REPLACE,
        ChangeAction.ADOPT,
        ChangeAction.UPDATE,
        ChangeAction.DELETE,
    }
)


class Summary(NamedTuple):
    create: int = 0
    replace: int = 0
    adopt: int = 0
    update: int = 0
    delete: int = 0
    noop: int = 0
    check: int = 0

    @property
    def changes(self) -> int:
        return self.create + self.replace + self.adopt + self.update + self.delete

    def as_json(self) -> dict[str, int]:
        return {
            "create": self.create,
            "replace": self.replace,
            "adopt": self.adopt,
            "update": self.update,
            "delete": self.delete,
            "noop": self.noop,
            "check": self.check,
        }


class Plan(NamedTuple):
    project: str
    environment: str
    revision: str  # commit sha, or "worktree"
    requested_revision: str
    tree: str
    author: str
    created_at: float
    changes: tuple[PlannedChange, ...]
    inventory_serial: int  # state serial the plan was made against
    live_fingerprint: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def summary(self) -> Summary:
        counts = dict.fromkeys(ChangeAction, 0)
        for change in self.changes:
            counts[change.action] += 1
        return Summary(
            create=counts[ChangeAction.CREATE],
            replace=counts[ChangeAction.REPLACE],
            adopt=counts[ChangeAction.ADOPT],
            update=counts[ChangeAction.UPDATE],
            delete=counts[ChangeAction.DELETE],
            noop=counts[ChangeAction.NOOP],
            check=counts[ChangeAction.CHECK],
        )

    @property
    def has_changes(self) -> bool:
        return any(c.is_change for c in self.changes)

    def as_json(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "project": self.project,
            "environment": self.environment,
            "revision": self.revision,
            "requestedRevision": self.requested_revision,
            "tree": self.tree,
            "author": self.author,
            "createdAt": self.created_at,
            "inventorySerial": self.inventory_serial,
            "liveFingerprint": self.live_fingerprint,
            "summary": self.summary.as_json(),
            "warnings": list(self.warnings),
            "changes": [c.as_json() for c in self.changes],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Plan":
        if data.get("format") != PLAN_FORMAT:
            raise ValueError(f"not a gitcops plan (format {data.get('format')!r})")
        return cls(
            project=data["project"],
            environment=data["environment"],
            revision=data["revision"],
            requested_revision=data.get("requestedRevision", data["revision"]),
            tree=data["tree"],
            author=data.get("author", ""),
            created_at=float(data["createdAt"]),
            changes=tuple(PlannedChange.from_json(c) for c in data["changes"]),
            inventory_serial=int(data["inventorySerial"]),
            live_fingerprint=data.get("liveFingerprint", ""),
            warnings=tuple(data.get("warnings", [])),
        )


def spec_hash(spec: dict[str, Any] | None) -> str:
    if spec is None:
        return ""
    return hashlib.sha256(canonical_json(spec).encode()).hexdigest()


def live_fingerprint(lives: list[tuple[str, dict[str, Any] | None]]) -> str:
    """One hash over every live object a plan read, to tell whether the world moved since."""
    digest = hashlib.sha256()
    for rid, live in sorted(lives, key=lambda item: item[0]):
        digest.update(rid.encode())
        digest.update(b"\0")
        digest.update(spec_hash(live).encode())
        digest.update(b"\n")
    return digest.hexdigest()
