"""The apply result: a change set whose entries carry one Action, shared by CLI, API and metrics."""

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from gitcops.model.identity import ResourceId


class Action(StrEnum):
    CREATED = "created"
    REPLACED = "replaced"  # deleted and created again: a field could not change in place
    ADOPTED = "adopted"  # an existing object taken under management (updated if it differed)
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    VERIFIED = "verified"  # a health check passed
    SKIPPED = "skipped"  # a dependency failed
    FAILED = "failed"


class ChangeSetEntry(NamedTuple):
    id: ResourceId
    action: Action
    message: str = ""
    duration: float = 0.0
    # What the system assigned (an id, a version): kept in the inventory, never shown.
    state: Mapping[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "action": self.action.value,
            "message": self.message,
            "duration": round(self.duration, 6),
        }


@dataclass
class ChangeSet:
    entries: list[ChangeSetEntry] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(e.action for e in self.entries)
        return {a.value: found.get(a, 0) for a in Action}

    @property
    def failed(self) -> bool:
        return any(e.action in (Action.FAILED, Action.SKIPPED) for e in self.entries)

    def by_action(self, action: Action) -> list[ChangeSetEntry]:
        return [e for e in self.entries if e.action is action]
