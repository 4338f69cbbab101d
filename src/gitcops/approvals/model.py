"""What an approver signs, and the errors of this package."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from gitcops.model.errors import GitcopsError

# The ssh-keygen -n namespace: a signature made for a git commit ("git") can't pass as one.
NAMESPACE = "gitcops-approval"
FORMAT = "gitcops.io/approval/v1"

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # SHA-1 or SHA-256 repositories
_FIELDS = {"format", "project", "environment", "digest", "revision", "created_at"}


class ApprovalError(GitcopsError):
    """An approval cannot be made, stored, read or checked."""


class ApprovalFormatError(ApprovalError):
    """Bytes that are not exactly a canonical approval payload (or stored approval)."""


class SigningError(ApprovalError):
    """ssh-keygen could not sign; the message is its own, never the payload."""


@dataclass(frozen=True)
class ApprovalPayload:
    project: str
    environment: str
    digest: str  # sha256 hex of the environment's rendered desired state: what is approved
    revision: str  # the commit the approver looked at (informational; approvals bind to digest)
    created_at: float  # unix seconds

    def __post_init__(self) -> None:
        for name in ("project", "environment"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or not value.isprintable():
                raise ApprovalFormatError(f"{name} must be a non-empty printable string")
        if not isinstance(self.digest, str) or not _SHA256_HEX.fullmatch(self.digest):
            raise ApprovalFormatError("digest must be 64 lowercase hex digits (sha256)")
        if not isinstance(self.revision, str) or not _COMMIT_ID.fullmatch(self.revision):
            raise ApprovalFormatError("revision must be a full lowercase commit id")
        number = self.created_at
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ApprovalFormatError("created_at must be a number of seconds")
        if not math.isfinite(number) or number < 0:
            raise ApprovalFormatError("created_at must be a finite, non-negative number")

    def canonical(self) -> bytes:
        """Exactly the bytes that are signed: sorted keys, no spaces, UTF-8, with the format."""
        document: dict[str, Any] = {
            "format": FORMAT,
            "project": self.project,
            "environment": self.environment,
            "digest": self.digest,
            "revision": self.revision,
            "created_at": float(self.created_at),  # 1700000000 and 1700000000.0 sign the same
        }
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8")

    @classmethod
    def parse(cls, data: bytes) -> ApprovalPayload:
        """The payload these bytes are the canonical form of; ApprovalFormatError otherwise.

        Requiring the canonical form (not merely equal JSON) means the bytes a signature was
        checked against are the bytes `canonical()` gives back: no second reading of them.
        """
        try:
            document = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise ApprovalFormatError(f"not UTF-8 JSON: {error}") from None
        if not isinstance(document, dict):
            raise ApprovalFormatError("not a JSON object")
        if set(document) != _FIELDS:
            raise ApprovalFormatError(f"fields must be exactly {sorted(_FIELDS)}")
        if document["format"] != FORMAT:
            raise ApprovalFormatError(f"format must be {FORMAT!r}")
        payload = cls(
            project=document["project"],
            environment=document["environment"],
            digest=document["digest"],
            revision=document["revision"],
            created_at=document["created_at"],
        )
        if payload.canonical() != data:
            raise ApprovalFormatError("not in canonical form (key order, spacing or number)")
        return payload


@dataclass(frozen=True)
class Approval:
    payload: ApprovalPayload
    signature: str  # the armored SSH signature (-----BEGIN SSH SIGNATURE----- ...)
    commit: str  # the commit whose note holds it
