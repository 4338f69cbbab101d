"""Where gitcops keeps its own files: never inside the Git work tree."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def default_state_location() -> str:
    return os.environ.get("GITCOPS_STATE") or str(
        Path(platformdirs.user_state_dir("gitcops")) / "state.db"
    )


def cache_dir() -> Path:
    return Path(os.environ.get("GITCOPS_CACHE_DIR") or platformdirs.user_cache_dir("gitcops"))
