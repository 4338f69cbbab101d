"""Walking a SOPS tree: which values are encrypted, encrypting, decrypting, and the MAC.

A tree is what JSON holds (dicts in file order, lists, str, int, float, bool, None). The walk
visits leaves in document order; the path of map keys to a leaf (list indices excluded) decides
whether it is encrypted and is its AES-GCM additional data. The MAC is SHA-512 over every
non-null leaf's plaintext bytes in that order, so reordering or dropping a value breaks it.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from cryptography.exceptions import InvalidTag

from gitcops.model.errors import SecretError, SecretIntegrityError
from gitcops.secrets.cipher import (
    IV_SIZE,
    InvalidValueError,
    Scalar,
    decrypt_value,
    encrypt_value,
    parse_value,
    to_bytes,
    type_name,
)

__all__ = [
    "DEFAULT_UNENCRYPTED_SUFFIX",
    "EncryptionRules",
    "IvSource",
    "MacHasher",
    "Stash",
    "decrypt_tree",
    "encrypt_tree",
    "random_iv",
]

DEFAULT_UNENCRYPTED_SUFFIX: Final = "_unencrypted"
SELECTOR_FIELDS: Final = (
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
)
# sops seeds the MAC with sha256(b"sops") when only encrypted values count, so the two MAC
# modes never agree on the same tree.
_MAC_ONLY_ENCRYPTED_SEED: Final = hashlib.sha256(b"sops").digest()

# (additional data, type, plaintext bytes) -> IV; see reencrypt.
Stash = dict[tuple[str, str, bytes], bytes]
IvSource = Callable[[str, Scalar], bytes]


@dataclass(frozen=True)
class EncryptionRules:
    """Which values a file encrypts; at most one of the four selectors may be set.

    With none set, sops leaves keys ending in ``_unencrypted`` in clear text; ``effective()``
    applies that default.
    """

    unencrypted_suffix: str | None = None
    encrypted_suffix: str | None = None
    unencrypted_regex: str | None = None
    encrypted_regex: str | None = None
    mac_only_encrypted: bool = False

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], where: str) -> EncryptionRules:
        """The rules a `sops` block or a creation rule states; `where` prefixes field names in
        errors (`"f.yaml: sops."`, `".sops.yaml creation_rules[0]."`)."""
        values: dict[str, str | None] = {}
        for name in SELECTOR_FIELDS:
            value = raw.get(name)
            if value is not None and not isinstance(value, str):
                raise SecretError(f"{where}{name} is not a string")
            values[name] = value or None
        mac_only = raw.get("mac_only_encrypted", False)
        if not isinstance(mac_only, bool):
            raise SecretError(f"{where}mac_only_encrypted is not a boolean")
        return cls(**values, mac_only_encrypted=mac_only)

    def selectors(self) -> dict[str, str]:
        """The selectors that are set, by their metadata name."""
        named = {name: getattr(self, name) for name in SELECTOR_FIELDS}
        return {name: value for name, value in named.items() if value}

    def effective(self, source: str) -> EncryptionRules:
        """These rules checked (one selector, valid regexes) with sops's default applied."""
        chosen = self.selectors()
        if len(chosen) > 1:
            raise SecretError(
                f"{source}: only one of encrypted_suffix, unencrypted_suffix, encrypted_regex "
                f"and unencrypted_regex may be set, found {', '.join(sorted(chosen))}"
            )
        for name in ("unencrypted_regex", "encrypted_regex"):
            pattern = chosen.get(name)
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise SecretError(f"{source}: {name} {pattern!r} is invalid: {exc}") from None
        if not chosen:
            return replace(self, unencrypted_suffix=DEFAULT_UNENCRYPTED_SUFFIX)
        return self

    def should_encrypt(self, path: Sequence[str]) -> bool:
        """sops's shouldBeEncrypted over the map keys on a value's path."""
        encrypted = True
        if self.unencrypted_suffix and any(k.endswith(self.unencrypted_suffix) for k in path):
            encrypted = False
        if self.encrypted_suffix:
            encrypted = any(k.endswith(self.encrypted_suffix) for k in path)
        if self.unencrypted_regex and any(re.search(self.unencrypted_regex, k) for k in path):
            encrypted = False
        if self.encrypted_regex:
            encrypted = any(re.search(self.encrypted_regex, k) for k in path)
        return encrypted


