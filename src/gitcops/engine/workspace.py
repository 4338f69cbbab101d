"""One environment at one revision: its tree, Project, providers, and its desired set.

The desired set is the render and validate stages run over the tree: documents rendered
(overlays), secret references resolved in memory, each document checked and prepared by its
provider, then the set checked as a whole (unique ids and objects, dependencies, cycles). The
Runtime's cache remembers it by everything it depends on (see `desired_key`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from gitcops.engine.runtime import Runtime
from gitcops.model.diagnostics import Diagnostic, Diagnostics
from gitcops.model.errors import GitcopsError, InvalidInputError, SecretError
from gitcops.model.paths import PathOutsideError, normalize
from gitcops.model.project import Environment, Project
from gitcops.providers.base import Closing, Provider, ProviderConfigError, ProviderContext
from gitcops.providers.registry import load_provider
from gitcops.render import secretrefs
from gitcops.render.pipeline import render_environment
from gitcops.source.git import Revision, Source
from gitcops.source.tree import SourceTree, WorkTree
from gitcops.validate.resources import (
    DesiredResource,
    check_resources,
    describe,
    prepare_document,
    report_live_problems,
)

if TYPE_CHECKING:
    from gitcops.engine.secret_scanner import Scanner

WORKTREE = "worktree"


class DesiredSet(NamedTuple):
    """What an environment's revision asks for: the resources that passed every check of
    their own, and the problems found (any problem makes the set unfit to plan or apply)."""

    items: list[DesiredResource]
    problems: tuple[Diagnostic, ...] = ()

    def require_valid(self) -> list[DesiredResource]:
        if self.problems:
            raise InvalidInputError(list(self.problems))
        return self.items


@dataclass
class EarlyScan:
    """The secret scanner's child, forked before rendering; and the documents handed to it."""

    scanner: Scanner
    submitted: list[DesiredResource] | None = None


@dataclass
class Workspace:
    runtime: Runtime
    source: Source
    revision: Revision
    tree: SourceTree
    project: Project
    environment: Environment
    providers: dict[str, Provider]
    base_dir: Path  # where relative provider paths resolve
    timings: dict[str, float] = field(default_factory=dict)
    checked: DesiredSet | None = None
    early_scan: EarlyScan | None = None
    # One per workspace: each SOPS file is decrypted once, for provider settings and documents.
    resolver: secretrefs.SecretResolver | None = None

    @property
    def scope(self) -> str:
        return f"{self.project.name}/{self.environment.name}"

    @property
    def is_worktree(self) -> bool:
        return self.revision.commit == WORKTREE

    def close(self) -> None:
        """Stop the early scanner if nobody took it; providers that hold connections close."""
        if self.early_scan is not None:
            self.early_scan.scanner.cancel()
            self.early_scan = None
        for provider in self.providers.values():
            if isinstance(provider, Closing):
                provider.close()


def tree_at(source: Source, rev: str | None, worktree: bool = False) -> tuple[Revision, SourceTree]:
    if worktree:
        if source.workdir is None:
            raise GitcopsError("--worktree needs a local repository with a work tree")
        revision = Revision(
            WORKTREE, WORKTREE, WORKTREE, "", "uncommitted work tree", int(time.time())
        )
        return revision, WorkTree(source.workdir)
    revision = source.resolve(rev)
    return revision, source.tree(revision)


def project_of(rt: Runtime, tree: SourceTree) -> Project:
    if rt.cache is None:
        from gitcops.render.pipeline import parse_project, read_project_file

        rt.count("project files parsed")
        return parse_project(read_project_file(tree))
    return rt.cache.project(tree)


def head_project(rt: Runtime, repo: str, env: str | None = None) -> Project:
    """The Project at HEAD, checking that `env` (if given) is one of its environments."""
    _, tree = tree_at(rt.source(repo), None)
    project = project_of(rt, tree)
    if env is not None:
        project.environment(env)
    return project


def base_dir_of(source: Source) -> Path:
    return source.workdir if source.workdir is not None else Path.cwd()


