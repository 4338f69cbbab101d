"""Render a kustomization like ``kubectl kustomize`` (kustomize v5), for a subset of it.

Supported kustomization fields: ``resources`` (files and directories; ``bases`` too),
``patches``, ``patchesStrategicMerge``, ``patchesJson6902``, ``namespace``, ``namePrefix``,
``nameSuffix``, ``commonLabels``, ``labels`` (``pairs``, ``includeSelectors``,
``includeTemplates``) and ``commonAnnotations``. Any other field is an error.

Transformers run in kustomize's order, checked against kubectl (kustomize v5.5):
patchesStrategicMerge, patches (in list order), namespace, namePrefix, nameSuffix,
labels then commonLabels, commonAnnotations, patchesJson6902. A kustomization in
``resources`` is rendered completely first; its parent's transformers then apply on top.

Kustomize behaviour reproduced on purpose:

* A strategic-merge patch without a target finds its resource by apiVersion, kind,
  name and namespace, where the name and namespace may be the current ones or any the
  resource had before a prefix, suffix or namespace was applied. A ``target`` matches the
  original or the current name and namespace only. An empty namespace means "default".
* Patches never rename a resource unless ``options.allowNameChange`` /
  ``allowKindChange`` say so (JSON 6902 patches may); patches keep the namespace.
* ``namespace`` also renames ``v1 Namespace`` objects to the namespace, and leaves the
  built-in cluster-scoped kinds alone. Prefixes and suffixes skip ``Namespace``,
  ``CustomResourceDefinition`` and ``APIService`` objects.
* Empty or null ``metadata.annotations`` are dropped, as kustomize does.
* Files (resources and patches) must lie in or below the kustomization's directory, and
  a kustomization may not include its own directory or one above it (a "cycle").

The rendered set comes in kubectl's order (kustomize's legacy sort), and values are read
as kubectl prints them (see yamldocs and patches). Where gitcops deliberately differs
(docs/kustomize.md lists each, with its reason): a patch whose target matches nothing is
an error, and so are two resources with one id after the transformations (kubectl
panics), a document without apiVersion, an unknown patch option, a kustomization file
with more than one document, a top-level ``$patch: replace`` (kustomize ignores the
patch), and a null label or annotation value in a merge patch with a target or in
patchesStrategicMerge (kustomize writes the string "null").

Not supported: generators, components, images, replicas, replacements, vars, remote
resources, ``kind: List`` documents. Selector and template fields of built-in Kubernetes
kinds are not rewritten by ``commonLabels``/``labels`` (kustomize writes e.g. a
Deployment's spec.selector), ``commonAnnotations`` does not reach pod templates, name
references (a Deployment naming a prefixed ConfigMap) are not updated, and RoleBinding
subjects keep their namespace. gitcops kinds have none of those fields.
"""

import itertools
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from gitcops.model.diagnostics import Diagnostics
from gitcops.model.paths import PathOutsideError, normalize
from gitcops.model.resource import Origin
from gitcops.render.patches import (
    PatchError,
    Selector,
    apply_json_patch,
    compile_selector,
    parse_json_patch,
    read_json_patch_text,
    strategic_merge,
)
from gitcops.render.yamldocs import (
    Yaml11Loader,
    YamlSyntaxError,
    document_label,
    iter_documents,
    load_documents,
    metadata_texts,
)
from gitcops.source.tree import SourceTree

if TYPE_CHECKING:
    from gitcops.render.docmemo import DocumentMemo

__all__ = ["KUSTOMIZATION_FILES", "RenderedDocument", "build_kustomization"]

KUSTOMIZATION_FILES: Final = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_API_VERSION: Final = "kustomize.config.k8s.io/v1beta1"

_SUPPORTED_TEXT: Final = """
apiVersion kind metadata resources bases patches patchesStrategicMerge patchesJson6902
namespace namePrefix nameSuffix commonLabels labels commonAnnotations
"""
# kustomize knows these; naming them separately tells a typo from a missing feature.
_KUSTOMIZE_ONLY_TEXT: Final = """
buildMetadata components configMapGenerator configurations crds generatorOptions generators
helmChartInflationGenerator helmCharts helmGlobals imageTags images openapi replacements
replicas secretGenerator sortOptions transformers validators vars
"""
_SUPPORTED_FIELDS: Final = frozenset(_SUPPORTED_TEXT.split())
_KUSTOMIZE_ONLY_FIELDS: Final = frozenset(_KUSTOMIZE_ONLY_TEXT.split())
_PATCH_FIELDS: Final = frozenset({"path", "patch", "target", "options"})
_PATCH_OPTIONS: Final = frozenset({"allowNameChange", "allowKindChange"})
_LABEL_FIELDS: Final = frozenset({"pairs", "includeSelectors", "includeTemplates"})
_REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git@|git::|github\.com/|gitlab\.com/)|\?ref=")