@dataclass
class MacHasher:
    """Accumulates the SOPS MAC over the leaves a walk visits."""

    mac_only_encrypted: bool
    _hash: Any = field(init=False)

    def __post_init__(self) -> None:
        self._hash = hashlib.sha512()
        if self.mac_only_encrypted:
            self._hash.update(_MAC_ONLY_ENCRYPTED_SEED)

    def add(self, value: Scalar, encrypted: bool) -> None:
        if encrypted or not self.mac_only_encrypted:
            self._hash.update(to_bytes(value))

    def hexdigest(self) -> str:
        return str(self._hash.hexdigest()).upper()


def random_iv(aad: str, value: Scalar) -> bytes:
    return os.urandom(IV_SIZE)


def _display(keys: Sequence[str | int]) -> str:
    text = ""
    for key in keys:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else key)
    return text or "(top level)"


def encrypt_tree(
    tree: Any,
    key: bytes,
    rules: EncryptionRules,
    mac: MacHasher,
    iv_for: IvSource = random_iv,
) -> Any:
    """A copy of a plaintext tree with the selected values encrypted; feeds the MAC."""

    def leaf(value: Scalar, path: list[str], shown: list[str | int]) -> Any:
        encrypted = rules.should_encrypt(path)
        mac.add(value, encrypted)
        if not encrypted:
            return value
        aad = ":".join(path) + ":"
        return encrypt_value(value, key, aad, iv_for(aad, value))

    return _walk(tree, [], [], leaf)


def decrypt_tree(
    tree: Any,
    key: bytes,
    rules: EncryptionRules,
    mac: MacHasher,
    *,
    source: str,
    stash: Stash | None = None,
) -> Any:
    """A copy of an encrypted tree with every encrypted value in plain text; feeds the MAC.

    Errors name the file and the value's path, never the value. With ``stash``, records the
    IV of each value so an edit can re-encrypt unchanged values to the same ciphertext.
    """

    def leaf(value: Scalar, path: list[str], shown: list[str | int]) -> Any:
        encrypted = rules.should_encrypt(path)
        if not encrypted:
            mac.add(value, False)
            return value
        where = f"{source}: value {_display(shown)}"
        if not isinstance(value, str):
            raise SecretError(f"{where} should be encrypted but is a plain {type_name(value)}")
        if value == "":
            mac.add("", True)
            return ""
        aad = ":".join(path) + ":"
        try:
            parsed = parse_value(value)
            plain = decrypt_value(parsed, key, aad)
        except InvalidValueError as exc:
            raise SecretError(f"{where} {exc}") from None
        except InvalidTag:
            raise SecretIntegrityError(
                f"{where} does not authenticate (wrong data key, or the value or its path was "
                "changed)"
            ) from None
        if parsed.type == "comment":
            raise SecretError(f"{where} is an encrypted comment where a value belongs")
        mac.add(plain, True)
        if stash is not None:
            stash[(aad, parsed.type, to_bytes(plain))] = parsed.iv
        return plain

    return _walk(tree, [], [], leaf)


def _walk(
    tree: Any,
    path: list[str],
    shown: list[str | int],
    leaf: Callable[[Scalar, list[str], list[str | int]], Any],
) -> Any:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for name, value in tree.items():
            out[name] = _walk(value, [*path, name], [*shown, name], leaf)
        return out
    if isinstance(tree, list):
        return [_walk(v, path, [*shown, i], leaf) for i, v in enumerate(tree)]
    if tree is None:
        return None  # sops neither encrypts nor hashes nulls
    if isinstance(tree, str | int | float | bool):
        return leaf(tree, path, shown)
    raise SecretError(f"value {_display(shown)} has an unsupported type {type(tree).__name__}")
