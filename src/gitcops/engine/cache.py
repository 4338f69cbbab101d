"""Validated desired sets cached by Git tree id: a repeat plan skips parsing and schemas."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitcops import __version__
from gitcops.engine.paths import write_cache
from gitcops.model.identity import ResourceId
from gitcops.model.memo import TextMemo
from gitcops.model.project import Project
from gitcops.model.resource import Origin, Resource
from gitcops.render.pipeline import parse_project, read_project_file
from gitcops.source.tree import SourceTree
from gitcops.validate.prepared_memo import PreparedMemo
from gitcops.validate.resources import DesiredResource

if TYPE_CHECKING:
    from gitcops.render.docmemo import DocumentMemo

# 3: dependencies as [group, kind, name, namespace], not text to parse; 4: documents in
# kubectl's order, with its values (whole floats as integers, ...)
_FORMAT = 4


def cache_key(tree_id: str, environment: str, provider_config: dict[str, Any]) -> str:
    material = json.dumps(
        [_FORMAT, __version__, tree_id, environment, provider_config], sort_keys=True, default=str
    )
    return hashlib.sha256(material.encode()).hexdigest()


def _encode(item: DesiredResource, source: dict[str, Any] | None) -> list[Any]:
    r = item.resource
    # Never a secret on disk: a spec with secrets is kept as its references (`source`).
    return [
        r.api_version,
        r.id.group,
        r.id.kind,
        r.id.name,
        r.id.namespace,
        r.spec if source is None else None,
        r.labels,
        r.annotations,
        r.origin.file,
        r.origin.index,
        item.depends_on,  # ResourceIds: JSON arrays
        item.stateful,
        item.address,
        source,
    ]


def _decode(row: list[Any]) -> tuple[DesiredResource, dict[str, Any] | None]:
    """A cached item, and its document as written if its secrets must be resolved again."""
    (
        api,
        group,
        kind,
        name,
        ns,
        spec,
        labels,
        annotations,
        file,
        index,
        deps,
        stateful,
        addr,
        source,
    ) = row
    item = DesiredResource(
        resource=Resource(
            id=ResourceId(group, kind, name, ns),
            api_version=api,
            spec=spec if spec is not None else {},
            labels=labels,
            annotations=annotations,
            origin=Origin(file, index),
        ),
        depends_on=tuple(ResourceId(*d) for d in deps),
        stateful=stateful,
        address=addr,
    )
    return item, source


Cached = tuple[list[DesiredResource], dict[int, dict[str, Any]]]


def exists(directory: Path, key: str) -> bool:
    return (directory / "render" / f"{key}.json").exists()


def load(directory: Path, key: str) -> Cached | None:
    """The desired set, and the documents (by position) whose secrets must be resolved again."""
    try:
        rows = json.loads((directory / "render" / f"{key}.json").read_bytes())
    except (OSError, ValueError):
        return None
    try:
        decoded = [_decode(row) for row in rows]
    except (TypeError, ValueError):
        return None
    sources = {i: source for i, (_, source) in enumerate(decoded) if source is not None}
    return [item for item, _ in decoded], sources


def store(
    directory: Path,
    key: str,
    items: list[DesiredResource],
    sources: dict[int, dict[str, Any]] | None = None,
) -> None:
    """Best effort: a cache that cannot be written only costs speed."""
    sources = sources or {}
    rows = [_encode(item, sources.get(i)) for i, item in enumerate(items)]
    write_cache(directory / "render" / f"{key}.json", json.dumps(rows, separators=(",", ":")))


def load_memo(directory: Path, scope: str) -> DocumentMemo:
    """The documents parsed for this repository and environment before; empty if none or
    unreadable."""
    from gitcops.render.docmemo import DocumentMemo  # with the parser: for cache misses

    return DocumentMemo(_load_texts(_memo_path(directory, scope)))


def store_memo(directory: Path, scope: str, memo: DocumentMemo) -> None:
    _store_texts(_memo_path(directory, scope), memo)


def load_prepared(directory: Path, scope: str) -> PreparedMemo:
    """The documents prepared for this repository, environment and providers before."""
    return PreparedMemo(_load_texts(_prepared_path(directory, scope)))


def store_prepared(directory: Path, scope: str, memo: PreparedMemo) -> None:
    _store_texts(_prepared_path(directory, scope), memo)


def _store_texts(path: Path, memo: TextMemo) -> None:
    if memo.stale:
        write_cache(path, json.dumps(memo.used, separators=(",", ":")))


def _load_texts(path: Path) -> dict[str, str] | None:
    """A memo file's entries; None if it is missing or damaged."""
    try:
        known = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(known, dict) or not all(isinstance(v, str) for v in known.values()):
        return None
    return known


def _memo_path(directory: Path, scope: str) -> Path:
    return _memo_file(directory / "documents", _parser_fingerprint(), scope)


def _prepared_path(directory: Path, scope: str) -> Path:
    return _memo_file(directory / "prepared", _validation_fingerprint(), scope)


def _memo_file(folder: Path, code: str, scope: str) -> Path:
    """One file per scope, keyed also by the code that decides what the entries hold."""
    material = json.dumps([_FORMAT, __version__, code, scope])
    return folder / f"{hashlib.sha256(material.encode()).hexdigest()}.json"


@functools.cache
def _validation_fingerprint() -> str:
    """What decides a document's checks and preparation besides the document and the project:
    gitcops' validation and provider modules (a development build changes them without
    changing the version)."""
    import gitcops.providers
    from gitcops.model import resource, schema
    from gitcops.validate import prepared_memo, resources

    digest = hashlib.sha256()
    for module in (resources, prepared_memo, schema, resource):
        digest.update(Path(str(module.__file__)).read_bytes())
    for path in sorted(Path(str(gitcops.providers.__file__)).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


@functools.cache
def _parser_fingerprint() -> str:
    """What decides a document's value: gitcops' parsing modules (a development build changes
    them without changing the version), PyYAML and libyaml."""
    import yaml

    from gitcops.model import goyaml
    from gitcops.render import docmemo, yamldocs

    digest = hashlib.sha256()
    for module in (docmemo, yamldocs, goyaml):
        digest.update(Path(str(module.__file__)).read_bytes())
    libyaml = getattr(getattr(yaml, "_yaml", None), "get_version_string", lambda: "")()
    digest.update(f"\0{yaml.__version__}\0{libyaml}".encode())
    return digest.hexdigest()


def load_project(directory: Path, tree: SourceTree) -> Project:
    """The validated Project of a tree: from the cache when this tree was seen before, or when
    its gitcops.yaml was (most commits change documents, not the project file)."""
    key = tree.cache_key
    if key is not None:
        cached = _load_project(directory, key)
        if cached is not None:
            return cached
    data = read_project_file(tree)
    material = json.dumps([_FORMAT, __version__, hashlib.sha256(data).hexdigest()])
    content_key = "content-" + hashlib.sha256(material.encode()).hexdigest()
    project = _load_project(directory, content_key)
    if project is None:
        project = parse_project(data)
        _store_project(directory, content_key, project)
    if key is not None:
        _store_project(directory, key, project)
    return project


def _load_project(directory: Path, key: str) -> Project | None:
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        return Project.from_trusted(
            json.loads((directory / "projects" / f"{key}.json").read_bytes())
        )
    return None


def _store_project(directory: Path, key: str, project: Project) -> None:
    write_cache(directory / "projects" / f"{key}.json", json.dumps(project.document))
