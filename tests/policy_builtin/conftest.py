"""Fixtures evaluating the built-in library's resource and plan namespaces (see support.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from gitcops.validate.policy.builtin import PLAN_NAMESPACE, RESOURCE_NAMESPACE

from .support import query_deny

Evaluate = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def evaluate_resource() -> Evaluate:
    def run(
        document: Mapping[str, Any], config: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        return query_deny(RESOURCE_NAMESPACE, document, config)

    return run


@pytest.fixture
def evaluate_plan() -> Evaluate:
    def run(
        plan: Mapping[str, Any], config: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        return query_deny(PLAN_NAMESPACE, plan, config)

    return run
