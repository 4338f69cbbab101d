"""The per-installation key that hashes sensitive values: beside the state, never inside it.

Whoever reads the state sees only keyed hashes of secrets; without this key they cannot test
guesses against them. `GITCOPS_REDACTION_KEY` (hex, at least 32 bytes) lets several agents that
share one state store share the key too.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from gitcops.model.errors import StateError

ENV_VAR = "GITCOPS_REDACTION_KEY"
_SIZE = 32


def key_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".redaction-key")


def load_or_create(path: Path) -> bytes:
    configured = os.environ.get(ENV_VAR)
    if configured:
        try:
            key = bytes.fromhex(configured.strip())
        except ValueError:
            raise StateError(f"{ENV_VAR} must be hex") from None
        if len(key) < _SIZE:
            raise StateError(f"{ENV_VAR} must hold at least {_SIZE} bytes ({2 * _SIZE} hex digits)")
        return key
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    # O_EXCL: two first runs racing must end up with one key, the one on disk.
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(_SIZE) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    except OSError as exc:
        raise StateError(f"cannot create the redaction key {path}: {exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)
    return _read(path)


def _read(path: Path) -> bytes:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StateError(f"cannot read the redaction key {path}: {exc}") from exc
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise StateError(f"the redaction key {path} is not hex; restore it from backup") from None
    if len(key) < _SIZE:
        raise StateError(f"the redaction key {path} is too short; restore it from backup")
    return key
