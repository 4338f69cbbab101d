"""The ``sops`` metadata block: reading and checking it, writing it, and its flat form.

Only age recipients can unwrap the data key here. A file that also lists PGP or cloud KMS keys
is readable through its age stanzas; those other stanzas are kept verbatim when the data key
stays the same. Shamir key groups (the data key split across groups) are refused.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from gitcops.model.errors import SecretError
from gitcops.secrets.tree import EncryptionRules

__all__ = [
    "OTHER_KEY_TYPES",
    "WRITTEN_VERSION",
    "AgeStanza",
    "Metadata",
    "flatten",
    "metadata_from_flat",
    "metadata_tree",
    "now_rfc3339",
    "parse_metadata",
    "unflatten",
]

WRITTEN_VERSION: Final = "3.9.0"
OTHER_KEY_TYPES: Final = ("pgp", "kms", "gcp_kms", "azure_kv", "hc_vault")
_MAP, _LIST = "__map_", "__list_"
_RFC3339 = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})T(?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.[0-9]+)?(?P<zone>Z|[+-][0-9]{2}:[0-9]{2})"
)
_UNSUPPORTED_RULES: Final = ("encrypted_comment_regex", "unencrypted_comment_regex")


@dataclass(frozen=True)
class AgeStanza:
    """The data key encrypted for one age recipient, as an armored age file."""

    recipient: str
    enc: str


@dataclass(frozen=True)
class Metadata:
    age: tuple[AgeStanza, ...]
    rules: EncryptionRules
    lastmodified: str
    mac: str | None
    version: str = WRITTEN_VERSION
    # Non-age key stanzas (type -> entries), carried over unchanged while the data key is.
    other_keys: Mapping[str, list[Any]] = field(default_factory=dict)

    @property
    def mac_aad(self) -> str:
        """The MAC's additional data: lastmodified as Go's time.Format(RFC3339) prints it."""
        m = _RFC3339.fullmatch(self.lastmodified)
        assert m is not None  # checked by parse_metadata / now_rfc3339
        zone = "Z" if m["zone"] in ("Z", "+00:00", "-00:00") else m["zone"]
        return f"{m['date']}T{m['time']}{zone}"

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(stanza.recipient for stanza in self.age)


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_metadata(raw: Any, source: str) -> Metadata:
    """Checked metadata from a file's ``sops`` value; SecretError names the bad field."""
    if not isinstance(raw, dict):
        raise SecretError(f"{source}: sops metadata is not a mapping")
    version = raw.get("version")
    if isinstance(version, int | float) and not isinstance(version, bool):
        version = str(version)  # an unquoted "3.0" in YAML
    if not isinstance(version, str) or not version.startswith("3."):
        shown = "missing" if version is None else repr(version)
        raise SecretError(
            f"{source}: sops.version {shown} is not supported; gitcops reads SOPS 3.x files"
        )
    lastmodified = raw.get("lastmodified")
    if not isinstance(lastmodified, str) or not _valid_time(lastmodified):
        raise SecretError(f"{source}: sops.lastmodified is missing or not an RFC 3339 time")
    mac = raw.get("mac")
    if mac is not None and not isinstance(mac, str):
        raise SecretError(f"{source}: sops.mac is not a string")
    for name in _UNSUPPORTED_RULES:
        if raw.get(name):
            raise SecretError(f"{source}: sops.{name} is not supported by gitcops")
    rules = _rules(raw, source)
    age, others = _keys(raw, source)
    return Metadata(age, rules, lastmodified, mac or None, version, others)


def _valid_time(text: str) -> bool:
    m = _RFC3339.fullmatch(text)
    if m is None:
        return False
    try:
        dt.datetime.fromisoformat(f"{m['date']}T{m['time']}")
    except ValueError:
        return False
    return True


def _rules(raw: dict[str, Any], source: str) -> EncryptionRules:
    return EncryptionRules.from_mapping(raw, f"{source}: sops.").effective(source)


def _entries(raw: Mapping[str, Any], name: str, where: str, source: str) -> list[Any]:
    value = raw.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise SecretError(f"{source}: {where}.{name} is not a list")
    return value


