from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gitcops.providers.base import ProviderContext
from gitcops.providers.local.atomic import OS_CALLS, SystemCalls
from gitcops.providers.local.provider import LocalProvider
from gitcops.providers.local.staging import FileSystemSync, libc_sync


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the root that the provider must never touch."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret").write_text("do not touch\n")
    return path


@pytest.fixture
def provider(root: Path) -> LocalProvider:
    return LocalProvider(ProviderContext({"root": str(root)}, root.parent))


@pytest.fixture
def make_provider(root: Path) -> Callable[..., LocalProvider]:
    """A provider of `root` whose system calls or file-system sync a test chose."""

    def make(
        *,
        calls: SystemCalls = OS_CALLS,
        syncfs: Callable[[], FileSystemSync | None] = libc_sync,
    ) -> LocalProvider:
        return LocalProvider(
            ProviderContext({"root": str(root)}, root.parent), calls=calls, syncfs=syncfs
        )

    return make