# Built-in kinds kustomize knows to be cluster-scoped (from its OpenAPI data), by
# apiVersion and kind: the namespace transformer leaves them alone.
_CLUSTER_SCOPED_TABLE: Final = """
v1 Namespace Node PersistentVolume ComponentStatus
rbac.authorization.k8s.io/v1 ClusterRole ClusterRoleBinding
rbac.authorization.k8s.io/v1beta1 ClusterRole ClusterRoleBinding
apiextensions.k8s.io/v1 CustomResourceDefinition
apiextensions.k8s.io/v1beta1 CustomResourceDefinition
storage.k8s.io/v1 StorageClass CSIDriver CSINode VolumeAttachment
storage.k8s.io/v1beta1 StorageClass CSIDriver CSINode VolumeAttachment
scheduling.k8s.io/v1 PriorityClass
apiregistration.k8s.io/v1 APIService
admissionregistration.k8s.io/v1 MutatingWebhookConfiguration ValidatingWebhookConfiguration
admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy ValidatingAdmissionPolicyBinding
node.k8s.io/v1 RuntimeClass
networking.k8s.io/v1 IngressClass
certificates.k8s.io/v1 CertificateSigningRequest
flowcontrol.apiserver.k8s.io/v1 FlowSchema PriorityLevelConfiguration
"""
_CLUSTER_SCOPED: Final = frozenset(
    (api_version, kind)
    for api_version, *kinds in (line.split() for line in _CLUSTER_SCOPED_TABLE.strip().splitlines())
    for kind in kinds
)
_CLUSTER_NAMESPACE: Final = "_non_namespaceable_"

Path = tuple[str | int, ...]
# group, version, kind, name, effective namespace: how kustomize tells resources apart.
_Key = tuple[str, str, str, str, str]


class RenderedDocument(NamedTuple):
    doc: dict[str, Any]  # the final document
    origin: Origin  # file + index where the document was originally written


def build_kustomization(tree: SourceTree, path: str) -> list[RenderedDocument]:
    """Render the kustomization at directory `path` (repo-relative) like `kubectl kustomize`.

    Raises InvalidInputError carrying every problem found. The documents are new objects
    on each call; nothing in them is shared with another build or with another document.
    """
    diags = Diagnostics()
    documents = render_kustomization(tree, path, diags)
    diags.raise_if_errors()
    return documents


def render_kustomization(
    tree: SourceTree, path: str, diags: Diagnostics, memo: "DocumentMemo | None" = None
) -> list[RenderedDocument]:
    """Like build_kustomization, but problems go to `diags` and what did render is returned,
    so validation can report the problems of the rendered documents in the same breath.
    `memo` holds resource documents parsed before."""
    resources = _Builder(tree, diags, memo).build_root(path, partial=True)
    return [RenderedDocument(res.doc, res.origin) for res in resources]


# --- resources -------------------------------------------------------------------------


def _effective_namespace(api_version: str, kind: str, namespace: Any) -> str:
    if (api_version, kind) in _CLUSTER_SCOPED:
        return _CLUSTER_NAMESPACE
    return namespace if isinstance(namespace, str) and namespace else "default"


def _key_of(doc: Mapping[str, Any]) -> _Key:
    api_version = doc.get("apiVersion")
    api_version = api_version if isinstance(api_version, str) else ""
    group, _, version = api_version.rpartition("/")
    metadata = doc["metadata"]
    kind = str(doc["kind"])
    namespace = _effective_namespace(api_version, kind, metadata.get("namespace"))
    return (group, version, kind, str(metadata["name"]), namespace)


def _key_text(key: _Key) -> str:
    group, version, kind, name, namespace = key
    api_version = f"{group}/{version}" if group else version or "(no apiVersion)"
    where = "" if namespace in ("default", _CLUSTER_NAMESPACE) else f" in namespace {namespace}"
    return f"{api_version} {kind} {name}{where}"


