"""INI files as sops reads and writes them (through go-ini's defaults).

Each section is a top-level map of string values; keys before the first section belong to
``DEFAULT``, which is dropped when empty (go-ini always has it, and it holds no values).
Keys and values are trimmed; ``#``/``;`` start comments, also after a value; a value may be
quoted with ``"``, ``'``, a backtick, or ``\"\"\"`` (which may span lines). Line continuation
with a trailing backslash is not supported. Comments are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitcops.model.errors import SecretError

__all__ = ["DEFAULT_SECTION", "dump_ini", "load_ini"]

DEFAULT_SECTION = "DEFAULT"
_TRIPLE = '"""'


def load_ini(data: bytes, source: str) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {DEFAULT_SECTION: {}}
    current = sections[DEFAULT_SECTION]
    lines = data.decode("utf-8", "surrogateescape").splitlines()
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index].lstrip()
        index += 1
        if not line or line[0] in "#;":
            continue
        if line[0] == "[":
            close = line.rfind("]")
            if close == -1:
                raise SecretError(f"{source}: line {number} opens a section without closing it")
            current = sections.setdefault(line[1:close].strip(), {})
            continue
        key, rest = _split_key(line, number, source)
        value, used = _value(rest, lines[index:], number, source)
        index += used
        current[key] = value  # go-ini: a repeated key keeps its place and takes the new value
    if not sections[DEFAULT_SECTION]:
        del sections[DEFAULT_SECTION]
    return sections


def _split_key(line: str, number: int, source: str) -> tuple[str, str]:
    for quote in (_TRIPLE, "`", '"'):
        if line.startswith(quote):
            end = line.find(quote, len(quote))
            if end == -1:
                raise SecretError(f"{source}: line {number} has an unterminated quoted key")
            rest = line[end + len(quote) :].lstrip()
            if not rest or rest[0] not in "=:":
                raise SecretError(f"{source}: line {number} is not key = value")
            return line[len(quote) : end], rest[1:]
    positions = [p for p in (line.find("="), line.find(":")) if p != -1]
    if not positions:
        raise SecretError(f"{source}: line {number} is not key = value")
    cut = min(positions)
    return line[:cut].strip(), line[cut + 1 :]


def _value(rest: str, following: list[str], number: int, source: str) -> tuple[str, int]:
    """A value and how many following lines it used."""
    rest = rest.lstrip()
    if rest.startswith(_TRIPLE):
        body = rest[3:]
        end = body.rfind(_TRIPLE)
        if end != -1:
            return body[:end], 0
        parts = [body]
        for used, line in enumerate(following, start=1):
            end = line.rfind(_TRIPLE)
            if end != -1:
                parts.append(line[:end])
                return "\n".join(parts), used
            parts.append(line)
        raise SecretError(f'{source}: line {number} opens a """ value without closing it')
    if rest.startswith("`"):
        end = rest.find("`", 1)
        if end == -1:
            raise SecretError(f"{source}: line {number} has an unterminated ` value")
        return rest[1:end], 0
    rest = rest.strip()
    comment = min((p for p in (rest.find("#"), rest.find(";")) if p != -1), default=-1)
    if comment != -1:
        rest = rest[:comment].strip()
    if len(rest) >= 2 and rest[0] == rest[-1] and rest[0] in "\"'":
        rest = rest[1:-1]
    return rest, 0


def dump_ini(sections: Mapping[str, Any], source: str) -> bytes:
    blocks = []
    for name, entries in sections.items():
        if not isinstance(entries, dict):
            raise SecretError(f"{source}: INI top-level value {name!r} must be a section (a map)")
        lines = [f"[{name}]\n"]
        for key, value in entries.items():
            if isinstance(value, dict | list):
                raise SecretError(f"{source}: INI value {name}.{key} must be a string")
            lines.append(f"{_quote_key(key)} = {_quote_value(_text(value))}\n")
        blocks.append("".join(lines))
    return "\n".join(blocks).encode("utf-8", "surrogateescape")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _quote_key(key: str) -> str:
    if any(c in key for c in '"=:'):
        return f"`{key}`"
    if "`" in key:
        return f"{_TRIPLE}{key}{_TRIPLE}"
    return key


def _quote_value(value: str) -> str:
    # go-ini's writer: quote what its reader would otherwise cut or trim.
    if "\n" in value or "`" in value:
        return f"{_TRIPLE}{value}{_TRIPLE}"
    quoted = len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'"
    if "#" in value or ";" in value or quoted:
        return f"`{value}`"
    if value.strip() != value:
        return f'"{value}"'
    return value
