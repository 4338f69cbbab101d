"""The contract between the engine and a provider: one request/response object per operation.

Reading never writes. Optional abilities (health checks) are separate Protocols the engine
checks with isinstance, so adding one never breaks an existing provider.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from gitcops.model.errors import GitcopsError
from gitcops.model.identity import ResourceId

Spec = dict[str, Any]


class PrepareError(GitcopsError):
    """A spec that passed its schema but cannot be turned into an essence (bad base64, ...)."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


@dataclass(frozen=True, slots=True)
class KindInfo:
    name: str
    schema: Mapping[str, Any]  # JSON Schema of `spec`
    stateful: bool = True  # False for checks (HealthCheck): nothing to diff, only to run
    sensitive_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """What a provider may know about where it runs."""

    config: Mapping[str, Any]
    base_dir: Path  # relative paths in the config resolve against this


@dataclass(frozen=True, slots=True)
class PrepareRequest:
    """Turn a rendered spec into its self-contained essence (e.g. inline a `source` file)."""

    id: ResourceId
    spec: Spec
    read_source: Callable[[str], bytes]  # reads a path relative to the document's directory


@dataclass(frozen=True, slots=True)
class ValidateRequest:
    id: ResourceId
    spec: Spec


@dataclass(frozen=True, slots=True)
class ValidateResponse:
    problems: Sequence[tuple[tuple[str | int, ...], str]] = ()  # (field path, message)


@dataclass(frozen=True, slots=True)
class ReadRequest:
    id: ResourceId
    spec: Spec  # desired or last applied spec: says where to look and which fields are managed


@dataclass(frozen=True, slots=True)
class ReadResponse:
    live: Spec | None  # None: the object does not exist


@dataclass(frozen=True, slots=True)
class CreateRequest:
    id: ResourceId
    spec: Spec


@dataclass(frozen=True, slots=True)
class UpdateRequest:
    id: ResourceId
    spec: Spec
    live: Spec | None


@dataclass(frozen=True, slots=True)
class DeleteRequest:
    id: ResourceId
    spec: Spec


@dataclass(frozen=True, slots=True)
class WriteResponse:
    message: str = ""


@dataclass(frozen=True, slots=True)
class CheckRequest:
    id: ResourceId
    spec: Spec


@dataclass(frozen=True, slots=True)
class CheckResponse:
    healthy: bool
    message: str = ""
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class Edge:
    """`dependent` must be applied after `dependency` (and deleted before it)."""

    dependent: ResourceId
    dependency: ResourceId


@dataclass(frozen=True, slots=True)
class Declared:
    """A desired resource as the provider sees it when computing implicit edges."""

    id: ResourceId
    spec: Spec = field(default_factory=dict)


class Provider(Protocol):
    name: str

    def kinds(self) -> Mapping[str, KindInfo]: ...

    def prepare(self, request: PrepareRequest) -> Spec: ...

    def validate(self, request: ValidateRequest) -> ValidateResponse: ...

    def address(self, id: ResourceId, spec: Spec) -> str | None:
        """The real-world object a spec names (a path, an ARN); two resources may not share one."""
        ...

    def implicit_edges(self, resources: Sequence[Declared]) -> list[Edge]: ...

    def read(self, request: ReadRequest) -> ReadResponse: ...

    def create(self, request: CreateRequest) -> WriteResponse: ...

    def update(self, request: UpdateRequest) -> WriteResponse: ...

    def delete(self, request: DeleteRequest) -> WriteResponse: ...


@runtime_checkable
class SetValidator(Protocol):
    """Checks that need every resource of the provider at once (e.g. links through links)."""

    def validate_set(
        self, resources: Sequence[Declared]
    ) -> list[tuple[ResourceId, tuple[str | int, ...], str]]: ...


@runtime_checkable
class Syncing(Protocol):
    """A provider that defers making writes durable, so a batch pays once (directory fsyncs)."""

    def sync(self) -> None: ...


@runtime_checkable
class HealthChecker(Protocol):
    def check(self, request: CheckRequest) -> CheckResponse: ...