def load_providers(
    project: Project,
    env: Environment,
    base_dir: Path,
    tree: SourceTree,
    offline: bool = False,
    resolver: secretrefs.SecretResolver | None = None,
) -> dict[str, Provider]:
    """The environment's provider instances, by name, their settings' references to secrets
    (`{secretRef: {file, key}}`) and to the environment (`{env: NAME}`) resolved in memory.
    `offline` (validate, render: nothing is contacted): a credential that is not available
    here (an unset variable, a secret this machine cannot decrypt) is left out, not an error,
    so CI without credentials can check everything else."""
    providers: dict[str, Provider] = {}
    problems: list[Diagnostic] = []
    resolver = resolver or secret_resolver(tree, project, env)
    for name in sorted(project.provider_names(env)):
        settings = dict(project.provider_config(env, name))
        type_name = str(settings.pop("type", name))
        found: list[tuple[tuple[str | int, ...], str]] = []
        config = resolve_settings(settings, resolver, os.environ, found, offline=offline)
        if found:
            problems += project.provider_problems(env, name, found)
            continue
        try:
            providers[name] = load_provider(type_name, ProviderContext(config, base_dir, name))
        except ProviderConfigError as exc:
            problems += project.provider_problems(env, name, exc.problems)
    if problems:
        raise InvalidInputError(problems)
    return providers


