"""Fixtures for the HTTP application: recorded forge payloads, a fake agent, a real server.

The payloads under payloads/ are the forges' documented examples (GitHub's push, ping and
pull_request events, GitLab's Push Hook and Tag Push Hook, Gitea's push and delete), trimmed
to the fields a receiver reads plus enough around them to keep their shape.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gitcops.api.app import Server, create_app, serve
from gitcops.api.metrics import AgentMetrics

PAYLOADS = Path(__file__).parent / "payloads"
SECRET = b"It's a Secret to Everybody"


def payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


@dataclass
class FakeHooks:
    """An agent that records what the app tells it; it watches one branch."""

    watched: str = "main"
    is_ready: bool = False
    status: Mapping[str, object] = field(default_factory=lambda: {"version": "test"})
    gate: threading.Event | None = None  # when set, push() waits for it (a stuck agent)
    fail: bool = False
    pushes: list[tuple[str, str, str | None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def push(self, forge: str, branch: str, commit: str | None) -> bool:
        with self._lock:
            self.pushes.append((forge, branch, commit))
        if self.gate is not None:
            self.gate.wait()
        if self.fail:
            raise RuntimeError("the agent broke")
        return branch == self.watched

    def ready(self) -> bool:
        return self.is_ready

    def health(self) -> Mapping[str, object]:
        if self.fail:
            raise RuntimeError("the agent broke")
        return self.status


@dataclass
class Running:
    server: Server
    hooks: FakeHooks
    metrics: AgentMetrics


def start(
    secret: bytes | None = SECRET, max_body: int = 1024 * 1024, hooks: FakeHooks | None = None
) -> Running:
    hooks = hooks or FakeHooks()
    metrics = AgentMetrics()
    app = create_app(hooks, metrics, secret, max_body=max_body)
    return Running(serve(app, "127.0.0.1", 0), hooks, metrics)


@pytest.fixture
def running() -> Iterator[Running]:
    r = start()
    yield r
    assert r.server.stop(10)
