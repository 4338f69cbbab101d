"""The contract between the engine and a provider: one request/response object per operation.

Reading never writes. Optional abilities (health checks) are separate Protocols the engine
checks with isinstance, so adding one never breaks an existing provider.
"""

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

from gitcops.model.errors import GitcopsError
from gitcops.model.identity import ResourceId

Spec = dict[str, Any]


class PrepareError(GitcopsError):
    """A spec that passed its schema but cannot be turned into an essence (bad base64, ...)."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


class ProviderConfigError(GitcopsError):
    """A provider instance's settings (in gitcops.yaml) are wrong: every problem, each with the
    path of the setting it is about, so the engine can name the field in gitcops.yaml."""

    def __init__(
        self, provider: str, problems: Sequence[tuple[tuple[str | int, ...], str]]
    ) -> None:
        self.provider = provider
        self.problems = list(problems)
        super().__init__(
            "; ".join(
                f"provider {provider}: {'.'.join(map(str, path)) + ': ' if path else ''}{message}"
                for path, message in self.problems
            )
        )


class KindInfo(NamedTuple):
    name: str
    schema: Mapping[str, Any]  # JSON Schema of `spec`
    stateful: bool = True  # False for checks (HealthCheck): nothing to diff, only to run
    sensitive_fields: tuple[str, ...] = ()
    # Spec fields (top-level keys) the system cannot change in place: a change to one is a
    # replacement (delete, then create), shown as `replace` in the plan.
    replace_fields: tuple[str, ...] = ()
    # Spec fields the system never reports (a password, a template a copy was made from): the
    # live value is taken as the one last applied, a secret compared by its keyed hash.
    write_only_fields: tuple[str, ...] = ()
    # Its objects hold data that a delete or replace loses (a database): changing one is
    # riskier (the plan's risk score).
    holds_data: bool = False


class ProviderContext(NamedTuple):
    """What a provider may know about where it runs."""

    config: Mapping[str, Any]  # its settings, references to secrets already resolved
    base_dir: Path  # relative paths in the config resolve against this
    instance: str = ""  # its name in gitcops.yaml (spec.providers.<instance>); "": the type's


class PrepareRequest(NamedTuple):
    """Turn a rendered spec into its self-contained essence (e.g. inline a `source` file)."""

    id: ResourceId
    spec: Spec
    read_source: Callable[[str], bytes]  # reads a path relative to the document's directory


class ValidateRequest(NamedTuple):
    id: ResourceId
    spec: Spec


class ValidateResponse(NamedTuple):
    problems: Sequence[tuple[tuple[str | int, ...], str]] = ()  # (field path, message)


class ReadRequest(NamedTuple):
    id: ResourceId
    spec: Spec  # desired or last applied spec: says where to look and which fields are managed
    state: Mapping[str, Any] | None = None  # what the system assigned when written (an id)


class ReadResponse(NamedTuple):
    live: Spec | None  # None: the object does not exist


class CreateRequest(NamedTuple):
    id: ResourceId
    spec: Spec


class UpdateRequest(NamedTuple):
    id: ResourceId
    spec: Spec
    live: Spec | None
    state: Mapping[str, Any] | None = None


class DeleteRequest(NamedTuple):
    id: ResourceId
    spec: Spec
    state: Mapping[str, Any] | None = None


class WriteResponse(NamedTuple):
    message: str = ""
    staged: bool = False  # written but not yet visible: done when Staging.commit() says so
    # What the system assigned (an id, a version, an ARN): kept in the inventory with the
    # object and handed to later reads, updates and deletes. None: keep what was kept.
    state: Mapping[str, Any] | None = None


class CheckRequest(NamedTuple):
    id: ResourceId
    spec: Spec


class CheckResponse(NamedTuple):
    healthy: bool
    message: str = ""
    attempts: int = 1


class Edge(NamedTuple):
    """`dependent` must be applied after `dependency` (and deleted before it)."""

    dependent: ResourceId
    dependency: ResourceId


class Declared(NamedTuple):
    """A desired resource as the provider sees it when computing implicit edges."""

    id: ResourceId
    spec: Spec


class Provider(Protocol):
    name: str  # the provider type: local, postgres, ...
    instance: str  # the configured instance (spec.providers.<instance> in gitcops.yaml)
    # True for a remote system: an existing object it did not create is adopted only when
    # asked (apply --adopt, or the gitcops.io/adopt annotation).
    explicit_adoption: bool

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
class Staging(Protocol):
    """A provider whose writes only touch the local disk, and quickly.

    The engine runs its creates, updates and deletes on its own thread, one at a time (pool
    threads would only contend for the interpreter lock), between `stage(True)` and
    `stage(False)`. Meanwhile a write may answer `staged=True`: prepared, not yet visible.
    `commit()` then makes every staged write durable and visible at once and names those that
    failed; `stage(False)` drops what was staged and not committed. Health checks still run on
    the pool: they wait on the network or a command.
    """

    def stage(self, on: bool) -> None: ...

    def commit(self) -> Mapping[ResourceId, str]: ...


@runtime_checkable
class HealthChecker(Protocol):
    def check(self, request: CheckRequest) -> CheckResponse: ...


@runtime_checkable
class BatchReader(Protocol):
    """Reads many objects in one call (one catalog query instead of one per object). The
    engine hands it the requests of one kind at a time, and reads different kinds and
    instances at once, on threads: answers come back in the order of the requests."""

    def read_batch(self, requests: Sequence[ReadRequest]) -> Sequence[ReadResponse]: ...


class ReadyResponse(NamedTuple):
    ready: bool
    retry_after: float = 1.0  # seconds before asking again, when not ready
    message: str = ""


@runtime_checkable
class Readiness(Protocol):
    """An object a write left not ready yet (a database still starting, a service rolling
    out): verification asks again until it is, within a timeout."""

    def ready(self, request: CheckRequest) -> ReadyResponse: ...


class Listed(NamedTuple):
    """An existing object, as `gitcops import` writes it into a document."""

    id: ResourceId
    spec: Spec


@runtime_checkable
class Lister(Protocol):
    """Lists existing objects of a kind (`gitcops import --all KIND`)."""

    def list(self, kind: str) -> Sequence[Listed]: ...


@runtime_checkable
class Importer(Protocol):
    """Finds an object named on the command line (`gitcops import ID`): the spec to read it by."""

    def import_spec(self, kind: str, name: str) -> Spec: ...


@runtime_checkable
class Closing(Protocol):
    """A provider holding connections: closed when the workspace is."""

    def close(self) -> None: ...


@runtime_checkable
class Preflight(Protocol):
    """Checks that need the live system (does the owner role exist?): run by `plan` and
    `apply`, never by `validate` (which must work without credentials, in CI)."""

    def preflight(
        self, resources: Sequence[Declared]
    ) -> list[tuple[ResourceId, tuple[str | int, ...], str]]: ...
