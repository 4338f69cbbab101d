"""Finds providers by name without the engine importing a concrete one."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, NamedTuple, cast

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


class InstanceChoice(NamedTuple):
    """Which instance of a provider type a document (or an import) goes through."""

    instance: str | None  # None: see `problem`
    problem: str  # "" | "unknown" (no such instance) | "other type" | "several" | "none"
    instances: tuple[str, ...]  # the configured instances of the type


def choose_instance(
    providers: Mapping[str, Provider], type_name: str, chosen: str | None
) -> InstanceChoice:
    """The instance named; else the one named like its type; else the only one of its type."""
    instances = tuple(sorted(n for n, p in providers.items() if p.name == type_name))
    if chosen is not None:
        if chosen not in providers:
            return InstanceChoice(None, "unknown", instances)
        if providers[chosen].name != type_name:
            return InstanceChoice(None, "other type", instances)
        return InstanceChoice(chosen, "", instances)
    if type_name in providers and providers[type_name].name == type_name:
        return InstanceChoice(type_name, "", instances)
    if len(instances) == 1:
        return InstanceChoice(instances[0], "", instances)
    return InstanceChoice(None, "several" if instances else "none", instances)


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
