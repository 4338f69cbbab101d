"""Finds providers by name without the engine importing a concrete one."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, cast

from gitcops.model.errors import GitcopsError
from gitcops.providers.base import Provider, ProviderContext

BUILTIN: Mapping[str, str] = {
    "local": "gitcops.providers.local.provider:LocalProvider",
}


class UnknownProviderError(GitcopsError):
    pass


def known_providers() -> list[str]:
    return sorted(BUILTIN)


def load_provider(name: str, context: ProviderContext) -> Provider:
    target = BUILTIN.get(name)
    if target is None:
        raise UnknownProviderError(
            f"unknown provider {name!r}; known providers: {', '.join(known_providers())}"
        )
    module_name, _, attr = target.partition(":")
    factory: Any = getattr(importlib.import_module(module_name), attr)
    return cast(Provider, factory(context))
