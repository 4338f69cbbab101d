"""Turn rendered documents into validated, provider-prepared desired resources, or say why not."""

import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from gitcops.model.diagnostics import Diagnostics
from gitcops.model.graph import find_cycle
from gitcops.model.identity import ResourceId, provider_for_group, split_api_version
from gitcops.model.paths import PathOutsideError
from gitcops.model.resource import (
    DEPENDS_ON,
    DRIFT,
    DRIFT_VALUES,
    PROVIDER,
    PRUNE,
    PRUNE_VALUES,
    Origin,
    Resource,
)
from gitcops.model.sensitive import MARKER, FieldPath, lookup, mask, scrub, texts_at, under
from gitcops.providers.base import (
    Declared,
    PrepareError,
    PrepareRequest,
    Provider,
    SetValidator,
    ValidateRequest,
)
from gitcops.providers.registry import choose_instance, known_providers
from gitcops.validate.prepared_memo import PreparedMemo

SUPPORTED_VERSIONS = ("v1",)
_API_VERSION = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?v[0-9]+[a-z0-9]*$")
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._:-]{0,251}[A-Za-z0-9])?$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DEPENDS_PATH = ("metadata", "annotations", DEPENDS_ON)


class DesiredResource(NamedTuple):
    resource: Resource  # spec is the provider-prepared essence
    depends_on: tuple[ResourceId, ...]  # explicit and implicit edges
    stateful: bool
    address: str | None
    sensitive: tuple[FieldPath, ...] = ()  # spec fields holding secret values
    replace_fields: tuple[str, ...] = ()  # spec keys its provider cannot change in place

    @property
    def public_spec(self) -> dict[str, Any]:
        """The spec as people and policies may see it: MARKER where a secret goes."""
        spec = self.resource.spec
        return mask(spec, self.sensitive) if self.sensitive else spec

    def public_document(self) -> dict[str, Any]:
        document = self.resource.to_document()
        if self.sensitive:
            document["spec"] = self.public_spec
        return document


def describe(doc: Mapping[str, Any], origin: Origin) -> str:
    """How diagnostics name a document before it is known to be a valid resource."""
    return _describe(doc, origin.position)


def _describe(doc: Mapping[str, Any], index: int) -> str:
    kind = doc.get("kind")
    name = (
        (doc.get("metadata") or {}).get("name") if isinstance(doc.get("metadata"), dict) else None
    )
    if kind and name:
        group, _ = split_api_version(str(doc.get("apiVersion", "")))
        return f"document {index + 1} ({group}/{kind}/{name})"
    return f"document {index + 1}"


def _shape_ok(doc: Mapping[str, Any], origin: Origin, diags: Diagnostics) -> bool:
    problems = _shape_problems(doc)
    if problems:
        where = {"file": origin.file, "document": _describe(doc, origin.position)}
        for path, message in problems:
            diags.error(message, path=path, **where)
    return not problems