def _keys(raw: dict[str, Any], source: str) -> tuple[tuple[AgeStanza, ...], dict[str, list[Any]]]:
    kinds = ("age", *OTHER_KEY_TYPES)
    group = {kind: _entries(raw, kind, "sops", source) for kind in kinds}
    where = "sops"
    if not any(group.values()):
        groups = _entries(raw, "key_groups", "sops", source)
        if len(groups) > 1:
            raise SecretError(
                f"{source}: the data key is split across {len(groups)} key groups (Shamir "
                "secret sharing), which gitcops does not support"
            )
        if not groups:
            raise SecretError(f"{source}: sops metadata lists no keys")
        if not isinstance(groups[0], dict):
            raise SecretError(f"{source}: sops.key_groups[0] is not a mapping")
        where = "sops.key_groups[0]"
        group = {kind: _entries(groups[0], kind, where, source) for kind in kinds}
    others = {kind: group[kind] for kind in OTHER_KEY_TYPES if group[kind]}
    if not group["age"]:
        found = " and ".join(f"{len(keys)} {kind}" for kind, keys in others.items()) or "no"
        raise SecretError(
            f"{source}: the data key is encrypted only for {found} keys; gitcops supports "
            "only age recipients"
        )
    stanzas = []
    for index, entry in enumerate(group["age"]):
        recipient = entry.get("recipient") if isinstance(entry, dict) else None
        enc = entry.get("enc") if isinstance(entry, dict) else None
        if not isinstance(recipient, str) or not isinstance(enc, str):
            raise SecretError(f"{source}: {where}.age[{index}] needs string recipient and enc")
        stanzas.append(AgeStanza(recipient, enc))
    return tuple(stanzas), others


def metadata_tree(md: Metadata) -> dict[str, Any]:
    """The ``sops`` value to write, in the key order sops writes."""
    tree: dict[str, Any] = {
        "kms": md.other_keys.get("kms", []),
        "gcp_kms": md.other_keys.get("gcp_kms", []),
        "azure_kv": md.other_keys.get("azure_kv", []),
        "hc_vault": md.other_keys.get("hc_vault", []),
        "age": [{"recipient": s.recipient, "enc": s.enc} for s in md.age],
        "lastmodified": md.lastmodified,
        "mac": md.mac,
        "pgp": md.other_keys.get("pgp", []),
        **md.rules.selectors(),
    }
    if md.rules.mac_only_encrypted:
        tree["mac_only_encrypted"] = True
    tree["version"] = md.version
    return tree


def flatten(tree: Mapping[str, Any]) -> dict[str, str]:
    """Metadata as the flat string pairs dotenv and INI files hold, keys sorted.

    Nested keys join with ``__map_``/``__list_``; nulls and empty lists vanish; newlines are
    escaped as ``\\n`` because neither format has multi-line values.
    """
    flat: dict[str, str] = {}

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                add(f"{prefix}{_MAP}{key}", item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                add(f"{prefix}{_LIST}{index}", item)
        elif isinstance(value, bool):
            flat[prefix] = "true" if value else "false"
        elif value is not None:
            flat[prefix] = str(value).replace("\n", "\\n")

    for key, value in tree.items():
        add(key, value)
    return dict(sorted(flat.items()))


def unflatten(flat: Mapping[str, str]) -> dict[str, Any]:
    """The nested metadata behind flat pairs (inverse of flatten, newlines restored)."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        parts = re.split(f"({_MAP}|{_LIST})", key)
        tokens: list[str | int] = [parts[0]]
        for sep, name in zip(parts[1::2], parts[2::2], strict=True):
            tokens.append(name if sep == _MAP else int(name) if name.isdigit() else -1)
        _place(root, tokens, value.replace("\\n", "\n"), key)
    return root


def _place(node: Any, tokens: list[str | int], value: str, key: str) -> None:
    for token, following in zip(tokens, [*tokens[1:], None], strict=True):
        if isinstance(token, int):
            if not isinstance(node, list) or token < 0:
                raise ValueError(f"metadata key {key!r} is malformed")
            node.extend([None] * (token + 1 - len(node)))
            slot: Any = token
        else:
            if not isinstance(node, dict):
                raise ValueError(f"metadata key {key!r} is malformed")
            slot = token
        if following is None:
            node[slot] = value
            return
        current = node[slot] if isinstance(node, list) else node.get(slot)
        if current is None:
            node[slot] = [] if isinstance(following, int) else {}
        node = node[slot]


def metadata_from_flat(flat: Mapping[str, str], source: str) -> Metadata:
    """Metadata from dotenv ``sops_*`` keys or an INI ``[sops]`` section."""
    try:
        tree = unflatten(flat)
    except ValueError as exc:
        raise SecretError(f"{source}: {exc}") from None
    if "mac_only_encrypted" in tree:
        tree["mac_only_encrypted"] = tree["mac_only_encrypted"] == "true"
    return parse_metadata(tree, source)
