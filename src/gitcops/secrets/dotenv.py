"""dotenv files as sops reads and writes them: ``KEY=VALUE`` lines, ``#`` comments.

A line splits at its first ``=`` with nothing trimmed (``foo = bar`` is key ``"foo "``), and
``\\n`` in a value is a newline. Metadata lives in ``sops_*`` keys. Comments are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitcops.model.errors import SecretError

__all__ = ["METADATA_PREFIX", "dump_dotenv", "load_dotenv"]

METADATA_PREFIX = "sops_"


def load_dotenv(data: bytes, source: str) -> dict[str, str]:
    entries: dict[str, str] = {}
    text = data.decode("utf-8", "surrogateescape")
    for number, line in enumerate(text.split("\n"), start=1):
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            # The line may be a secret pasted without its key: never echo it.
            raise SecretError(f"{source}: line {number} is not KEY=VALUE")
        if key in entries:
            raise SecretError(f"{source}: line {number} repeats key {key!r}")
        entries[key] = value.replace("\\n", "\n")
    return entries


def dump_dotenv(entries: Mapping[str, Any], source: str) -> bytes:
    lines = []
    for key, value in entries.items():
        if isinstance(value, dict | list):
            raise SecretError(
                f"{source}: dotenv value {key!r} must be a string, not a {_kind(value)}"
            )
        text = _scalar_text(value).replace("\n", "\\n")
        lines.append(f"{key}={text}\n")
    return "".join(lines).encode("utf-8", "surrogateescape")


def _kind(value: Any) -> str:
    return "map" if isinstance(value, dict) else "list"


def _scalar_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