def _identity_problems(doc: Mapping[str, Any]) -> list[tuple[Path, str]]:
    """What keeps `doc` from being a resource: (field, message) pairs."""
    if doc.get("kind") == "List" and "items" in doc:
        return [(("kind",), "kind: List is not supported; write each item as its own document")]
    problems: list[tuple[Path, str]] = []
    for key in ("apiVersion", "kind"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            problems.append(((key,), f"{key} is missing or not a string"))
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        problems.append((("metadata",), "metadata is missing; every document needs metadata.name"))
        return problems
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        problems.append((("metadata", "name"), "metadata.name is missing or not a string"))
    if metadata.get("namespace") is not None and not isinstance(metadata["namespace"], str):
        problems.append((("metadata", "namespace"), "metadata.namespace must be a string"))
    for key in ("labels", "annotations"):
        if metadata.get(key) is not None and not isinstance(metadata[key], dict):
            problems.append((("metadata", key), f"metadata.{key} must be a map"))
    return problems


def _tidy(doc: dict[str, Any]) -> None:
    """kustomize drops an empty or null metadata.annotations; so do we, to stay equal."""
    metadata = doc["metadata"]
    if "annotations" in metadata and not metadata["annotations"]:
        del metadata["annotations"]


@dataclass(slots=True, eq=False)
class _Res:
    doc: dict[str, Any]
    origin: Origin
    label: str  # "document 3 (local.gitcops.io/File/motd)", as first written
    seq: int  # position in accumulation order; later resources have larger numbers
    key: _Key = ("", "", "", "", "")
    history: list[_Key] = field(default_factory=list)  # earlier ids, oldest first
    deleted: bool = False

    def __post_init__(self) -> None:
        self.key = _key_of(self.doc)

    @property
    def original(self) -> _Key:
        return self.history[0] if self.history else self.key

    def all_keys(self) -> Iterator[_Key]:
        yield from self.history
        yield self.key

    def replace_doc(self, doc: dict[str, Any]) -> bool:
        """Install a transformed document; True when its id changed."""
        _tidy(doc)
        self.doc = doc
        key = _key_of(doc)
        if key == self.key:
            return False
        self.history.append(self.key)
        self.key = key
        return True

    def describe(self) -> str:
        return f"{_key_text(self.key)} ({self.origin.file} {self.label})"


class _Where(NamedTuple):
    """Where a diagnostic points: file, document and field path."""

    file: str
    document: str | None = None
    path: Path = ()

    def at(self, *more: str | int) -> "_Where":
        return _Where(self.file, self.document, (*self.path, *more))

    def error(self, diags: Diagnostics, message: str) -> None:
        diags.error(message, file=self.file, document=self.document, path=self.path)


class _ResMap:
    """Accumulated resources in order, with kustomize's rule that ids are unique."""

    def __init__(self, kfile: str, diags: Diagnostics) -> None:
        self.kfile = kfile
        self.diags = diags
        self.items: list[_Res] = []
        self._by_key: dict[_Key, _Res] = {}

    def append(self, res: _Res) -> bool:
        other = self._by_key.setdefault(res.key, res)
        if other is not res:
            self._duplicate(res, other, f"{self.kfile} accumulates both")
            return False
        self.items.append(res)
        return True

    def compact(self) -> None:
        self.items = [res for res in self.items if not res.deleted]

    def check_unique(self) -> bool:
        seen: dict[_Key, _Res] = {}
        ok = True
        for res in self.items:
            other = seen.setdefault(res.key, res)
            if other is not res:
                self._duplicate(res, other, f"after the transformations of {self.kfile}")
                ok = False
        return ok

    def _duplicate(self, res: _Res, other: _Res, context: str) -> None:
        _Where(res.origin.file, res.label, ("metadata", "name")).error(
            self.diags,
            f"duplicate resource {_key_text(res.key)}: {context}; it is also defined in "
            f"{other.origin.file} {other.label}",
        )


class _Index:
    """Lookups that keep patch matching proportional to the matches, not to all resources.

    Each table (by id, by name, by kind) is built on first use: most kustomizations only
    ever need one of them.
    """

    def __init__(self, items: list[_Res]) -> None:
        self._items = items
        self._tables: dict[str, dict[Any, list[_Res]]] = {}

    def _table(self, name: str) -> dict[Any, list[_Res]]:
        table = self._tables.get(name)
        if table is None:
            table = self._tables[name] = {}
            for res in self._items:
                _add_to(table, _INDEX_KEYS[name](res), res)
        return table

    def add(self, res: _Res) -> None:
        """Register a resource's new id; its old ones stay valid (kustomize matches them)."""
        for name, table in self._tables.items():
            _add_to(table, _INDEX_KEYS[name](res), res)

    def by_id(self, key: _Key) -> list[_Res]:
        return _live(self._table("id").get(key, ()))

    def select(self, selector: Selector) -> list[_Res]:
        name, kind = selector.exact_name, selector.exact_kind
        if name is not None:
            candidates = _live(self._table("name").get(name, ()))
        elif kind is not None:
            candidates = _live(self._table("kind").get(kind, ()))
        else:
            candidates = [res for res in self._items if not res.deleted]
        return [res for res in candidates if _selected(selector, res)]


_INDEX_KEYS: Final[dict[str, Callable[[_Res], Iterable[Any]]]] = {
    "id": lambda res: res.all_keys(),
    "name": lambda res: {res.original[3], res.key[3]},
    "kind": lambda res: (res.key[2],),
}


def _add_to(table: dict[Any, list[_Res]], keys: Iterable[Any], res: _Res) -> None:
    for key in keys:
        bucket = table.setdefault(key, [])
        if not bucket or bucket[-1] is not res:
            bucket.append(res)


def _live(bucket: Iterable[_Res]) -> list[_Res]:
    unique = {id(res): res for res in bucket if not res.deleted}
    return sorted(unique.values(), key=lambda res: res.seq)


def _selected(selector: Selector, res: _Res) -> bool:
    group, version, kind, name, namespace = res.key
    metadata = res.doc["metadata"]
    return selector.matches(
        group=group,
        version=version,
        kind=kind,
        names=(res.original[3], name),
        namespaces=(res.original[4], namespace),
        labels=metadata.get("labels") or {},
        annotations=metadata.get("annotations") or {},
    )


# kustomize's legacy sort (SortOrderTransformer, the default of `kubectl kustomize`): these
# kinds first and last in this order, every other kind between them.
_ORDER_FIRST: Final = (
    "Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
    "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap",
    "Secret", "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume",
    "PersistentVolumeClaim", "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget",
)  # fmt: skip
_ORDER_LAST: Final = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
_KIND_RANK: Final = {
    **{kind: index - len(_ORDER_FIRST) for index, kind in enumerate(_ORDER_FIRST)},
    **{kind: 1 + index for index, kind in enumerate(_ORDER_LAST)},
}


def _legacy_order(res: _Res) -> tuple[int, str, str]:
    """kustomize's sort key: kind rank, then "group_version_kind", then "namespace|name" as
    one text (joined, so "a-x|b" sorts before "a|a-x" as in Go), from the raw metadata."""
    doc = res.doc
    api_version, kind = doc["apiVersion"], doc["kind"]
    group, slash, version = api_version.partition("/")
    if not slash:
        group, version = ("builtin", "") if api_version == "builtin" else ("", api_version)
    metadata = doc["metadata"]
    namespace = metadata.get("namespace") or "~X"
    gvk = f"{group or '~G'}_{version or '~V'}_{kind or '~K'}"
    return _KIND_RANK.get(kind, 0), gvk, f"{namespace}|{metadata['name'] or '~N'}"


# --- the kustomization file ----------------------------------------------------------


@dataclass(slots=True)
class _Kustomization:
    file: str
    directory: str
    where: _Where  # the kustomization document itself
    resources: list[tuple[Path, Any]] = field(default_factory=list)
    smp_patches: list[tuple[Path, Any]] = field(default_factory=list)
    patches: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    json_patches: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    namespace: str = ""
    name_prefix: str = ""
    name_suffix: str = ""
    label_sets: list[dict[str, str]] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)


