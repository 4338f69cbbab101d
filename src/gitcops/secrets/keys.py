"""Where age identities come from (the places sops looks), and checking recipients.

Sources, in order: ``SOPS_AGE_KEY`` (key lines in the variable), ``SOPS_AGE_KEY_FILE``, any
files the caller adds, and sops's default ``$XDG_CONFIG_HOME/sops/age/keys.txt`` when it
exists. All identities found are tried. Post-quantum (``AGE-SECRET-KEY-PQ-1``) and plugin
identities are skipped: pyrage cannot use them. Errors name the source and line, never a key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from gitcops.model.errors import SecretError, SecretKeyError
from gitcops.secrets.age import RECIPIENT_PREFIX, Identity, parse_identity, parse_recipient

__all__ = ["default_key_file", "load_identities", "parse_identities", "parse_recipients"]

_X25519_PREFIX = "AGE-SECRET-KEY-1"
_SKIPPED_PREFIXES = ("AGE-SECRET-KEY-PQ-1", "AGE-PLUGIN-")


def default_key_file(env: Mapping[str, str]) -> Path:
    """sops's default key file: ``$XDG_CONFIG_HOME/sops/age/keys.txt`` (``~/.config``)."""
    config = env.get("XDG_CONFIG_HOME") or ""
    if not config:
        home = env.get("HOME")
        config = str((Path(home) if home else Path.home()) / ".config")
    return Path(config) / "sops" / "age" / "keys.txt"


def parse_identities(text: str, label: str) -> tuple[list[Identity], int]:
    """The X25519 identities in key-file text and how many unusable ones were skipped."""
    identities, skipped = [], 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith(_SKIPPED_PREFIXES):
            skipped += 1
            continue
        try:
            if not line.upper().startswith(_X25519_PREFIX):
                raise ValueError
            identities.append(parse_identity(line))
        except ValueError:
            raise SecretKeyError(f"{label} line {number} is not a valid age identity") from None
    return identities, skipped


def load_identities(
    env: Mapping[str, str], extra_files: Sequence[Path] = ()
) -> tuple[list[Identity], str]:
    """Every identity from the configured sources, and a description of what was tried."""
    identities: list[Identity] = []
    tried: list[str] = []

    def take(text: str, label: str) -> None:
        found, skipped = parse_identities(text, label)
        identities.extend(found)
        note = f"{len(found)} key{'s' if len(found) != 1 else ''}"
        if skipped:
            note += f", {skipped} unsupported skipped"
        tried.append(f"{label} ({note})")

    if env.get("SOPS_AGE_KEY"):
        take(env["SOPS_AGE_KEY"], "SOPS_AGE_KEY")
    named = [Path(env["SOPS_AGE_KEY_FILE"])] if env.get("SOPS_AGE_KEY_FILE") else []
    for path in [*named, *extra_files]:
        take(_read(path), str(path))
    default = default_key_file(env)
    if default.is_file():
        take(_read(default), str(default))
    else:
        tried.append(f"{default} (not found)")
    return identities, ", ".join(tried)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SecretKeyError(f"age key file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise SecretKeyError(f"age key file {path} cannot be read: {reason}") from None


def parse_recipients(text: str | Sequence[str]) -> list[str]:
    """age recipients from a comma-separated string or a list (whose items may hold commas)."""
    items = [text] if isinstance(text, str) else list(text)
    recipients = []
    for item in items:
        for part in item.split(","):
            recipient = part.strip()
            if not recipient:
                continue
            if not recipient.startswith(RECIPIENT_PREFIX):
                raise SecretError(f"{recipient!r} is not an age recipient (age1...)")
            try:
                parse_recipient(recipient)
            except ValueError as exc:
                raise SecretError(f"{recipient!r} is {exc}") from None
            recipients.append(recipient)
    return recipients
