"""The executor's side of the provider contract for remote systems: replacement, provider state,
readiness, and the wait a transient error asks for."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from gitcops.apply import executor
from gitcops.apply.changeset import Action, ChangeSet
from gitcops.apply.executor import ApplyOptions, execute
from gitcops.model.errors import TransientProviderError
from gitcops.model.identity import ResourceId
from gitcops.plan.model import ChangeAction, PlannedChange
from gitcops.providers.base import (
    CheckRequest,
    CreateRequest,
    DeleteRequest,
    ReadyResponse,
    UpdateRequest,
    WriteResponse,
)

from .fake_provider import GROUP, FakeProvider

THING = ResourceId(GROUP, "Thing", "db")


@dataclass
class RemoteProvider(FakeProvider):
    """Assigns an id on create, wants it back later, and is ready after `not_ready` asks."""

    not_ready: int = 0
    seen: list[tuple[str, Mapping[str, Any] | None]] = field(default_factory=list)
    asked: int = 0

    def create(self, request: CreateRequest) -> WriteResponse:
        super().create(request)
        self.seen.append(("create", None))
        return WriteResponse(state={"id": f"db-{len(self.seen)}"})

    def update(self, request: UpdateRequest) -> WriteResponse:
        self.seen.append(("update", request.state))
        return super().update(request)

    def delete(self, request: DeleteRequest) -> WriteResponse:
        self.seen.append(("delete", request.state))
        return super().delete(request)

    def ready(self, request: CheckRequest) -> ReadyResponse:
        self.asked += 1
        if self.asked <= self.not_ready:
            return ReadyResponse(False, retry_after=0.01, message="still starting")
        return ReadyResponse(True)


def run(
    change: PlannedChange, provider: FakeProvider, **options: Any
) -> tuple[ChangeSet, Action, str]:
    out = execute(
        [change],
        {"fake": provider},
        options=ApplyOptions(retry_backoff=0.0, **options),
        on_result=lambda c, e: None,
    )
    entry = out.entries[0]
    return out, entry.action, entry.message


def planned(action: ChangeAction, state: Mapping[str, Any] | None = None) -> PlannedChange:
    before = None if action is ChangeAction.CREATE else {"size": 1}
    after = None if action is ChangeAction.DELETE else {"size": 2}
    return PlannedChange(action, THING, f"{GROUP}/v1", before, after, state=state)


def test_a_replacement_deletes_with_the_kept_state_then_creates() -> None:
    provider = RemoteProvider(objects={THING: {"size": 1}})
    out, action, _ = run(planned(ChangeAction.REPLACE, {"id": "db-0"}), provider)
    assert action is Action.REPLACED
    assert [c.op for c in provider.calls] == ["delete", "create"]
    assert provider.seen[0] == ("delete", {"id": "db-0"})
    assert out.entries[0].state == {"id": "db-2"}  # the new object's id is what is kept


def test_what_the_system_assigned_is_handed_to_updates_and_deletes() -> None:
    provider = RemoteProvider(objects={THING: {"size": 1}})
    run(planned(ChangeAction.UPDATE, {"id": "db-7"}), provider)
    run(planned(ChangeAction.DELETE, {"id": "db-7"}), provider)
    assert provider.seen == [("update", {"id": "db-7"}), ("delete", {"id": "db-7"})]


def test_a_write_waits_until_the_object_is_ready() -> None:
    provider = RemoteProvider(not_ready=3)
    _, action, message = run(planned(ChangeAction.CREATE), provider)
    assert action is Action.CREATED, message
    assert provider.asked == 4


def test_an_object_never_ready_fails_after_the_timeout_with_the_providers_words() -> None:
    provider = RemoteProvider(not_ready=10**6)
    _, action, message = run(planned(ChangeAction.CREATE), provider, ready_timeout=0.2)
    assert action is Action.FAILED
    assert message == "written, but not ready after 0.2 s: still starting"


def test_a_transient_error_waits_as_long_as_the_system_asks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(executor.time, "sleep", slept.append)
    provider = FakeProvider(errors={})
    calls = {"n": 0}
    original = provider.create

    def create(request: CreateRequest) -> WriteResponse:
        calls["n"] += 1
        if calls["n"] == 1:
            raise TransientProviderError("throttled", retry_after=7.5)
        return original(request)

    provider.create = create  # type: ignore[method-assign]
    out = execute(
        [planned(ChangeAction.CREATE)],
        {"fake": provider},
        options=ApplyOptions(retry_backoff=0.5),
        on_result=lambda c, e: None,
    )
    assert out.entries[0].action is Action.CREATED
    assert slept == [7.5]  # more than the backoff would have waited


def test_transient_errors_back_off_exponentially_up_to_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(executor.time, "sleep", slept.append)
    provider = FakeProvider(transient={THING: 99})
    out = execute(
        [planned(ChangeAction.CREATE)],
        {"fake": provider},
        options=ApplyOptions(retry_backoff=1.0),
        on_result=lambda c, e: None,
    )
    entry = out.entries[0]
    assert entry.action is Action.FAILED
    assert f"after {executor.TRANSIENT_RETRIES} attempts" in entry.message
    assert len(slept) == executor.TRANSIENT_RETRIES - 1
    for n, seconds in enumerate(slept):
        assert 2**n * 0.5 <= seconds <= 2**n  # jittered within [half, full] of the backoff
