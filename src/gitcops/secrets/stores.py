"""Reading and writing each SOPS file format: the plaintext trees and the metadata.

Every format becomes a list of trees (maps in file order): one per YAML document, one for the
others. Plain values are typed the way sops's Go stores type them, because the MAC depends on
it: JSON numbers are all floats (Go decodes them as float64), dotenv and INI values are all
strings, and the binary format is the whole file as one string under ``data``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any, NoReturn

from gitcops.model.errors import SecretError
from gitcops.secrets.cipher import format_go_float
from gitcops.secrets.dotenv import METADATA_PREFIX, dump_dotenv, load_dotenv
from gitcops.secrets.ini import dump_ini, load_ini
from gitcops.secrets.metadata import Metadata, flatten, metadata_from_flat, parse_metadata
from gitcops.secrets.yamlio import YamlError, dump_documents, load_documents

__all__ = [
    "METADATA_KEY",
    "SopsFormat",
    "dump_encrypted",
    "dump_plain",
    "format_for",
    "has_metadata",
    "load_encrypted",
    "load_plain",
]

METADATA_KEY = "sops"
BINARY_KEY = "data"


class SopsFormat(StrEnum):
    YAML = "yaml"
    JSON = "json"
    DOTENV = "dotenv"
    INI = "ini"
    BINARY = "binary"


_EXTENSIONS = {
    ".yaml": SopsFormat.YAML,
    ".yml": SopsFormat.YAML,
    ".json": SopsFormat.JSON,
    ".env": SopsFormat.DOTENV,
    ".ini": SopsFormat.INI,
}


def format_for(path: str) -> SopsFormat:
    """The format sops picks from a file name; anything unknown is binary."""
    return _EXTENSIONS.get(PurePosixPath(path.replace("\\", "/")).suffix, SopsFormat.BINARY)


def load_plain(data: bytes, fmt: SopsFormat, source: str) -> list[dict[str, Any]]:
    fmt = SopsFormat(fmt)
    if fmt is SopsFormat.BINARY:
        return [{BINARY_KEY: data.decode("utf-8", "surrogateescape")}]
    if fmt is SopsFormat.YAML:
        return _yaml_trees(data, source)
    if fmt is SopsFormat.JSON:
        return [_json_tree(data, source)]
    if fmt is SopsFormat.DOTENV:
        return [dict(load_dotenv(data, source))]
    return [dict(load_ini(data, source))]


def load_encrypted(
    data: bytes, fmt: SopsFormat, source: str
) -> tuple[list[dict[str, Any]], Metadata]:
    """The still-encrypted trees without metadata, and the checked metadata."""
    fmt = SopsFormat(fmt)
    if fmt is SopsFormat.DOTENV:
        entries = load_dotenv(data, source)
        flat = {k[len(METADATA_PREFIX) :]: v for k, v in entries.items() if _is_md(k)}
        if not flat:
            _not_sops(source, "no sops_* keys")
        tree = {k: v for k, v in entries.items() if not _is_md(k)}
        return [tree], metadata_from_flat(flat, source)
    if fmt is SopsFormat.INI:
        sections = load_ini(data, source)
        if METADATA_KEY not in sections:
            _not_sops(source, "no [sops] section")
        flat = sections.pop(METADATA_KEY)
        return [dict(sections)], metadata_from_flat(flat, source)
    trees = _yaml_trees(data, source) if fmt is SopsFormat.YAML else [_json_tree(data, source)]
    if not trees or METADATA_KEY not in trees[0]:
        _not_sops(source, "no top-level sops key")
    metadata = parse_metadata(trees[0][METADATA_KEY], source)
    # sops writes the metadata into every YAML document and reads it from the first.
    stripped = [{k: v for k, v in tree.items() if k != METADATA_KEY} for tree in trees]
    return stripped, metadata


def has_metadata(data: bytes, fmt: SopsFormat) -> bool:
    try:
        fmt = SopsFormat(fmt)
        if fmt is SopsFormat.DOTENV:
            return f"{METADATA_PREFIX}version" in load_dotenv(data, "")
        if fmt is SopsFormat.INI:
            return "version" in load_ini(data, "").get(METADATA_KEY, {})
        if fmt is SopsFormat.YAML:
            first = next(iter(load_documents(data)), None)
        else:
            first = json.loads(data)
    except (SecretError, YamlError, ValueError, RecursionError):
        return False
    return isinstance(first, dict) and isinstance(first.get(METADATA_KEY), dict)


def dump_plain(trees: Sequence[dict[str, Any]], fmt: SopsFormat, source: str) -> bytes:
    fmt = SopsFormat(fmt)
    if fmt is SopsFormat.BINARY:
        value = trees[0].get(BINARY_KEY)
        if not isinstance(value, str):
            raise SecretError(f"{source}: binary SOPS file has no string 'data' value")
        return value.encode("utf-8", "surrogateescape")
    return _dump(list(trees), fmt, source)


def dump_encrypted(
    trees: Sequence[dict[str, Any]], md_tree: dict[str, Any], fmt: SopsFormat, source: str
) -> bytes:
    fmt = SopsFormat(fmt)
    if fmt is SopsFormat.DOTENV:
        flat = {METADATA_PREFIX + k: v for k, v in flatten(md_tree).items()}
        return dump_dotenv({**trees[0], **flat}, source)
    if fmt is SopsFormat.INI:
        return dump_ini({**trees[0], METADATA_KEY: flatten(md_tree)}, source)
    return _dump([{**tree, METADATA_KEY: md_tree} for tree in trees], fmt, source)


def _dump(trees: list[dict[str, Any]], fmt: SopsFormat, source: str) -> bytes:
    if fmt is SopsFormat.YAML:
        return dump_documents(trees)
    if fmt is SopsFormat.DOTENV:
        return dump_dotenv(trees[0], source)
    if fmt is SopsFormat.INI:
        return dump_ini(trees[0], source)
    return (_go_json(trees[0], 0) + "\n").encode("utf-8", "surrogateescape")


def _is_md(key: str) -> bool:
    return key.startswith(METADATA_PREFIX)


def _not_sops(source: str, why: str) -> NoReturn:
    raise SecretError(f"{source}: not a SOPS-encrypted file ({why})")


def _yaml_trees(data: bytes, source: str) -> list[dict[str, Any]]:
    try:
        documents = load_documents(data)
    except YamlError as exc:
        raise SecretError(f"{source}: {exc}") from None
    trees = []
    for index, doc in enumerate(documents):
        if doc is None:
            doc = {}  # an empty document is an empty map to sops
        if not isinstance(doc, dict):
            kind = "list" if isinstance(doc, list) else "single value"
            raise SecretError(
                f"{source}: YAML document {index + 1} is a {kind}; SOPS needs a mapping"
            )
        trees.append(doc)
    return trees


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for key, value in pairs:
        if key in tree:
            raise ValueError(f"key {key!r} is repeated")
        tree[key] = value
    return tree


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _json_tree(data: bytes, source: str) -> dict[str, Any]:
    try:
        tree = json.loads(
            data,
            object_pairs_hook=_no_duplicates,
            parse_int=float,  # Go decodes every JSON number as float64
            parse_constant=_no_constants,
        )
    except json.JSONDecodeError as exc:
        raise SecretError(
            f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise SecretError(f"{source}: invalid JSON: {exc}") from None
    if not isinstance(tree, dict):
        raise SecretError(f"{source}: SOPS needs a JSON object at the top level")
    return tree


def _go_json(value: Any, depth: int) -> str:
    """JSON the way sops prints it (Go's json.Indent with a tab)."""
    pad, inner = "\t" * depth, "\t" * (depth + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{_json_str(k)}: {_go_json(v, depth + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(inner + _go_json(v, depth + 1) for v in value) + f"\n{pad}]"
    if isinstance(value, str):
        return _json_str(value)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return _go_json_float(value)
    return str(int(value))


def _json_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _go_json_float(value: float) -> str:
    if not math.isfinite(value):
        raise SecretError(f"{value!r} cannot be written as JSON")
    magnitude = abs(value)
    if magnitude == 0 or 1e-6 <= magnitude < 1e21:
        return format_go_float(value)
    # Outside Go's fixed-notation range Python's repr always uses an exponent too.
    digits, exponent = repr(value).split("e")
    exp = int(exponent)
    return f"{digits}e{'-' if exp < 0 else '+'}{abs(exp)}"
