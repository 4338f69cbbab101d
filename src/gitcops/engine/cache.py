"""The cache directory: answers remembered between runs, each keyed by everything that decides it.

Every key starts with the code fingerprint: gitcops' own files (path, size and modification
time, as Python validates its bytecode cache) and the distributions installed beside it (their
names carry their versions). A changed or upgraded gitcops or dependency never reads an entry an
older one wrote. The rest of each key is the material of that entry: a Git tree id, an
environment, providers as configured *and* resolved (a relative root means another directory in
another checkout), policy files, options. Entries are only ever written for valid input, written
aside and renamed, and read back defensively: a damaged or foreign file is a miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sysconfig
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitcops import __version__
from gitcops.model.identity import ResourceId
from gitcops.model.project import Project
from gitcops.model.resource import Origin, Resource
from gitcops.render.pipeline import parse_project, read_project_file
from gitcops.source.tree import SourceTree
from gitcops.validate.prepared_memo import PreparedMemo
from gitcops.validate.resources import DesiredResource

if TYPE_CHECKING:
    from gitcops.model.memo import TextMemo
    from gitcops.render.docmemo import DocumentMemo

# 4: keys carry the code fingerprint and the providers as resolved; 5: documents in kubectl's
# order, with its values (whole floats as integers, ...)
_FORMAT = 6  # 6: the provider instance and replace fields of each resource

# A desired set as cached: the items, and the documents (by position) whose secrets must be
# resolved again (never stored as values).
Cached = tuple[list[DesiredResource], dict[int, dict[str, Any]]]


def code_fingerprint() -> str:
    """gitcops' files and the installed distributions, as they are on disk now."""
    digest = hashlib.sha256(f"{_FORMAT}\0{__version__}".encode())
    package = Path(__file__).resolve().parents[1]
    for directory, subdirs, files in os.walk(package):
        subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".py", ".rego", ".json")):
                path = os.path.join(directory, name)
                with contextlib.suppress(OSError):
                    st = os.stat(path)
                    digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    places = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    for place in sorted(places):
        with contextlib.suppress(OSError):
            names = sorted(n for n in os.listdir(place) if n.endswith(".dist-info"))
            digest.update("\n".join(names).encode())
    return digest.hexdigest()


def write_atomic(target: Path, text: str) -> None:
    """Best effort, like every cache: failing to write only costs speed. Written aside and
    renamed, so a reader (another process or thread) sees the old file or the new one."""
    with contextlib.suppress(OSError):
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{os.getpid()}.{id(text):x}.tmp")
        temp.write_text(text)
        os.replace(temp, target)


class Cache:
    """One cache directory, as seen by one version of the code."""

    def __init__(
        self,
        directory: Path,
        count: Callable[[str, int], None] | None = None,
        code: str | None = None,
    ) -> None:
        self.directory = directory
        self._count = count
        self._code = code

    @property
    def code(self) -> str:
        if self._code is None:
            self._code = code_fingerprint()
        return self._code

    def key(self, *material: Any) -> str:
        text = json.dumps([self.code, *material], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def path(self, folder: str, key: str) -> Path:
        return self.directory / folder / f"{key}.json"

    def read(self, folder: str, key: str) -> bytes | None:
        try:
            return self.path(folder, key).read_bytes()
        except OSError:
            return None

    def write(self, folder: str, key: str, text: str) -> None:
        write_atomic(self.path(folder, key), text)

    def has(self, folder: str, key: str) -> bool:
        return self.path(folder, key).exists()

    # -- desired sets --------------------------------------------------------------------------

    def load_desired(self, key: str) -> Cached | None:
        data = self.read("render", key)
        if data is None:
            return None
        try:
            decoded = [_decode(row) for row in json.loads(data)]
        except (TypeError, ValueError):
            return None
        sources = {i: source for i, (_, source) in enumerate(decoded) if source is not None}
        return [item for item, _ in decoded], sources

    def store_desired(
        self, key: str, items: list[DesiredResource], sources: dict[int, dict[str, Any]]
    ) -> None:
        rows = [_encode(item, sources.get(i)) for i, item in enumerate(items)]
        self.write("render", key, json.dumps(rows, separators=(",", ":")))

    # -- memos of parsed and of prepared documents ---------------------------------------------

    def load_documents(self, scope: Any) -> DocumentMemo:
        """The documents parsed for this scope before; empty if none or unreadable."""
        from gitcops.render.docmemo import DocumentMemo  # with the parser: for cache misses

        return DocumentMemo(self._load_texts("documents", scope))

    def load_prepared(self, scope: Any) -> PreparedMemo:
        return PreparedMemo(self._load_texts("prepared", scope))

    def store_memo(self, folder: str, scope: Any, memo: TextMemo) -> None:
        if memo.stale:
            self.write(
                folder, self.key(folder, scope), json.dumps(memo.used, separators=(",", ":"))
            )

    def _load_texts(self, folder: str, scope: Any) -> dict[str, str] | None:
        data = self.read(folder, self.key(folder, scope))
        if data is None:
            return None
        try:
            known = json.loads(data)
        except ValueError:
            return None
        if not isinstance(known, dict) or not all(isinstance(v, str) for v in known.values()):
            return None
        return known

    # -- the Project ---------------------------------------------------------------------------

    def project(self, tree: SourceTree) -> Project:
        """The validated Project of a tree: from the cache when this tree was seen before, or
        when its gitcops.yaml was (most commits change documents, not the project file)."""
        tree_key = self.key("project-tree", tree.cache_key) if tree.cache_key else None
        if tree_key is not None:
            cached = self._load_project(tree_key)
            if cached is not None:
                return cached
        data = read_project_file(tree)
        content_key = self.key("project-content", hashlib.sha256(data).hexdigest())
        project = self._load_project(content_key)
        if project is None:
            if self._count is not None:
                self._count("project files parsed", 1)
            project = parse_project(data)
            self.write("projects", content_key, json.dumps(project.document))
        if tree_key is not None:
            self.write("projects", tree_key, json.dumps(project.document))
        return project

    def _load_project(self, key: str) -> Project | None:
        data = self.read("projects", key)
        if data is None:
            return None
        with contextlib.suppress(ValueError, KeyError, TypeError):
            return Project.from_trusted(json.loads(data))
        return None


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
        r.origin.position,
        item.depends_on,  # ResourceIds: JSON arrays
        item.stateful,
        item.address,
        source,
        r.instance,
        list(item.replace_fields),
    ]


def _decode(row: list[Any]) -> tuple[DesiredResource, dict[str, Any] | None]:
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
        instance,
        replace_fields,
    ) = row
    item = DesiredResource(
        resource=Resource(
            id=ResourceId(group, kind, name, ns),
            api_version=api,
            spec=spec if spec is not None else {},
            labels=labels,
            annotations=annotations,
            origin=Origin(file, index),
            instance=instance,
        ),
        depends_on=tuple(ResourceId(*d) for d in deps),
        stateful=stateful,
        address=addr,
        replace_fields=tuple(replace_fields),
    )
    return item, source
