"""The error hierarchy. Everything gitcops raises on purpose derives from GitcopsError."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gitcops.model.diagnostics import Diagnostic


class GitcopsError(Exception):
    """Root of every error gitcops raises deliberately; the CLI turns it into exit 1."""


class InvalidInputError(GitcopsError):
    """User input (documents, overlays, config) is wrong; carries every problem found."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class SourceError(GitcopsError):
    """The repository or revision cannot be read."""


class StateError(GitcopsError):
    """The state store cannot be read or written, or is inconsistent."""


class LockedError(StateError):
    """Another apply holds the environment's lock."""


class PlanError(GitcopsError):
    """A plan cannot be made, loaded, or applied as it is (stale, wrong revision, tampered)."""


class ProviderError(GitcopsError):
    """A provider failed to read or change a resource: terminal (a permission refused, an
    invalid value) unless it is a TransientProviderError. Its message is the provider's,
    shown as it is."""

    transient: bool = False
    retry_after: float | None = None


class TransientProviderError(ProviderError):
    """A failure worth retrying with backoff (a connection lost, a timeout, a busy object);
    `retry_after`: seconds the system asked to wait, at least."""

    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SecretError(GitcopsError):
    """A SOPS file cannot be read, decrypted, verified or written. Never carries plaintext."""


class SecretKeyError(SecretError):
    """No identity can decrypt the data key (none configured, or none matching a recipient)."""


class SecretIntegrityError(SecretError):
    """A value or the MAC does not authenticate: the file was tampered with or corrupted."""
