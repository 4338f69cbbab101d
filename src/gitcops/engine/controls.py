"""What people decide about an environment beyond Git: suspend and resume its reconciling,
release a pin. Each is recorded in the audit log; the agent reads them before every reconcile."""

from __future__ import annotations

from gitcops.engine.runtime import Runtime
from gitcops.engine.workspace import head_project
from gitcops.model.errors import GitcopsError
from gitcops.state.records import EnvControl


def _scope(rt: Runtime, repo: str, env: str) -> str:
    return f"{head_project(rt, repo, env).name}/{env}"


def suspend(
    rt: Runtime, repo: str, env: str, *, state: str | None, actor: str, reason: str = ""
) -> EnvControl:
    """The agent stops reconciling the environment (it still reports drift) until resumed."""
    scope = _scope(rt, repo, env)
    store = rt.store(state)
    if not store.control(scope).suspended:
        store.set_suspended(scope, True, actor=actor, reason=reason)
    return store.control(scope)


def resume(rt: Runtime, repo: str, env: str, *, state: str | None, actor: str) -> EnvControl:
    scope = _scope(rt, repo, env)
    store = rt.store(state)
    if store.control(scope).suspended:
        store.set_suspended(scope, False, actor=actor)
    return store.control(scope)


def unpin(rt: Runtime, repo: str, env: str, *, state: str | None, actor: str) -> EnvControl:
    """Release a rollback's pin: the agent goes back to the branch's latest revision."""
    scope = _scope(rt, repo, env)
    store = rt.store(state)
    if not store.control(scope).pin:
        raise GitcopsError(f"environment {env} is not pinned")
    store.unpin(scope, actor=actor, reason="released by hand")
    return store.control(scope)