def resolve_settings(
    settings: Mapping[str, Any],
    resolver: secretrefs.SecretResolver,
    environ: Mapping[str, str],
    problems: list[tuple[tuple[str | int, ...], str]],
    at: tuple[str | int, ...] = (),
    *,
    offline: bool = False,
) -> dict[str, Any]:
    """Settings with every reference replaced by its value; each bad one a problem at its
    path (`offline`: one whose value is not available here is left out instead). Values never
    reach a message."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        path = (*at, key)
        if isinstance(value, dict) and set(value) == {"secretRef"}:
            ref = value["secretRef"]
            if not (
                isinstance(ref, dict)
                and isinstance(ref.get("file"), str)
                and set(ref) <= {"file", "key"}
                and isinstance(ref.get("key", ""), str)
            ):
                problems.append(
                    (path, "secretRef takes `file` (a path in the repository) and `key`")
                )
                continue
            try:
                out[key] = resolver.value(
                    secretrefs.SecretRef(normalize(ref["file"]), ref.get("key"))
                )
            except PathOutsideError:
                problems.append(((*path, "secretRef", "file"), "leaves the repository"))
            except SecretError as exc:
                if not offline:
                    problems.append(((*path, "secretRef"), str(exc)))
        elif isinstance(value, dict) and set(value) == {"env"}:
            name = value["env"]
            if not isinstance(name, str):
                problems.append(((*path, "env"), "names an environment variable (a string)"))
            elif name in environ:
                out[key] = environ[name]
            elif not offline:
                problems.append(((*path, "env"), f"environment variable {name!r} is not set"))
        elif isinstance(value, dict):
            out[key] = resolve_settings(value, resolver, environ, problems, path, offline=offline)
        elif isinstance(value, str) and key.lower().endswith(_CREDENTIALS):
            problems.append(
                (
                    path,
                    "a credential is never written in plain text: give it as "
                    "{secretRef: {file: ….sops.yaml, key: …}} or {env: NAME}",
                )
            )
        else:
            out[key] = value
    return out


# Settings that hold credentials (password, apiToken, clientSecret, …): references only.
_CREDENTIALS = ("password", "token", "secret")


def secret_resolver(
    tree: SourceTree, project: Project, env: Environment
) -> secretrefs.SecretResolver:
    def identities() -> tuple[list[object], str]:
        from gitcops.secrets.keys import load_identities

        configured = project.age_key_file(env)
        extra = [Path(configured).expanduser()] if configured else []
        found, tried = load_identities(os.environ, extra)
        return list(found), tried

    return secretrefs.SecretResolver(tree, identities)


def open_workspace(
    rt: Runtime,
    source: Source,
    env_name: str,
    rev: str | None = None,
    worktree: bool = False,
    *,
    offline: bool = False,
) -> Workspace:
    """`offline`: for checks that contact no system (see load_providers)."""
    revision, tree = tree_at(source, rev, worktree)
    project = project_of(rt, tree)
    environment = project.environment(env_name)
    base_dir = base_dir_of(source)
    resolver = secret_resolver(tree, project, environment)
    providers = load_providers(project, environment, base_dir, tree, offline, resolver)
    return Workspace(
        rt, source, revision, tree, project, environment, providers, base_dir, resolver=resolver
    )


def provider_identity(ws: Workspace) -> list[Any]:
    """The providers as configured and where their relative paths resolve: two checkouts of
    one tree manage different objects."""
    return [
        [name, ws.project.provider_config(ws.environment, name), str(ws.base_dir)]
        for name in sorted(ws.providers)
    ]


def desired_key(ws: Workspace) -> str | None:
    cache = ws.runtime.cache
    if cache is None or ws.tree.cache_key is None:
        return None
    return cache.key(
        "desired",
        ws.tree.cache_key,
        ws.environment.name,
        ws.environment.path,
        provider_identity(ws),
    )


def desired_state(ws: Workspace) -> list[DesiredResource]:
    """Render and validate; every problem raised at once (InvalidInputError)."""
    return checked_state(ws).require_valid()


def desired_cached(ws: Workspace) -> bool:
    """Whether the desired set is at hand: computed, or in the cache for this tree."""
    if ws.checked is not None:
        return True
    key = desired_key(ws)
    return key is not None and ws.runtime.cache is not None and ws.runtime.cache.has("render", key)


def checked_state(ws: Workspace) -> DesiredSet:
    """The desired set with its problems, computed once per workspace (or taken from the
    cache, which only ever holds sets without problems)."""
    if ws.checked is None:
        ws.checked = _checked_state(ws)
    return ws.checked


def _checked_state(ws: Workspace) -> DesiredSet:
    started = time.perf_counter()
    cache = ws.runtime.cache
    key = desired_key(ws)
    if key is not None and cache is not None:
        cached = cache.load_desired(key)
        if cached is not None:
            found = Diagnostics()
            items = _with_secrets(ws, *cached, found)
            _recheck_on_disk(items, ws.providers, found)
            ws.timings["desired (cached)"] = time.perf_counter() - started
            ws.runtime.count("desired sets from cache")
            return DesiredSet(items, tuple(found.errors))
    problems = Diagnostics()
    # Uncommitted files (--worktree) never reach the cache: they may hold what Git never will.
    memo_scope = [str(ws.source.git_dir), ws.environment.path]
    use_memos = key is not None and cache is not None
    memo = cache.load_documents(memo_scope) if use_memos and cache is not None else None
    # Keyed also by the providers: what they are told decides what they accept.
    prepared_scope = [*memo_scope, provider_identity(ws)]
    prepared = cache.load_prepared(prepared_scope) if use_memos and cache is not None else None
    documents = render_environment(ws.tree, ws.environment, problems, memo)
    ws.timings["render"] = time.perf_counter() - started
    resolved = secretrefs.resolve(
        [(d.doc, d.origin) for d in documents], _resolver(ws), problems, describe
    )
    items = check_resources(
        [(r.doc, r.origin) for r in resolved],
        ws.providers,
        ws.tree.read,
        problems,
        sensitive=[r.sensitive for r in resolved],
        memo=prepared,
    )
    ws.timings["validate"] = time.perf_counter() - started - ws.timings["render"]
    rt = ws.runtime
    rt.count("environments rendered")
    rt.count("documents parsed", memo.misses if memo is not None else len(documents))
    rt.count("documents prepared", len(resolved) - (prepared.hits if prepared is not None else 0))
    if problems.errors:
        return DesiredSet(items, tuple(problems.errors))
    if cache is not None and memo is not None:
        cache.store_memo("documents", memo_scope, memo)  # like every cache: only valid input
    if cache is not None and prepared is not None:
        cache.store_memo("prepared", prepared_scope, prepared)
    if key is not None and cache is not None:
        # Documents with secrets are cached as written (references, not values).
        sources = {i: r.source_doc for i, r in enumerate(resolved) if r.source_doc is not None}
        cache.store_desired(key, items, sources)
    return DesiredSet(items)


def _resolver(ws: Workspace) -> secretrefs.SecretResolver:
    if ws.resolver is None:
        ws.resolver = secret_resolver(ws.tree, ws.project, ws.environment)
    return ws.resolver


def _with_secrets(
    ws: Workspace,
    items: list[DesiredResource],
    sources: dict[int, dict[str, Any]],
    diags: Diagnostics,
) -> list[DesiredResource]:
    """Cached items whose specs hold secrets are resolved and prepared again, in memory."""
    if not sources:
        return items
    resolver = _resolver(ws)
    out: list[DesiredResource | None] = list(items)
    for index, doc in sources.items():
        cached = items[index]
        origin = cached.resource.origin
        [resolved] = secretrefs.resolve([(doc, origin)], resolver, diags, describe)
        prepared = prepare_document(
            resolved.doc, origin, ws.providers, ws.tree.read, diags, resolved.sensitive
        )
        if prepared is None:
            out[index] = None  # its problem is in diags
            continue
        resource, fields = prepared
        provider = ws.providers[resource.provider]
        out[index] = cached._replace(
            resource=resource,
            address=provider.address(resource.id, resource.spec),
            sensitive=fields,
        )
    return [item for item in out if item is not None]


def _recheck_on_disk(
    items: list[DesiredResource], providers: Mapping[str, Provider], diags: Diagnostics
) -> None:
    """Checks that depend on the live system (symlinks escaping a root) never come from cache."""
    for item in items:
        res = item.resource
        report_live_problems(providers[res.provider], res, diags)