def _shape_problems(doc: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    problems: list[tuple[tuple[str, ...], str]] = []
    for key in ("apiVersion", "kind"):
        if not isinstance(doc.get(key), str) or not doc.get(key):
            problems.append(((key,), f"`{key}` is missing"))
    if not problems and not _API_VERSION.match(doc["apiVersion"]):
        problems.append(
            (("apiVersion",), "must look like group/version (e.g. local.gitcops.io/v1)")
        )
    elif not problems and not _KIND.match(doc["kind"]):
        problems.append((("kind",), "must be letters and digits, starting with a letter"))
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        problems.append((("metadata", "name"), "`metadata.name` is missing"))
        return problems
    # Names end up in ids like group/Kind/name: a '/' or ',' would make them ambiguous.
    if not _NAME.match(metadata["name"]):
        problems.append(
            (
                ("metadata", "name"),
                "must be letters, digits, '-', '_', '.' or ':' (at most 253), "
                "starting and ending with a letter or digit",
            )
        )
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        for key, values in ((PRUNE, PRUNE_VALUES), (DRIFT, DRIFT_VALUES)):
            if key in annotations and annotations[key] not in values:
                problems.append(
                    (
                        ("metadata", "annotations", key),
                        f"must be one of {', '.join(values)}, not {annotations[key]!r}",
                    )
                )
    namespace = metadata.get("namespace")
    if namespace not in (None, "") and not (
        isinstance(namespace, str) and _NAMESPACE.match(namespace)
    ):
        problems.append((("metadata", "namespace"), "must be a DNS label"))
    if "spec" in doc and not isinstance(doc["spec"], dict):
        problems.append((("spec",), "`spec` must be a mapping"))
    return problems


def _kind_problem(
    resource: Resource, providers: Mapping[str, Provider]
) -> tuple[tuple[str, ...], str] | None:
    """What is wrong with the document's apiVersion, kind or provider instance; on success,
    `resource.instance` names the instance that manages it."""
    group, version = split_api_version(resource.api_version)
    name = provider_for_group(group)
    if name not in known_providers():
        return ("apiVersion",), (
            f"unknown apiVersion {resource.api_version!r}: no provider {name!r} "
            f"(known: {', '.join(f'{p}.gitcops.io/v1' for p in known_providers())})"
        )
    chosen = resource.annotations.get(PROVIDER)
    choice = choose_instance(providers, name, chosen)
    annotation = ("metadata", "annotations", PROVIDER)
    if choice.problem == "unknown":
        return annotation, (
            f"no provider instance {chosen!r} in gitcops.yaml (instances of {name}: "
            f"{', '.join(choice.instances) or 'none'})"
        )
    if choice.problem == "other type":
        assert chosen is not None
        return annotation, (
            f"provider instance {chosen!r} is of type {providers[chosen].name}, not {name}"
        )
    if choice.problem == "several":
        return annotation, (
            f"several instances of provider {name} ({', '.join(choice.instances)}): name one "
            f"with the annotation {PROVIDER}"
        )
    if choice.instance is None:
        return ("apiVersion",), (
            f"provider {name!r} is not configured: add it under spec.providers in gitcops.yaml"
        )
    chosen = choice.instance
    provider = providers[chosen]
    resource.instance = chosen
    if version not in SUPPORTED_VERSIONS:
        return ("apiVersion",), f"unknown apiVersion {resource.api_version!r} (known: {group}/v1)"
    if resource.kind not in provider.kinds():
        known = ", ".join(sorted(provider.kinds()))
        return ("kind",), f"unknown kind {resource.kind!r} for {group} (known: {known})"
    return None


def validate_resources(
    documents: Sequence[tuple[dict[str, Any], Origin]],
    providers: Mapping[str, Provider],
    read_file: Callable[[str], bytes],
    sensitive: Sequence[tuple[FieldPath, ...]] | None = None,
    memo: PreparedMemo | None = None,
) -> list[DesiredResource]:
    """Check everything, collect every problem, raise InvalidInputError if any."""
    diags = Diagnostics()
    items = check_resources(documents, providers, read_file, diags, sensitive, memo)
    diags.raise_if_errors()
    return items


def check_resources(
    documents: Sequence[tuple[dict[str, Any], Origin]],
    providers: Mapping[str, Provider],
    read_file: Callable[[str], bytes],
    diags: Diagnostics,
    sensitive: Sequence[tuple[FieldPath, ...]] | None = None,
    memo: PreparedMemo | None = None,
) -> list[DesiredResource]:
    """Check everything and collect every problem in `diags`; return the resources that
    passed their own checks (those a policy can still judge when others are invalid).

    `sensitive[i]` lists the fields of document i (document paths) that hold secret values.
    `memo` holds documents prepared before (for these providers and this code).
    """
    prepared: list[tuple[Resource, tuple[FieldPath, ...]]] = []
    for i, (doc, origin) in enumerate(documents):
        fields = sensitive[i] if sensitive is not None else ()
        resource = prepare_document(doc, origin, providers, read_file, diags, fields, memo)
        if resource is not None:
            prepared.append(resource)
    resources = [r for r, _ in prepared]
    across = Diagnostics()  # messages about several resources may quote any of their secrets
    _check_unique(resources, providers, across)
    result = _with_edges(resources, providers, across)
    secrets = {t for r, fields in prepared if fields for t in texts_at(r.spec, fields)}
    diags.extend(d._replace(message=scrub(d.message, secrets)) for d in across.items)
    return [
        item._replace(sensitive=fields) if fields else item
        for item, (_, fields) in zip(result, prepared, strict=True)
    ]


def prepare_document(
    doc: dict[str, Any],
    origin: Origin,
    providers: Mapping[str, Provider],
    read_file: Callable[[str], bytes],
    diags: Diagnostics,
    sensitive: tuple[FieldPath, ...] = (),
    memo: PreparedMemo | None = None,
) -> tuple[Resource, tuple[FieldPath, ...]] | None:
    """One document's own checks and the provider's prepare; None (and diagnostics) if bad.

    Returns the resource and its sensitive fields as spec paths.
    """
    key = memo.key(doc, origin) if memo is not None and not sensitive else None
    if key is not None and memo is not None:
        remembered = _remembered(doc, origin, providers, diags, memo, key)
        if remembered is not None:
            return remembered
    from gitcops.model.schema import SchemaCache  # validators are costly; cached runs skip them

    if not _shape_ok(doc, origin, diags):
        return None
    resource = Resource.from_document(doc, origin)
    scrub = _Scrubber(doc, sensitive)

    def where() -> dict[str, str]:  # built only for a diagnostic: most documents have none
        return {"file": origin.file, "document": resource.where()}

    problem = _kind_problem(resource, providers)
    if problem is not None:
        diags.error(problem[1], path=problem[0], **where())
        return None
    provider = providers[resource.instance]
    info = provider.kinds()[resource.kind]
    errors = list(SchemaCache.shared().errors(info.schema, resource.spec))
    for path, message in errors:
        diags.error(scrub(message, ("spec", *path)), path=("spec", *path), **where())
    if errors:
        return None
    base_dir = posixpath.dirname(origin.file)
    sources: list[str] = []

    def read_source(path: str) -> bytes:
        sources.append(path)
        return read_file(posixpath.normpath(posixpath.join(base_dir, path)))

    fields = tuple(p[1:] for p in sensitive if p[:1] == ("spec",))
    plain = [f for f in info.sensitive_fields if f in resource.spec and (f,) not in fields]
    for name in plain:
        diags.error(
            "must come from a secret, never plain text: "
            f"{name}: {{valueFrom: {{secretRef: {{file: secrets/….sops.yaml, key: …}}}}}}",
            path=("spec", name),
            **where(),
        )
    if plain:
        return None
    before = dict(resource.spec) if fields else {}  # _after_prepare reads it only then
    try:
        resource.spec = provider.prepare(PrepareRequest(resource.id, resource.spec, read_source))
    except PrepareError as exc:
        diags.error(scrub(exc.message, exc.path), path=exc.path, **where())
        return None
    except PathOutsideError as exc:
        diags.error(f"source file {exc}", path=("spec", "source"), **where())
        return None
    except (FileNotFoundError, ValueError) as exc:
        missing = exc.args[0] if exc.args else exc
        diags.error(f"cannot read source file {missing}", path=("spec", "source"), **where())
        return None
    fields = _after_prepare(fields, before, resource.spec)
    report_live_problems(provider, resource, diags, scrub)
    locating = _locating(provider, resource, fields)
    if locating is not None:
        diags.error(
            "cannot come from a secret: it decides where the object is, and gitcops records "
            "and shows every object's location",
            path=("spec", *locating),
            **where(),
        )
        return None
    if key is not None and memo is not None and not sources:
        memo.put(key, resource.spec)
    return resource, fields


def _remembered(
    doc: dict[str, Any],
    origin: Origin,
    providers: Mapping[str, Provider],
    diags: Diagnostics,
    memo: PreparedMemo,
    key: str,
) -> tuple[Resource, tuple[FieldPath, ...]] | None:
    """The document as prepared before, with the provider's live checks run again."""
    spec = memo.get(key)
    if spec is None or not isinstance(doc.get("metadata"), dict):
        return None
    resource = Resource.from_document(doc, origin)
    if _kind_problem(resource, providers) is not None:
        return None  # prepared afresh: its problem is reported there
    provider = providers[resource.instance]
    resource.spec = spec
    report_live_problems(provider, resource, diags)
    return resource, ()


def report_live_problems(
    provider: Provider,
    resource: Resource,
    diags: Diagnostics,
    scrub: Callable[[str, Sequence[str | int]], str] | None = None,
) -> None:
    """The provider's own checks of a prepared spec, some of which look at the live system (a
    symlink on disk leaving the root): run on every document, cached or not."""
    for path, message in provider.validate(ValidateRequest(resource.id, resource.spec)).problems:
        text = scrub(message, path) if scrub is not None else message
        diags.error(text, path=path, file=resource.origin.file, document=resource.where())


def _locating(
    provider: Provider, resource: Resource, fields: tuple[FieldPath, ...]
) -> FieldPath | None:
    """The sensitive field the object's address depends on, if any."""
    address = provider.address(resource.id, resource.spec) if fields else None
    if address is None:
        return None
    for field in fields:
        if provider.address(resource.id, mask(resource.spec, [field])) != address:
            return field
    return None


def _after_prepare(
    fields: tuple[FieldPath, ...], before: dict[str, Any], after: dict[str, Any]
) -> tuple[FieldPath, ...]:
    """Where sensitive values sit once prepare reshaped the spec.

    Prepare may replace a field by another (a File's `contentBase64` becomes `content`): the
    fields it adds inherit the sensitivity of those it removed.
    """
    if not fields:
        return ()
    removed = {p[0] for p in fields if p and p[0] not in after}
    kept = tuple(p for p in fields if not p or p[0] in after)
    if not removed:
        return kept
    added = tuple((key,) for key in after if key not in before)
    return kept + added


class _Scrubber:
    """Keeps secret values out of messages: a validator may quote the value it rejects."""

    def __init__(self, doc: dict[str, Any], sensitive: tuple[FieldPath, ...]) -> None:
        self.doc = doc
        self.sensitive = sensitive
        self.values = texts_at(doc, sensitive)

    def __call__(self, message: str, path: Sequence[str | int]) -> str:
        if not self.sensitive:
            return message
        if under(tuple(path), self.sensitive):
            # A schema message starts with the rejected value: keep only what is said of it.
            found, value = lookup(self.doc, tuple(path))
            if found and message.startswith(repr(value)):
                message = message[len(repr(value)) :].lstrip()
            return f"{MARKER} is not valid here: {scrub(message, self.values)}"
        return scrub(message, self.values)


def _check_unique(
    resources: Sequence[Resource], providers: Mapping[str, Provider], diags: Diagnostics
) -> None:
    first: dict[ResourceId, Resource] = {}
    owners: dict[str, Resource] = {}
    for res in resources:
        where = {"file": res.origin.file, "document": res.where()}
        seen = first.setdefault(res.id, res)
        if seen is not res:
            diags.error(
                f"duplicate resource {res.id}: also defined in {seen.origin.file} "
                f"{seen.origin.describe()}",
                path=("metadata", "name"),
                **where,
            )
            continue
        address = providers[res.provider].address(res.id, res.spec)
        if address is None:
            continue
        owner = owners.setdefault(address, res)
        if owner is not res:
            diags.error(
                f"manages the same object as {owner.id} ({owner.origin.file} "
                f"{owner.origin.describe()}): {address}",
                path=("spec",),
                **where,
            )


def _depends_error(diags: Diagnostics, res: Resource, message: str) -> None:
    diags.error(message, file=res.origin.file, document=res.where(), path=_DEPENDS_PATH)


def _with_edges(
    resources: Sequence[Resource], providers: Mapping[str, Provider], diags: Diagnostics
) -> list[DesiredResource]:
    by_id = {r.id: r for r in resources}
    deps: dict[ResourceId, list[ResourceId]] = {r.id: [] for r in resources}
    for res in resources:
        for ref in res.depends_on():
            try:
                target = ResourceId.parse(ref)
            except ValueError as exc:
                _depends_error(diags, res, str(exc))
                continue
            if target == res.id:
                _depends_error(diags, res, f"{ref} depends on itself")
            elif target not in by_id:
                _depends_error(
                    diags, res, f"depends on {ref}, which is not a resource of this environment"
                )
            elif target not in deps[res.id]:
                deps[res.id].append(target)
    by_provider: dict[str, list[Declared]] = {}
    for res in resources:
        by_provider.setdefault(res.provider, []).append(Declared(res.id, res.spec))
    for name, declared in by_provider.items():
        provider = providers[name]
        if isinstance(provider, SetValidator):
            for rid, path, message in provider.validate_set(declared):
                res = by_id[rid]
                diags.error(message, file=res.origin.file, document=res.where(), path=path)
        for edge in provider.implicit_edges(declared):
            if edge.dependency not in deps[edge.dependent]:
                deps[edge.dependent].append(edge.dependency)
    cycle = find_cycle([r.id for r in resources], deps)
    if cycle is not None:
        head = by_id[cycle[0]]
        chain = " -> ".join(str(c) for c in cycle)
        diags.error(
            f"dependency cycle: {chain}",
            file=head.origin.file,
            document=head.where(),
            path=_DEPENDS_PATH,
        )
    out: list[DesiredResource] = []
    for res in resources:
        provider = providers[res.provider]
        info = provider.kinds()[res.kind]
        out.append(
            DesiredResource(
                resource=res,
                depends_on=tuple(deps[res.id]),
                stateful=info.stateful,
                address=provider.address(res.id, res.spec),
                replace_fields=info.replace_fields,
            )
        )
    return out