class _FieldReader:
    """Reads typed kustomization fields, reporting wrong types and remembering failure."""

    def __init__(self, where: _Where, diags: Diagnostics) -> None:
        self.where = where
        self.diags = diags
        self.ok = True

    def fail(self, path: Path, message: str) -> None:
        self.where.at(*path).error(self.diags, message)
        self.ok = False

    def string(self, value: Any, path: Path) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            self.fail(path, f"must be a string, not {_shape(value)}")
            return ""
        return value

    def flag(self, value: Any, path: Path) -> bool:
        if value is not None and not isinstance(value, bool):
            self.fail(path, f"must be true or false, not {_shape(value)}")
        return bool(value is True)

    def items(self, value: Any, path: Path) -> list[tuple[Path, Any]]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(path, f"must be a list, not {_shape(value)}")
            return []
        return [((*path, index), item) for index, item in enumerate(value)]

    def string_map(self, value: Any, path: Path) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"must be a map of strings, not {_shape(value)}")
            return {}
        result: dict[str, str] = {}
        for key, item in value.items():
            if isinstance(item, str):
                result[key] = item
            elif item is None:
                result[key] = ""  # Go's JSON leaves a null string empty; kubectl writes ""
            else:
                self.fail((*path, key), f"must be a string, not {_shape(item)} (quote it)")
        return result

    def mapping(self, value: Any, path: Path, allowed: frozenset[str]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.fail(path, f"must be a map, not {_shape(value)}")
            return None
        for key in value:
            if key not in allowed:
                self.fail((*path, key), f"field {key} is not supported by gitcops")
        return value


def _shape(value: Any) -> str:
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return f"{type(value).__name__} {value!r}"


def _parse_kustomization(doc: dict[str, Any], kust: _Kustomization, diags: Diagnostics) -> bool:
    reader = _FieldReader(kust.where, diags)
    for key in doc:
        if key in _SUPPORTED_FIELDS:
            continue
        known = " (kustomize knows it, gitcops does not)" if key in _KUSTOMIZE_ONLY_FIELDS else ""
        reader.fail((key,), f"field {key} is not supported by gitcops{known}")
    _check_header(doc, reader)
    kust.resources = reader.items(doc.get("resources"), ("resources",))
    kust.resources += reader.items(doc.get("bases"), ("bases",))
    kust.smp_patches = reader.items(doc.get("patchesStrategicMerge"), ("patchesStrategicMerge",))
    for name, target in (("patches", kust.patches), ("patchesJson6902", kust.json_patches)):
        for path, entry in reader.items(doc.get(name), (name,)):
            patch = reader.mapping(entry, path, _PATCH_FIELDS)
            if patch is not None:
                target.append((path, patch))
    kust.namespace = reader.string(doc.get("namespace"), ("namespace",))
    kust.name_prefix = reader.string(doc.get("namePrefix"), ("namePrefix",))
    kust.name_suffix = reader.string(doc.get("nameSuffix"), ("nameSuffix",))
    for path, entry in reader.items(doc.get("labels"), ("labels",)):
        label = reader.mapping(entry, path, _LABEL_FIELDS)
        if label is None:
            continue
        # Both flags only reach built-in kinds' selectors and templates (not rewritten here).
        for flag in ("includeSelectors", "includeTemplates"):
            reader.flag(label.get(flag), (*path, flag))
        kust.label_sets.append(reader.string_map(label.get("pairs"), (*path, "pairs")))
    # kustomize applies `labels` entries first, then commonLabels (which wins on a clash).
    kust.label_sets.append(reader.string_map(doc.get("commonLabels"), ("commonLabels",)))
    kust.annotations = reader.string_map(doc.get("commonAnnotations"), ("commonAnnotations",))
    return reader.ok


def _check_header(doc: Mapping[str, Any], reader: _FieldReader) -> None:
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if api_version is not None and api_version != _API_VERSION:
        reader.fail(("apiVersion",), f"must be {_API_VERSION}, not {api_version!r}")
    if kind == "Component":
        reader.fail(("kind",), "components are not supported by gitcops")
    elif kind is not None and kind != "Kustomization":
        reader.fail(("kind",), f"must be Kustomization, not {kind!r}")


# --- patches ---------------------------------------------------------------------------


class _Patch(NamedTuple):
    kust_where: _Where  # the entry in the kustomization, e.g. patches[0]
    text_where: _Where | None  # inline text: where it sits in the kustomization
    file: str | None  # a patch file, when the patch is one
    target: Selector | None
    smp: tuple[tuple[int, dict[str, Any]], ...] = ()
    ops: tuple[dict[str, Any], ...] | None = None
    allow_name_change: bool = False
    allow_kind_change: bool = False

    def where(self, index: int = 0, doc: Mapping[str, Any] | None = None) -> _Where:
        """The patch text's document `index`, for errors inside the patch."""
        if self.text_where is not None:
            return self.text_where
        assert self.file is not None
        return _Where(self.file, document_label(index, doc))


class _PatchText(NamedTuple):
    text: str
    where: _Where  # the text: a file's document 1 or a kustomization field
    file: str | None


def _split_patch(
    text: str, where: _Where, file: str | None, diags: Diagnostics
) -> list[tuple[int, Any]] | None:
    """The patch as (index, value) documents, or None (reported) if it cannot be read."""
    stripped = text.strip()
    if not stripped:
        where.error(diags, "the patch is empty")
        return None
    if stripped.startswith("["):
        try:
            return [(0, read_json_patch_text(stripped))]
        except ValueError as exc:
            where.error(
                diags,
                f"a patch starting with '[' is read as JSON (as kustomize does) and this is "
                f"not valid JSON: {exc}",
            )
            return None
    try:
        documents = list(iter_documents(text))
        if len(documents) == 1 and isinstance(documents[0][1], list):
            # A JSON 6902 patch: kustomize reads it with go-yaml v2 (on: true, dates as text).
            documents = list(iter_documents(text, Yaml11Loader))
        return documents
    except YamlSyntaxError as exc:
        if file is None:
            where.error(diags, f"inline patch: {exc.describe()}")
        else:
            _Where(file, document_label(exc.index)).error(diags, exc.describe())
        return None


# --- building --------------------------------------------------------------------------


class _Built(NamedTuple):
    resources: list[_Res]
    ok: bool


_FAILED: Final = _Built([], False)


class _Builder:
    def __init__(
        self, tree: SourceTree, diags: Diagnostics, memo: "DocumentMemo | None" = None
    ) -> None:
        self.tree = tree
        self.diags = diags
        self.memo = memo
        self._seq = itertools.count()

    def error(self, where: _Where, message: str) -> bool:
        where.error(self.diags, message)
        return False

    def build_root(self, path: str, *, partial: bool = False) -> list[_Res]:
        try:
            root = normalize(path)
        except PathOutsideError:
            self.error(_Where(path), "the kustomization path leaves the repository")
            return []
        if self.tree.kind(root) != "dir":
            self.error(_Where(root or "."), "is not a directory in the repository")
            return []
        built = self.build_dir(root, (), _Where(root or "."))
        if not built.ok and not partial:
            return []
        # kubectl prints the final set in kustomize's "legacy" order; only the root's is sorted.
        return sorted(built.resources, key=_legacy_order)

    def build_dir(self, directory: str, chain: tuple[str, ...], ref: _Where) -> _Built:
        kfile = self._find_kustomization(directory, ref)
        if kfile is None:
            return _FAILED
        loaded = self._read_kustomization(kfile)
        if loaded is None:
            return _FAILED
        index, doc = loaded
        kust = _Kustomization(kfile, directory, _Where(kfile, document_label(index)))
        ok = _parse_kustomization(doc, kust, self.diags)
        resmap = _ResMap(kfile, self.diags)
        for path, entry in kust.resources:
            ok = self._accumulate(resmap, kust, path, entry, (*chain, directory)) and ok
        patch_sets = self._load_patches(kust)
        if patch_sets is None or not ok:
            return _Built(resmap.items, False)
        transformer = _Transformer(kust, resmap, self.diags)
        ok = transformer.run(*patch_sets)
        return _Built(resmap.items, ok)

    def _find_kustomization(self, directory: str, ref: _Where) -> str | None:
        candidates = (posixpath.join(directory, name) for name in KUSTOMIZATION_FILES)
        found = [path for path in candidates if self.tree.kind(path) in ("file", "symlink")]
        if len(found) > 1:
            self.error(ref, f"{directory or '.'} holds more than one of {', '.join(found)}")
            return None
        if not found:
            names = ", ".join(KUSTOMIZATION_FILES)
            self.error(ref, f"directory {directory or '.'} has no kustomization ({names})")
            return None
        return found[0]

    def _read(self, path: str, ref: _Where) -> bytes | None:
        if self.tree.kind(path) == "symlink":
            self.error(ref, f"{path} is a symlink; gitcops does not follow symlinks here")
            return None
        try:
            return self.tree.read(path)
        except OSError as exc:
            self.error(ref, f"cannot read {path}: {exc}")
            return None

    def _read_kustomization(self, kfile: str) -> tuple[int, dict[str, Any]] | None:
        data = self._read(kfile, _Where(kfile))
        if data is None:
            return None
        before = len(self.diags.items)
        # kustomize reads its own file with go-yaml v2: `yes` is a boolean there, not a string.
        documents = load_documents(data, kfile, self.diags, loader_class=Yaml11Loader)
        if len(self.diags.items) != before:
            return None
        if not documents:
            self.error(_Where(kfile), "the kustomization is empty")
            return None
        if len(documents) > 1:
            index = documents[1][0]
            self.error(
                _Where(kfile, document_label(index)),
                "a kustomization file holds one document (kustomize would ignore the rest)",
            )
            return None
        return documents[0]

    def _resolve(self, directory: str, entry: str, where: _Where) -> str | None:
        if entry.startswith("/") or re.match(r"[A-Za-z]:[\\/]", entry):
            self.error(where, f"{entry!r} is an absolute path; use one relative to {directory}")
            return None
        # The tree's own normalisation (backslashes are separators too), so what passes here
        # is what the tree reads.
        try:
            return normalize(posixpath.join(directory, entry))
        except PathOutsideError:
            self.error(where, f"{entry!r} leaves the repository")
            return None

    def _local_file(self, kust: _Kustomization, entry: Any, where: _Where) -> str | None:
        """Resolve a file path the way kustomize's loader allows: in or below the directory."""
        if not isinstance(entry, str) or not entry:
            self.error(where, "must be a non-empty string (a path)")
            return None
        path = self._resolve(kust.directory, entry, where)
        if path is None:
            return None
        kind = self.tree.kind(path)
        if kind is None:
            self.error(where, f"{entry!r} does not exist ({path} is not in the repository)")
            return None
        if kind != "file" and kind != "symlink":
            self.error(where, f"{entry!r} is a directory, expected a file")
            return None
        if not _within(path, kust.directory):
            self.error(
                where,
                f"{path} is outside {kust.directory or '.'}; kustomize only loads files in or "
                "below the kustomization's directory (include a directory instead)",
            )
            return None
        return path

    def _accumulate(
        self, resmap: _ResMap, kust: _Kustomization, path: Path, entry: Any, chain: tuple[str, ...]
    ) -> bool:
        where = kust.where.at(*path)
        if isinstance(entry, str) and _REMOTE.search(entry):
            return self.error(where, f"{entry!r} is remote; gitcops only renders local paths")
        if not isinstance(entry, str) or not entry:
            return self.error(where, "must be a non-empty string (a file or directory path)")
        target = self._resolve(kust.directory, entry, where)
        if target is None:
            return False
        kind = self.tree.kind(target)
        if kind is None:
            return self.error(
                where, f"{entry!r} does not exist ({target} is not in the repository)"
            )
        if kind == "dir":
            return self._accumulate_dir(resmap, target, entry, chain, where)
        file = self._local_file(kust, entry, where)
        return file is not None and self._accumulate_file(resmap, file, where)

    def _accumulate_dir(
        self, resmap: _ResMap, directory: str, entry: str, chain: tuple[str, ...], where: _Where
    ) -> bool:
        for visited in chain:
            if directory in ("", visited) or visited.startswith(directory + "/"):
                steps = " -> ".join(d or "." for d in (*chain, directory))
                return self.error(
                    where,
                    f"{entry!r} is or contains {visited or '.'}, which is already being "
                    f"rendered: a cycle ({steps})",
                )
        built = self.build_dir(directory, chain, where)
        appended = all([resmap.append(res) for res in built.resources])
        return built.ok and appended

    def _accumulate_file(self, resmap: _ResMap, path: str, where: _Where) -> bool:
        data = self._read(path, where)
        if data is None:
            return False
        before = len(self.diags.items)
        for index, doc in load_documents(data, path, self.diags, self.memo):
            label = document_label(index, doc)
            problems = _identity_problems(doc)
            for field_path, message in problems:
                _Where(path, label, field_path).error(self.diags, message)
            if not problems:
                _tidy(doc)
                resmap.append(_Res(doc, Origin(path, index), label, next(self._seq)))
        return len(self.diags.items) == before

    # -- patches --

    def _load_patches(self, kust: _Kustomization) -> tuple[list[_Patch], ...] | None:
        before = len(self.diags.items)
        smp = [self._smp_entry(kust, path, entry) for path, entry in kust.smp_patches]
        patches = [self._patch_entry(kust, path, entry, "any") for path, entry in kust.patches]
        json_patches = [
            self._patch_entry(kust, path, entry, "json") for path, entry in kust.json_patches
        ]
        if len(self.diags.items) != before:
            return None
        return (
            [p for p in smp if p is not None],
            [p for p in patches if p is not None],
            [p for p in json_patches if p is not None],
        )

    def _smp_entry(self, kust: _Kustomization, path: Path, entry: Any) -> _Patch | None:
        where = kust.where.at(*path)
        if not isinstance(entry, str) or not entry.strip():
            self.error(where, "must be a file path or an inline patch")
            return None
        # kustomize reads an entry as a file when it names one, else as the patch itself.
        if "\n" not in entry.strip() and not entry.lstrip().startswith("{"):
            file = self._local_file(kust, entry, where)
            if file is None:
                return None
            text = self._patch_text(file, where)
            source = None if text is None else _PatchText(text, _Where(file, "document 1"), file)
        else:
            source = _PatchText(entry, where, None)
        if source is None:
            return None
        return self._make_patch(kust, path, source, None, {}, "smp")

    def _patch_entry(
        self, kust: _Kustomization, path: Path, entry: dict[str, Any], mode: str
    ) -> _Patch | None:
        where = kust.where.at(*path)
        inline, file_entry = entry.get("patch"), entry.get("path")
        if (inline is None) == (file_entry is None):
            self.error(where, "needs exactly one of 'path' (a file) and 'patch' (inline text)")
            return None
        if inline is not None:
            if not isinstance(inline, str):
                self.error(where.at("patch"), f"must be a string, not {_shape(inline)}")
                return None
            source = _PatchText(inline, where.at("patch"), None)
        else:
            file = self._local_file(kust, file_entry, where.at("path"))
            text = None if file is None else self._patch_text(file, where.at("path"))
            if file is None or text is None:
                return None
            source = _PatchText(text, _Where(file, "document 1"), file)
        target_ok, target = self._target(entry, where)
        options = self._options(entry.get("options"), where.at("options"))
        if not target_ok or options is None:
            return None
        if mode == "json" and (target is None or not entry["target"].get("name")):
            self.error(where.at("target"), "patchesJson6902 entries need a target with a name")
            return None
        return self._make_patch(kust, path, source, target, options, mode)

    def _patch_text(self, file: str, where: _Where) -> str | None:
        data = self._read(file, where)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.error(_Where(file), f"not UTF-8 text: {exc}")
            return None

    def _target(self, entry: Mapping[str, Any], where: _Where) -> tuple[bool, Selector | None]:
        if entry.get("target") is None:
            return True, None
        try:
            return True, compile_selector(entry["target"])
        except PatchError as exc:
            return self.error(where.at("target", *exc.path), exc.message), None

    def _options(self, raw: Any, where: _Where) -> dict[str, bool] | None:
        reader = _FieldReader(where, self.diags)
        if raw is None:
            return {}
        options = reader.mapping(raw, (), _PATCH_OPTIONS) or {}
        values = {key: reader.flag(options.get(key), (key,)) for key in _PATCH_OPTIONS}
        return values if reader.ok else None

    def _make_patch(
        self,
        kust: _Kustomization,
        path: Path,
        source: _PatchText,
        target: Selector | None,
        options: Mapping[str, bool],
        mode: str,
    ) -> _Patch | None:
        documents = _split_patch(source.text, source.where, source.file, self.diags)
        if documents is None:
            return None
        common = {
            "kust_where": kust.where.at(*path),
            "text_where": None if source.file else source.where,
            "file": source.file,
            "target": target,
            "allow_name_change": options.get("allowNameChange", False),
            "allow_kind_change": options.get("allowKindChange", False),
        }
        if len(documents) == 1 and isinstance(documents[0][1], list):
            return self._json_patch(documents[0], source, common, mode)
        if documents and all(isinstance(doc, dict) for _, doc in documents):
            return self._smp_patch(documents, source, common, mode)
        self.error(
            source.where,
            "the patch is neither a strategic merge patch (YAML documents naming kind and "
            "metadata.name) nor a JSON 6902 patch (a list of operations)",
        )
        return None

    def _json_patch(
        self, document: tuple[int, Any], source: _PatchText, common: dict[str, Any], mode: str
    ) -> _Patch | None:
        where = source.where if source.file is None else _Where(source.file, "document 1")
        if mode == "smp":
            self.error(where, "patchesStrategicMerge takes YAML documents, not a JSON patch")
            return None
        if common["target"] is None:
            self.error(common["kust_where"], "a JSON 6902 patch needs a target")
            return None
        try:
            ops = parse_json_patch(document[1])
        except PatchError as exc:
            self.error(where.at(*exc.path), exc.message)
            return None
        return _Patch(**common, ops=tuple(ops))

    def _smp_patch(
        self,
        documents: list[tuple[int, dict[str, Any]]],
        source: _PatchText,
        common: dict[str, Any],
        mode: str,
    ) -> _Patch | None:
        if mode == "json":
            self.error(source.where, "patchesJson6902 takes a list of JSON 6902 operations")
            return None
        if common["target"] is not None and len(documents) > 1:
            self.error(
                common["kust_where"].at("target"),
                "a patch with a target holds one document (kustomize rejects several)",
            )
            return None
        ok = True
        for index, doc in documents:
            metadata = doc.get("metadata")
            named = isinstance(metadata, dict) and isinstance(metadata.get("name"), str)
            if not isinstance(doc.get("kind"), str) or not named:
                where = source.where
                if source.file is not None:
                    where = _Where(source.file, document_label(index))
                ok = self.error(where, "a strategic merge patch needs kind and metadata.name")
        if not ok:
            return None
        if common["target"] is not None or mode == "smp":
            copies = self._as_kustomize_copies(documents, source)
            return None if copies is None else _Patch(**common, smp=tuple(copies))
        return _Patch(**common, smp=tuple(documents))

    def _as_kustomize_copies(
        self, documents: list[tuple[int, dict[str, Any]]], source: _PatchText
    ) -> list[tuple[int, dict[str, Any]]] | None:
        """The patch as kustomize applies it with a target or from patchesStrategicMerge: to
        a copy whose labels and annotations were read as text (Resource.CopyMergeMetaData-
        FieldsFrom). A value becomes the text written (`1` the string "1", a date its text),
        and an empty or null map is dropped, so it changes nothing. A null value would
        become the string "null" where its author meant to delete: refused."""
        texts = metadata_texts(source.text)
        ok = True
        copies: list[tuple[int, dict[str, Any]]] = []
        for index, doc in documents:
            metadata = dict(doc["metadata"])
            for field_name in ("labels", "annotations"):
                value = metadata.pop(field_name, None)
                if not isinstance(value, dict) or not value:
                    continue
                where = source.where
                if source.file is not None:
                    where = _Where(source.file, document_label(index, doc))
                written = texts.get(index, {}).get(field_name, {})
                for key in value:
                    if written.get(key) is None:
                        ok = self.error(
                            where.at("metadata", field_name, key),
                            "with a target, or in patchesStrategicMerge, kustomize writes "
                            'this value\'s text (null becomes the string "null") instead of '
                            "merging it; quote a value, and delete with a JSON 6902 remove "
                            "or a patch without a target",
                        )
                metadata[field_name] = {key: written.get(key) or "" for key in value}
            copies.append((index, {**doc, "metadata": metadata}))
        return copies if ok else None


def _within(path: str, directory: str) -> bool:
    return directory == "" or path.startswith(directory + "/")


# --- transformers ----------------------------------------------------------------------


class _Transformer:
    """Runs one kustomization's transformers over its accumulated resources."""

    def __init__(self, kust: _Kustomization, resmap: _ResMap, diags: Diagnostics) -> None:
        self.kust = kust
        self.resmap = resmap
        self.diags = diags
        self.ok = True
        self._index: _Index | None = None
        self._deleted = False  # some resource was deleted by the current patch

    @property
    def index(self) -> _Index:
        if self._index is None:
            self._index = _Index(self.resmap.items)
        return self._index

    def fail(self, where: _Where, message: str) -> None:
        where.error(self.diags, message)
        self.ok = False

    def run(self, smp: list[_Patch], patches: list[_Patch], json_patches: list[_Patch]) -> bool:
        kust = self.kust
        for patch in (*smp, *patches):
            self.apply(patch)
        if kust.namespace:
            self.each(partial(_set_namespace, namespace=kust.namespace))
        if kust.name_prefix:
            self.each(partial(_rename, prefix=kust.name_prefix, suffix=""))
        if kust.name_suffix:
            self.each(partial(_rename, prefix="", suffix=kust.name_suffix))
        for label_set in kust.label_sets:
            if label_set:
                self.each(partial(_add_metadata, field_name="labels", pairs=label_set))
        if kust.annotations:
            self.each(partial(_add_metadata, field_name="annotations", pairs=kust.annotations))
        for patch in json_patches:
            self.apply(patch)
        return self.resmap.check_unique() and self.ok

    def each(self, change: Callable[[dict[str, Any]], bool]) -> None:
        """Change every document in place; `change` says whether it may have changed the id."""
        for res in self.resmap.items:
            if change(res.doc):
                res.replace_doc(res.doc)
        self._index = None  # ids changed wholesale: rebuild on the next lookup

    def apply(self, patch: _Patch) -> None:
        if patch.ops is not None:
            self.apply_json(patch)
        elif patch.target is not None:
            for res in self.select(patch):
                self.apply_smp(patch, 0, res)
        else:
            for index, (_, doc) in enumerate(patch.smp):
                found = self.by_id(patch, index, doc)
                if found is not None:
                    self.apply_smp(patch, index, found)
        if self._deleted:
            self.resmap.compact()
            self._deleted = False

    def select(self, patch: _Patch) -> list[_Res]:
        assert patch.target is not None
        selected = self.index.select(patch.target)
        if not selected:
            self.fail(
                patch.kust_where.at("target"),
                "the target matches no resource (gitcops treats this as an error; "
                "kustomize would skip the patch)",
            )
        return selected

    def by_id(self, patch: _Patch, index: int, doc: dict[str, Any]) -> _Res | None:
        key = _key_of(doc)
        found = self.index.by_id(key)
        if len(found) == 1:
            return found[0]
        where = patch.where(patch.smp[index][0], doc)
        if not found:
            self.fail(
                where.at("metadata", "name"),
                f"no resource matches this patch's id {_key_text(key)} (a patch without a "
                "target must name the resource's apiVersion, kind, name and namespace)",
            )
        else:
            matches = "; ".join(res.describe() for res in found)
            self.fail(
                where.at("metadata", "name"), f"the patch matches several resources: {matches}"
            )
        return None

    def apply_smp(self, patch: _Patch, index: int, res: _Res) -> None:
        doc_index, patch_doc = patch.smp[index]
        try:
            merged = _merge_into(res.doc, patch_doc, patch)
        except PatchError as exc:
            where = patch.where(doc_index, patch_doc).at(*exc.path)
            self.fail(where, f"{exc.message} (patching {res.describe()})")
            return
        if merged is None:
            res.deleted = self._deleted = True
            return
        self.install(res, merged, patch.where(doc_index, patch_doc))

    def apply_json(self, patch: _Patch) -> None:
        assert patch.ops is not None
        for res in self.select(patch):
            try:
                patched = apply_json_patch(res.doc, patch.ops)
            except PatchError as exc:
                where = patch.where().at(*exc.path)
                self.fail(where, f"{exc.message} (patching {res.describe()})")
                continue
            if not isinstance(patched, dict):
                self.fail(patch.where(), f"the patch replaced {res.describe()} by a non-map")
                continue
            self.install(res, patched, patch.where())

    def install(self, res: _Res, doc: dict[str, Any], where: _Where) -> None:
        problems = _identity_problems(doc)
        if problems:
            messages = "; ".join(message for _, message in problems)
            self.fail(where, f"the patch leaves {res.describe()} invalid: {messages}")
            return
        if res.replace_doc(doc) and self._index is not None:
            self._index.add(res)


def _merge_into(
    doc: dict[str, Any], patch_doc: Mapping[str, Any], patch: _Patch
) -> dict[str, Any] | None:
    """kustomize's SMP of one resource: apiVersion, name and namespace survive the patch."""
    metadata = doc["metadata"]
    name, namespace, kind = metadata["name"], metadata.get("namespace"), doc["kind"]
    merged = strategic_merge(doc, {**patch_doc, "apiVersion": doc["apiVersion"]})
    if merged is None:
        return None
    new_metadata = merged.get("metadata")
    if not isinstance(new_metadata, dict):
        raise PatchError("the patch removes metadata", ("metadata",))
    if not patch.allow_kind_change:
        merged["kind"] = kind
    if not patch.allow_name_change:
        new_metadata["name"] = name
    if namespace:
        new_metadata["namespace"] = namespace
    else:
        new_metadata.pop("namespace", None)
    return merged


def _set_namespace(doc: dict[str, Any], namespace: str) -> bool:
    metadata = doc["metadata"]
    if (doc["apiVersion"], doc["kind"]) == ("v1", "Namespace"):
        metadata["name"] = namespace  # kustomize renames Namespace objects to the namespace
        return True
    if (doc["apiVersion"], doc["kind"]) in _CLUSTER_SCOPED:
        return False
    metadata["namespace"] = namespace
    return True


def _rename(doc: dict[str, Any], prefix: str, suffix: str) -> bool:
    kind, group = doc["kind"], doc["apiVersion"].rpartition("/")[0]
    if kind in ("Namespace", "CustomResourceDefinition") or (
        kind == "APIService" and group == "apiregistration.k8s.io"
    ):
        return False
    metadata = doc["metadata"]
    metadata["name"] = f"{prefix}{metadata['name']}{suffix}"
    return True


def _add_metadata(doc: dict[str, Any], field_name: str, pairs: Mapping[str, str]) -> bool:
    metadata = doc["metadata"]
    current = metadata.get(field_name)
    metadata[field_name] = {**current, **pairs} if isinstance(current, dict) else dict(pairs)
    return False
