"""The age operations SOPS needs (through pyrage): wrap and unwrap the 32-byte data key.

sops encrypts the data key separately for each recipient, as an ASCII-armored age file, so
every recipient gets its own stanza and any one identity is enough to decrypt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import pyrage
from pyrage import x25519

from gitcops.secrets.metadata import AgeStanza

__all__ = [
    "DATA_KEY_SIZE",
    "RECIPIENT_PREFIX",
    "generate_identity",
    "identity_recipient",
    "parse_identity",
    "parse_recipient",
    "unwrap_data_key",
    "wrap_data_key",
]

DATA_KEY_SIZE: Final = 32
RECIPIENT_PREFIX: Final = "age1"
# pyrage ships no type information; its identities are opaque objects to gitcops.
Identity = Any


def parse_identity(text: str) -> Identity:
    """An X25519 identity from ``AGE-SECRET-KEY-1...``; ValueError naming no key material."""
    try:
        return x25519.Identity.from_str(text)
    except pyrage.IdentityError:
        raise ValueError("not a valid age X25519 identity") from None


def generate_identity() -> Identity:
    return x25519.Identity.generate()


def identity_recipient(identity: Identity) -> str:
    return str(identity.to_public())


def parse_recipient(text: str) -> Any:
    try:
        return x25519.Recipient.from_str(text)
    except pyrage.RecipientError as exc:
        raise ValueError(f"not a valid age X25519 recipient ({exc})") from None


def wrap_data_key(data_key: bytes, recipients: Sequence[str]) -> tuple[AgeStanza, ...]:
    stanzas = []
    for recipient in recipients:
        armored = pyrage.encrypt(data_key, [parse_recipient(recipient)], armored=True)
        stanzas.append(AgeStanza(recipient, bytes(armored).decode("ascii")))
    return tuple(stanzas)


def unwrap_data_key(stanzas: Sequence[AgeStanza], identities: Sequence[Identity]) -> bytes | None:
    """The data key from the first stanza an identity opens, or None."""
    if not identities:
        return None
    for stanza in stanzas:
        try:
            key = bytes(pyrage.decrypt(stanza.enc.encode("ascii", "replace"), list(identities)))
        except pyrage.DecryptError:
            continue
        if len(key) == DATA_KEY_SIZE:
            return key
    return None
