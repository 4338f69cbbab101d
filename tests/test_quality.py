"""The code standards are tests: lint, format, strict types, layering, light CLI startup."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    "argv",
    [
        ("ruff", "check", "src", "tests", "bench"),
        ("ruff", "format", "--check", "src", "tests", "bench"),
        ("mypy", "--strict", "src"),
        ("lint-imports",),
    ],
    ids=["ruff-check", "ruff-format", "mypy-strict", "import-linter"],
)
def test_tool_passes(argv: tuple[str, ...]) -> None:
    done = _run(str(BIN / argv[0]), *argv[1:])
    assert done.returncode == 0, done.stdout + done.stderr


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys; from gitcops.cli.main import app; import typer.testing as t;"
        "r = t.CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output;"
        "heavy = {'pygit2', 'jsonschema', 'pydantic', 'yaml', 'rich', 'sqlite3',"
        " 'fastapi', 'starlette', 'uvicorn', 'prometheus_client'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    done = _run(sys.executable, "-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
