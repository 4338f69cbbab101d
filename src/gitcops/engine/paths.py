"""Where gitcops keeps its own files: never inside the Git work tree."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import platformdirs


def default_state_location() -> str:
    return os.environ.get("GITCOPS_STATE") or str(
        Path(platformdirs.user_state_dir("gitcops")) / "state.db"
    )


def cache_dir() -> Path:
    return Path(os.environ.get("GITCOPS_CACHE_DIR") or platformdirs.user_cache_dir("gitcops"))


def write_cache(target: Path, text: str) -> None:
    """Best effort, like every cache: failing to write only costs speed. Written aside and
    renamed, so a reader (another process) sees the old file or the new one, never half."""
    with contextlib.suppress(OSError):
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        temp.write_text(text)
        os.replace(temp, target)
