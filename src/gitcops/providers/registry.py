"""Finds providers by name without the engine importing a concrete one."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, cast

from gitcops.model.errors import GitcopsError
from gitcops.providers.base import Provider, ProviderContext

BUILTIN: Mapping[str, str] = {
    "local": "gitcops.providers.local.provider:LocalProvider",
    "postgres": "gitcops.providers.postgres.provider:PostgresProvider",
}


class UnknownProviderError(GitcopsError):
    pass


def known_providers() -> list[str]:
    return sorted(BUILTIN)


def load_provider(type_name: str, context: ProviderContext) -> Provider:
    """An instance of provider type `type_name` (its name in gitcops.yaml: context.instance)."""
    target = BUILTIN.get(type_name)
    if target is None:
        raise UnknownProviderError(
            f"unknown provider type {type_name!r}; known types: {', '.join(known_providers())}"
        )
    module_name, _, attr = target.partition(":")
    factory: Any = getattr(importlib.import_module(module_name), attr)
    return cast(Provider, factory(context))
