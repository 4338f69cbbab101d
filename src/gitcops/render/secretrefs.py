"""Fields that take their value from a SOPS file: found in rendered documents, resolved in memory.

A reference is a mapping with one key, `valueFrom`, holding `secretRef: {file, key}`:

    content:
      valueFrom:
        secretRef: {file: secrets/db.sops.yaml, key: password}

`file` is relative to the document's directory, as a File's `source` is. Kubernetes' own
`valueFrom` (secretKeyRef, configMapKeyRef, ...) never has `secretRef` and is left alone.
Decrypted values exist only in the returned documents; nothing here writes anything.
"""

import copy
import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from gitcops.model.diagnostics import Diagnostics
from gitcops.model.errors import SecretError
from gitcops.model.paths import PathOutsideError, normalize
from gitcops.model.resource import Origin
from gitcops.model.sensitive import MARKER, FieldPath, find
from gitcops.source.tree import SourceTree

VALUE_FROM = "valueFrom"
SECRET_REF = "secretRef"  # noqa: S105 - a field name


class SecretRef(NamedTuple):
    file: str  # normalised, relative to the repository root
    key: str | None


@dataclass
class Resolved:
    """A document with its references replaced, and where the sensitive values now sit."""

    doc: dict[str, Any]
    origin: Origin
    sensitive: tuple[FieldPath, ...] = ()
    source_doc: dict[str, Any] | None = None  # as rendered, references intact (safe to cache)


IdentityLoader = Callable[[], tuple[Sequence[object], str]]


@dataclass
class SecretResolver:
    """Decrypts each SOPS file once per process, only when a reference needs it."""

    tree: SourceTree
    identities: IdentityLoader
    _files: dict[str, Any] = field(default_factory=dict)
    _keys: tuple[Sequence[object], str] | None = None

    def value(self, ref: SecretRef) -> Any:
        from gitcops.secrets import sops

        decrypted = self._files.get(ref.file)
        if decrypted is None:
            try:
                data = self.tree.read(ref.file)
            except (FileNotFoundError, IsADirectoryError):
                raise SecretError(f"secret file {ref.file} does not exist") from None
            fmt = sops.format_for(ref.file)
            if not sops.looks_encrypted(data, fmt):
                raise SecretError(
                    f"{ref.file} is not a SOPS-encrypted file; encrypt it with "
                    "`gitcops secrets encrypt`"
                )
            if self._keys is None:
                self._keys = self.identities()
            identities, tried = self._keys
            decrypted = sops.decrypt(data, fmt, identities, source=ref.file, tried=tried)
            self._files[ref.file] = decrypted
        return decrypted.lookup(ref.key)


def _ref_at(node: dict[str, Any], base_dir: str) -> SecretRef | str:
    """The reference `node` holds, or what is wrong with it."""
    value_from = node[VALUE_FROM]
    if not isinstance(value_from, dict) or set(value_from) != {SECRET_REF}:
        return "`valueFrom` must hold exactly `secretRef: {file, key}`"
    ref = value_from[SECRET_REF]
    if not isinstance(ref, dict) or not set(ref) <= {"file", "key"} or "file" not in ref:
        return "`secretRef` takes `file` (required) and `key`"
    file, key = ref["file"], ref.get("key")
    if not isinstance(file, str) or not file or file.startswith("/"):
        return "`secretRef.file` must be a relative path"
    if key is not None and (not isinstance(key, str) or not key):
        return "`secretRef.key` must be a non-empty string"
    try:
        path = normalize(posixpath.join(base_dir, file))
    except PathOutsideError:
        return f"`secretRef.file` {file!r} leaves the repository"
    return SecretRef(path, key)


def _is_ref(node: Any) -> bool:
    if not isinstance(node, dict) or set(node) != {VALUE_FROM}:
        return False
    inner = node[VALUE_FROM]
    return isinstance(inner, dict) and SECRET_REF in inner


def _set(doc: dict[str, Any], path: FieldPath, value: Any) -> None:
    node: Any = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def resolve(
    documents: Sequence[tuple[dict[str, Any], Origin]],
    resolver: SecretResolver | None,
    diags: Diagnostics,
    describe: Callable[[dict[str, Any], Origin], str],
) -> list[Resolved]:
    """Replace every reference by its value; each problem is a diagnostic, nothing is raised."""
    out: list[Resolved] = []
    for doc, origin in documents:
        found = list(find(doc, _is_ref))
        if not found:
            out.append(Resolved(doc, origin))
            continue
        where = {"file": origin.file, "document": describe(doc, origin)}
        resolved = copy.deepcopy(doc)
        sensitive: list[FieldPath] = []
        for path, node in found:
            if not path or path[0] != "spec":
                diags.error("secret references are only allowed under `spec`", path=path, **where)
                continue
            # A reference that fails stands as MARKER, so the document's other checks still run
            # (and report once) without a schema error about the reference itself.
            value: Any = MARKER
            ref = _ref_at(node, posixpath.dirname(origin.file))
            if isinstance(ref, str):
                diags.error(ref, path=(*path, VALUE_FROM), **where)
            elif resolver is None:
                diags.error("secret references cannot be resolved here", path=path, **where)
            else:
                try:
                    value = resolver.value(ref)
                except SecretError as exc:
                    diags.error(str(exc), path=(*path, VALUE_FROM, SECRET_REF), **where)
            _set(resolved, path, value)
            sensitive.append(path)
        out.append(Resolved(resolved, origin, tuple(sensitive), source_doc=doc))
    return out
