from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gitcops.state.sqlite import SqliteStateStore


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "gitcops.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[SqliteStateStore]:
    s = SqliteStateStore(db_path)
    yield s
    s.close()
