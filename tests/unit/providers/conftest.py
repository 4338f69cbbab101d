from __future__ import annotations

from pathlib import Path

import pytest

from gitcops.providers.base import ProviderContext
from gitcops.providers.local.provider import LocalProvider


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
