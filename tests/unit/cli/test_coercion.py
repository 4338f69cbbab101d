"""Options pass through without pydantic exactly where Typer's adapter would return them as is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gitcops.cli.coercion import install, passes_through


@pytest.mark.parametrize(
    ("annotation", "value", "expected"),
    [
        (str, "x", True),
        (str | None, "", True),
        (int, 8, True),
        (float, 0.0, True),
        (bool, True, True),
        (int, "8", False),  # typed on the command line: Typer's adapter parses it
        (float, 1, False),  # an int for a float option may be converted
        (int, True, False),
        (Path, "out.json", False),
        (Path | None, "out.json", False),
        (list[str] | None, ("a",), False),
    ],
)
def test_passes_through_only_values_the_adapter_returns_unchanged(
    annotation: Any, value: Any, expected: bool
) -> None:
    assert passes_through(annotation, value) is expected
    if expected:
        pydantic = pytest.importorskip("pydantic")
        assert pydantic.TypeAdapter(annotation).validate_python(value) == value


def test_install_is_idempotent() -> None:
    assert install() is install()


def _imports_pydantic(*args: str) -> bool:
    code = (
        "import sys\n"
        "from gitcops.cli.main import main\n"
        f"sys.argv = ['gitcops', *{list(args)!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('pydantic' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip().endswith("True")


def test_a_plain_command_does_not_import_pydantic(tmp_path: Path) -> None:
    if not install():
        pytest.skip("this Typer does not coerce through pydantic adapters")
    # Fails on the missing repository, after every option has been coerced.
    assert not _imports_pydantic("apply", "--env", "e", "--yes", "--repo", str(tmp_path / "no"))


def test_values_that_need_parsing_still_get_typer_errors(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from gitcops.cli.main import run\n"
        "sys.argv = ['gitcops', 'apply', '--env', 'e', '--parallelism', 'many']\n"
        "run()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert "Invalid value for '--parallelism'" in done.stderr
    assert "valid integer" in done.stderr
