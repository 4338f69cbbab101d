"""A rendered resource document (KRM shape) with the place it came from."""

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from gitcops.model.drift import RESOURCE_MODES, DriftMode
from gitcops.model.identity import ResourceId, split_api_version

DEPENDS_ON = "config.kubernetes.io/depends-on"
PROVIDER = "gitcops.io/provider"  # the provider instance a document is for (default: its type's)
PRUNE = "gitcops.io/prune"  # "disabled": left in place when its document leaves Git
PRUNE_VALUES = ("disabled", "enabled")
ADOPT = "gitcops.io/adopt"  # "true": may take over an existing object of a remote system
DRIFT = "gitcops.io/drift"  # overrides the environment's drift mode for this resource
DRIFT_VALUES = RESOURCE_MODES


class Origin(NamedTuple):
    """Where a document was written: the repository file and its 0-based index in that file."""

    file: str
    position: int = 0  # of the document in its file, from 0

    def describe(self) -> str:
        return f"document {self.position + 1}"


_UNKNOWN_ORIGIN = Origin("<unknown>")


@dataclass(slots=True)
class Resource:
    id: ResourceId
    api_version: str
    spec: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    origin: Origin = _UNKNOWN_ORIGIN
    instance: str = ""  # the provider instance that manages it ("": not yet resolved)

    @property
    def kind(self) -> str:
        return self.id.kind

    @property
    def name(self) -> str:
        return self.id.name

    def where(self) -> str:
        return f"{self.origin.describe()} ({self.id})"

    def depends_on(self) -> list[str]:
        raw = self.annotations.get(DEPENDS_ON, "")
        return [part.strip() for part in raw.split(",") if part.strip()]

    @property
    def provider(self) -> str:
        """The provider instance: resolved when validated, else its type's name."""
        return self.instance or self.id.provider

    @property
    def prune(self) -> bool:
        return self.annotations.get(PRUNE, "enabled") != "disabled"

    @property
    def drift_mode(self) -> DriftMode | None:
        """The mode its gitcops.io/drift annotation names (validated); None: the environment's."""
        value = self.annotations.get(DRIFT) if self.annotations else None
        return DriftMode(value) if value is not None else None

    def to_document(self) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": self.id.name}
        if self.id.namespace:
            metadata["namespace"] = self.id.namespace
        if self.labels:
            metadata["labels"] = dict(self.labels)
        if self.annotations:
            metadata["annotations"] = dict(self.annotations)
        return {
            "apiVersion": self.api_version,
            "kind": self.id.kind,
            "metadata": metadata,
            "spec": self.spec,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any], origin: Origin) -> "Resource":
        """Build from a document already checked to have apiVersion, kind and metadata.name."""
        metadata = doc.get("metadata") or {}
        group, _ = split_api_version(str(doc["apiVersion"]))
        rid = ResourceId(
            group, str(doc["kind"]), str(metadata["name"]), str(metadata.get("namespace") or "")
        )
        return cls(
            id=rid,
            api_version=str(doc["apiVersion"]),
            spec=doc.get("spec") or {},
            labels={str(k): str(v) for k, v in (metadata.get("labels") or {}).items()},
            annotations={str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()},
            origin=origin,
        )
