"""One environment at one revision: its tree, config, providers and desired set."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitcops.engine import cache
from gitcops.engine.paths import cache_dir
from gitcops.model.diagnostics import Diagnostics
from gitcops.model.errors import GitcopsError, InvalidInputError
from gitcops.model.project import Environment, Project
from gitcops.providers.base import Provider, ProviderConfigError, ProviderContext
from gitcops.providers.registry import load_provider
from gitcops.render import secretrefs
from gitcops.render.pipeline import render_environment
from gitcops.source.git import Revision, Source
from gitcops.source.tree import SourceTree, WorkTree
from gitcops.validate.resources import (
    DesiredResource,
    describe,
    prepare_document,
    report_live_problems,
    validate_resources,
)

WORKTREE = "worktree"


@dataclass
class Workspace:
    source: Source
    revision: Revision
    tree: SourceTree
    project: Project
    environment: Environment
    providers: dict[str, Provider]
    timings: dict[str, float] = field(default_factory=dict)
    desired: list[DesiredResource] | None = None
    policy_engines: dict[Any, Any] = field(default_factory=dict)  # compiled, per policy options
    prefetched: dict[str, Any] = field(default_factory=dict)  # work started early for a stage

    @property
    def scope(self) -> str:
        return f"{self.project.name}/{self.environment.name}"

    @property
    def is_worktree(self) -> bool:
        return self.revision.commit == WORKTREE


def open_source(repo: str) -> Source:
    return Source(repo, cache_dir())


def _worktree_revision(source: Source) -> tuple[Revision, SourceTree]:
    if source.workdir is None:
        raise GitcopsError("--worktree needs a local repository with a work tree")
    revision = Revision(WORKTREE, WORKTREE, WORKTREE, "", "uncommitted work tree", int(time.time()))
    return revision, WorkTree(source.workdir)


def tree_at(source: Source, rev: str | None, worktree: bool = False) -> tuple[Revision, SourceTree]:
    if worktree:
        return _worktree_revision(source)
    revision = source.resolve(rev)
    return revision, source.tree(revision)


def project_of(tree: SourceTree) -> Project:
    return cache.load_project(cache_dir(), tree)


def load_providers(project: Project, env: Environment, base_dir: Path) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    for name in sorted(project.provider_names(env)):
        context = ProviderContext(project.provider_config(env, name), base_dir)
        try:
            providers[name] = load_provider(name, context)
        except ProviderConfigError as exc:
            raise InvalidInputError(project.provider_problems(env, name, exc.problems)) from None
    return providers


def open_workspace(
    source: Source, env_name: str, rev: str | None = None, worktree: bool = False
) -> Workspace:
    revision, tree = tree_at(source, rev, worktree)
    project = project_of(tree)
    environment = project.environment(env_name)
    base_dir = source.workdir if source.workdir is not None else Path.cwd()
    providers = load_providers(project, environment, base_dir)
    return Workspace(source, revision, tree, project, environment, providers)


def _provider_settings(ws: Workspace) -> dict[str, Any]:
    return {n: ws.project.provider_config(ws.environment, n) for n in ws.providers}


def desired_state(ws: Workspace) -> list[DesiredResource]:
    """Render and validate, or take the cached result for this exact tree and configuration."""
    if ws.desired is None:
        ws.desired = _desired_state(ws)
    return ws.desired


def desired_cached(ws: Workspace) -> bool:
    """Whether desired_state is at hand: computed, or in the cache for this tree."""
    key = _desired_key(ws)
    return ws.desired is not None or (key is not None and cache.exists(cache_dir(), key))


def _desired_key(ws: Workspace) -> str | None:
    if ws.tree.cache_key is None:
        return None
    return cache.cache_key(ws.tree.cache_key, ws.environment.name, _provider_settings(ws))


def _desired_state(ws: Workspace) -> list[DesiredResource]:
    started = time.perf_counter()
    key = _desired_key(ws)
    if key is not None:
        cached = cache.load(cache_dir(), key)
        if cached is not None:
            items = _with_secrets(ws, *cached)
            _recheck_on_disk(items, ws.providers)
            ws.timings["desired (cached)"] = time.perf_counter() - started
            return items
    render_problems = Diagnostics()
    memo_scope = f"{ws.source.git_dir}\0{ws.environment.path}"
    # Uncommitted files (--worktree) never reach the cache: they may hold what Git never will.
    memo = cache.load_memo(cache_dir(), memo_scope) if key is not None else None
    # Keyed also by the providers' settings: what they are told decides what they accept.
    prepared_scope = json.dumps([memo_scope, _provider_settings(ws)], sort_keys=True, default=str)
    prepared = cache.load_prepared(cache_dir(), prepared_scope) if key is not None else None
    documents = render_environment(ws.tree, ws.environment, render_problems, memo)
    ws.timings["render"] = time.perf_counter() - started
    resolved = secretrefs.resolve(
        [(d.doc, d.origin) for d in documents], _resolver(ws), render_problems, describe
    )
    try:
        result = validate_resources(
            [(r.doc, r.origin) for r in resolved],
            ws.providers,
            ws.tree.read,
            sensitive=[r.sensitive for r in resolved],
            memo=prepared,
        )
    except InvalidInputError as exc:
        # Every problem at once: the overlay's and those of the documents that did render.
        raise InvalidInputError([*render_problems.errors, *exc.diagnostics]) from None
    render_problems.raise_if_errors()
    ws.timings["validate"] = time.perf_counter() - started - ws.timings["render"]
    if memo is not None:
        cache.store_memo(cache_dir(), memo_scope, memo)  # like every cache: only valid input
    if prepared is not None:
        cache.store_prepared(cache_dir(), prepared_scope, prepared)
    if key is not None:
        # Documents with secrets are cached as written (references, not values).
        sources = {i: r.source_doc for i, r in enumerate(resolved) if r.source_doc is not None}
        cache.store(cache_dir(), key, result, sources)
    return result


def _resolver(ws: Workspace) -> secretrefs.SecretResolver:
    def identities() -> tuple[list[object], str]:
        from gitcops.secrets.keys import load_identities

        configured = ws.project.age_key_file(ws.environment)
        extra = [Path(configured).expanduser()] if configured else []
        found, tried = load_identities(os.environ, extra)
        return list(found), tried

    return secretrefs.SecretResolver(ws.tree, identities)


def _with_secrets(
    ws: Workspace, items: list[DesiredResource], sources: dict[int, dict[str, Any]]
) -> list[DesiredResource]:
    """Cached items whose specs hold secrets are resolved and prepared again, in memory."""
    if not sources:
        return items
    diags = Diagnostics()
    resolver = _resolver(ws)
    out = list(items)
    for index, doc in sources.items():
        cached = items[index]
        origin = cached.resource.origin
        [resolved] = secretrefs.resolve([(doc, origin)], resolver, diags, describe)
        prepared = prepare_document(
            resolved.doc, origin, ws.providers, ws.tree.read, diags, resolved.sensitive
        )
        if prepared is None:
            continue
        resource, fields = prepared
        provider = ws.providers[resource.id.provider]
        out[index] = cached._replace(
            resource=resource,
            address=provider.address(resource.id, resource.spec),
            sensitive=fields,
        )
    diags.raise_if_errors()
    return out


def _recheck_on_disk(items: list[DesiredResource], providers: Mapping[str, Provider]) -> None:
    """Checks that depend on the live system (symlinks escaping a root) never come from cache."""
    diags = Diagnostics()
    for item in items:
        res = item.resource
        report_live_problems(providers[res.id.provider], res, diags)
    diags.raise_if_errors()
