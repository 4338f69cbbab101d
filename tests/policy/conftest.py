"""Helpers for the policy engine tests: engines from inline Rego, documents as policies see."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from gitcops.validate.policy.engine import PolicyEngine, PolicyFile


def rego(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def files(**by_name: str) -> list[PolicyFile]:
    """policies/<name>.rego files from keyword arguments (dedented)."""
    return [PolicyFile(f"policies/{name}.rego", rego(text)) for name, text in by_name.items()]


@pytest.fixture
def make_engine() -> Callable[..., PolicyEngine]:
    def make(data: Mapping[str, Any] | None = None, **by_name: str) -> PolicyEngine:
        return PolicyEngine(files(**by_name), data)

    return make


def resource(
    name: str = "motd",
    *,
    kind: str = "File",
    labels: Mapping[str, Any] | None = None,
    spec: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A rendered document as resource policies see it (docs/policy.md)."""
    return {
        "apiVersion": "local.gitcops.io/v1",
        "kind": kind,
        "metadata": {"name": name, "labels": dict(labels or {}), "annotations": {}},
        "spec": dict(spec if spec is not None else {"path": "etc/motd", "content": "hi\n"}),
        "gitcops": {
            "project": "shop",
            "environment": "dev",
            "provider": "local",
            "id": f"local.gitcops.io/{kind}/{name}",
            "file": "base/site.yaml",
            "document": 1,
        },
    }
