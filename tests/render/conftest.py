"""Helpers for the render tests: trees on disk and the real kubectl to compare with."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from gitcops.render.yamldocs import iter_documents

FIXTURES = Path(__file__).parent / "fixtures"


def _canonical(doc: Any) -> str:
    """A document as comparable text.

    kustomize converts every document to JSON and back, so a YAML 2.0 comes out as 2;
    integral floats are therefore compared as integers.
    """

    def normal(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, dict):
            return {key: normal(item) for key, item in value.items()}
        if isinstance(value, list):
            return [normal(item) for item in value]
        return value

    return json.dumps(normal(doc), sort_keys=True)


@pytest.fixture(scope="session")
def canonical() -> Callable[[Any], str]:
    return _canonical


@pytest.fixture(scope="session")
def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        pytest.skip("kubectl not installed: conformance needs it")
    return path


@pytest.fixture
def run_kubectl(kubectl: str) -> Callable[[Path], subprocess.CompletedProcess[str]]:
    """Run `kubectl kustomize DIR`; stdout holds the documents when it succeeds."""

    def run(directory: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [kubectl, "kustomize", str(directory)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


@pytest.fixture
def kubectl_documents(
    run_kubectl: Callable[[Path], subprocess.CompletedProcess[str]],
) -> Callable[[Path], list[str]]:
    """The canonical documents kubectl renders for a directory (sorted)."""

    def render(directory: Path) -> list[str]:
        result = run_kubectl(directory)
        assert result.returncode == 0, f"kubectl kustomize failed:\n{result.stderr[-2000:]}"
        return sorted(_canonical(doc) for _, doc in iter_documents(result.stdout))

    return render


@pytest.fixture
def write_tree(tmp_path: Path) -> Callable[[Mapping[str, str]], Path]:
    """Write {relative path: text} (dedented) under a fresh directory and return it."""

    def write(files: Mapping[str, str]) -> Path:
        root = tmp_path / "repo"
        for relative, text in files.items():
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text), encoding="utf-8")
        root.mkdir(exist_ok=True)
        return root

    return write
