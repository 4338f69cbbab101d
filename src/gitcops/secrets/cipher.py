"""SOPS value encryption: ``ENC[AES256_GCM,...]`` strings and the bytes behind each value type.

Every leaf value is encrypted on its own with AES-256-GCM under the file's data key, a fresh
32-byte IV, and the value's path as additional data, so a value cannot be moved to another key
without the tag failing. The plaintext bytes of a typed value follow Go's ``strconv`` (sops is
written in Go): the same bytes feed the MAC, so they must match sops exactly.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "IV_SIZE",
    "EncryptedValue",
    "InvalidValueError",
    "Scalar",
    "decrypt_value",
    "encrypt_value",
    "format_go_float",
    "is_encrypted_value",
    "parse_value",
    "to_bytes",
    "type_name",
]

IV_SIZE: Final = 32
_TAG_SIZE: Final = 16
_ENC = re.compile(
    r"ENC\[AES256_GCM,data:(?P<data>[A-Za-z0-9+/=]*),iv:(?P<iv>[A-Za-z0-9+/=]+),"
    r"tag:(?P<tag>[A-Za-z0-9+/=]+),type:(?P<type>[^\]]+)\]"
)
# "time" is what sops 3.10+ writes for YAML timestamps; its plaintext is RFC 3339 text.
_TYPES: Final = frozenset({"str", "int", "int64", "float", "bool", "bytes", "comment", "time"})
_GO_TRUE: Final = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE: Final = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_GO_INT = re.compile(r"[+-]?[0-9]+")

# The leaf types a SOPS tree holds; ``bytes`` values come back as str (see to_bytes).
Scalar = str | int | float | bool


class InvalidValueError(ValueError):
    """An encrypted value cannot be parsed or typed; the message never holds plaintext."""


@dataclass(frozen=True)
class EncryptedValue:
    data: bytes
    iv: bytes
    tag: bytes
    type: str


def is_encrypted_value(text: str) -> bool:
    return _ENC.fullmatch(text) is not None


def parse_value(text: str) -> EncryptedValue:
    match = _ENC.fullmatch(text)
    if match is None:
        raise InvalidValueError("is not in the SOPS ENC[AES256_GCM,...] format")
    if match["type"] not in _TYPES:
        raise InvalidValueError(f"has an unknown type {match['type']!r}")
    try:
        parts = [base64.b64decode(match[k], validate=True) for k in ("data", "iv", "tag")]
    except (binascii.Error, ValueError) as exc:
        raise InvalidValueError("has invalid base64 in its ENC[...] fields") from exc
    data, iv, tag = parts
    if len(tag) != _TAG_SIZE or not iv:
        raise InvalidValueError("has an ENC[...] tag or IV of the wrong size")
    return EncryptedValue(data, iv, tag, match["type"])


def type_name(value: Scalar) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "str"


def format_go_float(value: float) -> str:
    """strconv.FormatFloat(value, 'f', -1, 64): shortest round-trip digits, never an exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def to_bytes(value: Scalar) -> bytes:
    """The bytes sops encrypts and hashes for a value (sops.ToBytes).

    Strings are encoded with surrogateescape so binary files that are not UTF-8 survive a
    decrypt/encrypt round trip byte for byte, as they do in Go strings.
    """
    if isinstance(value, bool):
        return b"True" if value else b"False"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return format_go_float(value).encode()
    return value.encode("utf-8", "surrogateescape")


def encrypt_value(value: Scalar, key: bytes, aad: str, iv: bytes) -> str:
    """The ENC[...] string for a value; the empty string stays empty, as in sops."""
    if value == "" and isinstance(value, str):
        return ""
    sealed = AESGCM(key).encrypt(iv, to_bytes(value), aad.encode("utf-8", "surrogateescape"))
    data, tag = sealed[:-_TAG_SIZE], sealed[-_TAG_SIZE:]
    b64 = base64.b64encode
    return (
        f"ENC[AES256_GCM,data:{b64(data).decode()},iv:{b64(iv).decode()},"
        f"tag:{b64(tag).decode()},type:{type_name(value)}]"
    )


def decrypt_value(value: EncryptedValue, key: bytes, aad: str) -> Scalar:
    """The typed plaintext; cryptography's InvalidTag when the value or its path was altered."""
    plain = AESGCM(key).decrypt(
        value.iv, value.data + value.tag, aad.encode("utf-8", "surrogateescape")
    )
    return _typed(plain, value.type)


def _typed(plain: bytes, kind: str) -> Scalar:
    text = plain.decode("utf-8", "surrogateescape")
    if kind in ("str", "bytes", "comment", "time"):
        return text
    if kind in ("int", "int64"):
        if not _GO_INT.fullmatch(text):
            raise InvalidValueError("is typed int but does not hold an integer")
        return int(text)
    if kind == "float":
        return _go_parse_float(text)
    if text in _GO_TRUE:
        return True
    if text in _GO_FALSE:
        return False
    raise InvalidValueError("is typed bool but does not hold a boolean")


def _go_parse_float(text: str) -> float:
    # Python's float() also takes "1_0" and surrounding spaces; Go's ParseFloat does not.
    if "_" in text or text != text.strip():
        raise InvalidValueError("is typed float but does not hold a number")
    try:
        if text.lstrip("+-").lower().startswith("0x"):
            return float.fromhex(text)
        return float(text)
    except ValueError:
        raise InvalidValueError("is typed float but does not hold a number") from None
