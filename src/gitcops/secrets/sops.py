"""SOPS files encrypted for age recipients: decrypt, encrypt, edit (reencrypt) and rotate.

This is the API the rest of gitcops uses; the parts live in sibling modules (cipher: values,
tree: the walk and the MAC, metadata: the ``sops`` block, stores: file formats, age: the data
key). Files written here are read by the real ``sops`` binary and the other way round.

Limitations: only age X25519 recipients (no PGP, cloud KMS, Vault, post-quantum age, or
Shamir key groups); comments are not preserved when a file is written, and encrypted comments
are ignored when one is read; the comment-based encryption rules are refused.

No error raised here contains a plaintext value or the data key: they name the file (the
caller's ``source`` label) and, for one value, its path.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from cryptography.exceptions import InvalidTag

from gitcops.model.errors import SecretError, SecretIntegrityError, SecretKeyError
from gitcops.secrets.age import unwrap_data_key, wrap_data_key
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
from gitcops.secrets.dotenv import METADATA_PREFIX
from gitcops.secrets.keys import parse_recipients
from gitcops.secrets.metadata import (
    WRITTEN_VERSION,
    Metadata,
    metadata_tree,
    now_rfc3339,
)
from gitcops.secrets.stores import (
    BINARY_KEY,
    METADATA_KEY,
    SopsFormat,
    dump_encrypted,
    dump_plain,
    format_for,
    has_metadata,
    load_encrypted,
    load_plain,
)
from gitcops.secrets.tree import (
    EncryptionRules,
    IvSource,
    MacHasher,
    Stash,
    decrypt_tree,
    encrypt_tree,
    random_iv,
)

__all__ = [
    "Decrypted",
    "EncryptionRules",
    "SopsFormat",
    "decrypt",
    "decrypt_to_text",
    "encrypt",
    "format_for",
    "looks_encrypted",
    "reencrypt",
    "rotate",
]

_DATA_KEY_SIZE = 32


@dataclass(frozen=True)
class Decrypted:
    """A decrypted file: plaintext trees without metadata (binary: the one string)."""

    format: SopsFormat
    documents: list[Any]
    recipients: tuple[str, ...]
    source: str = ""

    def lookup(self, key: str | None) -> Any:
        """A value by top-level key or dotted path; binary files take no key."""
        if self.format is SopsFormat.BINARY:
            if key is not None:
                raise SecretError(
                    f"file {self.source} is a binary SOPS file; it has no key {key!r}"
                )
            return self.documents[0]
        if key is None:
            raise SecretError(f"file {self.source} is a {self.format} file; name a key in it")
        node: Any = self.documents[0] if self.documents else {}
        if isinstance(node, dict) and key in node:
            return node[key]
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise SecretError(f"file {self.source} has no key {key!r}")
            node = node[part]
        return node


def looks_encrypted(data: bytes, fmt: SopsFormat) -> bool:
    """Whether the data carries SOPS metadata; never raises."""
    return has_metadata(data, fmt)


def decrypt(
    data: bytes,
    fmt: SopsFormat,
    identities: Sequence[object],
    *,
    source: str,
    tried: str = "",
) -> Decrypted:
    fmt = SopsFormat(fmt)
    trees, metadata, _ = _open(data, fmt, identities, source, tried)
    documents: list[Any] = trees
    if fmt is SopsFormat.BINARY:
        documents = [_binary_text(trees, source)]
    return Decrypted(fmt, documents, metadata.recipients, source)


def decrypt_to_text(
    data: bytes,
    fmt: SopsFormat,
    identities: Sequence[object],
    *,
    source: str,
    tried: str = "",
) -> bytes:
    """The plaintext file, as ``sops -d`` prints it (comments aside)."""
    fmt = SopsFormat(fmt)
    trees, _, _ = _open(data, fmt, identities, source, tried)
    if fmt is SopsFormat.BINARY:
        _binary_text(trees, source)
    return dump_plain(trees, fmt, source)


def encrypt(
    plain: bytes,
    fmt: SopsFormat,
    recipients: Sequence[str],
    rules: EncryptionRules = EncryptionRules(),  # noqa: B008 - frozen, so sharing is safe
    *,
    source: str,
) -> bytes:
    """A new SOPS file for the recipients, with a fresh data key."""
    chosen = _recipients(recipients, source)
    effective = rules.effective(source)
    trees = _plain_trees(plain, fmt, source)
    data_key = os.urandom(_DATA_KEY_SIZE)
    metadata = Metadata(wrap_data_key(data_key, chosen), effective, now_rfc3339(), None)
    return _seal(trees, fmt, data_key, metadata, source, random_iv)


def reencrypt(
    data: bytes,
    fmt: SopsFormat,
    plain: bytes,
    identities: Sequence[object],
    *,
    source: str,
    tried: str = "",
) -> bytes:
    """The existing file with new plaintext, as ``sops edit`` writes it.

    The data key, recipients and rules stay. A value whose path and plaintext did not change
    keeps its IV, hence its ciphertext, so a diff shows only what was edited.
    """
    stash: Stash = {}
    _, metadata, data_key = _open(data, fmt, identities, source, tried, stash)
    trees = _plain_trees(plain, fmt, source)

    def reuse(aad: str, value: Scalar) -> bytes:
        return stash.get((aad, type_name(value), to_bytes(value))) or os.urandom(IV_SIZE)

    return _seal(trees, fmt, data_key, metadata, source, reuse)


def rotate(
    data: bytes,
    fmt: SopsFormat,
    identities: Sequence[object],
    *,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    source: str,
    tried: str = "",
) -> bytes:
    """The file under a new data key for the current recipients plus ``add`` minus ``remove``."""
    trees, metadata, _ = _open(data, fmt, identities, source, tried)
    if metadata.other_keys:
        kinds = ", ".join(sorted(metadata.other_keys))
        raise SecretError(
            f"{source}: cannot rotate: the data key is also encrypted for {kinds} keys, which "
            "gitcops cannot encrypt a new data key for"
        )
    adding = parse_recipients(list(add)) if add else []
    removing = set(parse_recipients(list(remove))) if remove else set()
    current = [*metadata.recipients, *adding]
    for recipient in sorted(removing):
        if recipient not in current:
            raise SecretError(f"{source}: {recipient} is not a recipient of this file")
    chosen = list(dict.fromkeys(r for r in current if r not in removing))
    if not chosen:
        raise SecretError(f"{source}: removing those recipients would leave none")
    data_key = os.urandom(_DATA_KEY_SIZE)
    rotated = replace(metadata, age=wrap_data_key(data_key, chosen), other_keys={})
    return _seal(trees, fmt, data_key, rotated, source, random_iv)


def _recipients(recipients: Sequence[str], source: str) -> list[str]:
    chosen = list(dict.fromkeys(parse_recipients(list(recipients))))
    if not chosen:
        raise SecretError(f"{source}: no age recipients to encrypt for")
    return chosen


def _plain_trees(plain: bytes, fmt: SopsFormat, source: str) -> list[dict[str, Any]]:
    fmt = SopsFormat(fmt)
    trees = load_plain(plain, fmt, source)
    if fmt is SopsFormat.BINARY:
        return trees
    for tree in trees:
        taken = [
            k
            for k in tree
            if k == METADATA_KEY or (fmt is SopsFormat.DOTENV and k.startswith(METADATA_PREFIX))
        ]
        if taken:
            raise SecretError(
                f"{source}: key {taken[0]!r} is reserved for SOPS metadata (is the file "
                "already encrypted?)"
            )
    return trees


def _open(
    data: bytes,
    fmt: SopsFormat,
    identities: Sequence[object],
    source: str,
    tried: str,
    stash: Stash | None = None,
) -> tuple[list[dict[str, Any]], Metadata, bytes]:
    """Decrypted trees, metadata and data key of a file whose MAC checked out."""
    trees, metadata = load_encrypted(data, fmt, source)
    data_key = unwrap_data_key(metadata.age, identities)
    if data_key is None:
        raise SecretKeyError(_no_key_message(metadata, bool(identities), source, tried))
    mac = MacHasher(metadata.rules.mac_only_encrypted)
    plain = [
        decrypt_tree(tree, data_key, metadata.rules, mac, source=source, stash=stash)
        for tree in trees
    ]
    _verify_mac(metadata, data_key, mac.hexdigest(), source)
    return plain, metadata, data_key


def _no_key_message(metadata: Metadata, any_identity: bool, source: str, tried: str) -> str:
    # Post-quantum recipients run to ~2,000 characters; their start identifies them.
    recipients = ", ".join(r if len(r) <= 80 else f"{r[:40]}..." for r in metadata.recipients)
    sources = f" (tried {tried})" if tried else ""
    if not any_identity:
        return (
            f"{source}: no age identity is configured{sources}; the file is encrypted for "
            f"{recipients}"
        )
    return (
        f"{source}: no configured age identity{sources} matches a recipient of the file: "
        f"{recipients}"
    )


def _verify_mac(metadata: Metadata, data_key: bytes, computed: str, source: str) -> None:
    if metadata.mac is None:
        raise SecretIntegrityError(
            f"{source}: the file has no MAC (sops.mac), so its values cannot be trusted"
        )
    try:
        stored = decrypt_value(parse_value(metadata.mac), data_key, metadata.mac_aad)
    except InvalidValueError as exc:
        raise SecretIntegrityError(f"{source}: sops.mac {exc}") from None
    except InvalidTag:
        raise SecretIntegrityError(
            f"{source}: sops.mac does not authenticate (the MAC or sops.lastmodified was changed)"
        ) from None
    if stored != computed:
        raise SecretIntegrityError(
            f"{source}: MAC mismatch: values were changed, added, removed or reordered"
        )


def _seal(
    trees: list[dict[str, Any]],
    fmt: SopsFormat,
    data_key: bytes,
    metadata: Metadata,
    source: str,
    iv_for: IvSource,
) -> bytes:
    """Encrypt the trees and write the file with a new lastmodified and MAC."""
    mac = MacHasher(metadata.rules.mac_only_encrypted)
    encrypted = [encrypt_tree(tree, data_key, metadata.rules, mac, iv_for) for tree in trees]
    lastmodified = now_rfc3339()
    sealed = replace(metadata, lastmodified=lastmodified, mac=None, version=WRITTEN_VERSION)
    mac_value = encrypt_value(mac.hexdigest(), data_key, sealed.mac_aad, os.urandom(IV_SIZE))
    sealed = replace(sealed, mac=mac_value)
    return dump_encrypted(encrypted, metadata_tree(sealed), fmt, source)


def _binary_text(trees: list[dict[str, Any]], source: str) -> str:
    value = trees[0].get(BINARY_KEY) if trees else None
    if not isinstance(value, str):
        raise SecretError(f"{source}: binary SOPS file has no string {BINARY_KEY!r} value")
    return value
