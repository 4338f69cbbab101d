"""The agent's decisions, as functions: which revision to run, how long to wait."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitcops.agent.loop import Agent, AgentConfig
from gitcops.agent.reconcile import choose
from gitcops.engine.runtime import Runtime
from gitcops.source.git import Revision
from gitcops.state.records import EnvControl, EnvStatus

HEAD = Revision("main", "h" * 40, "t" * 40, "a", "head", 0)
OLD = "o" * 40


def status(applied: str) -> EnvStatus:
    return EnvStatus("p/dev", applied, applied, 1, 1, "succeeded", True, 0.0, 3)


def test_the_branch_head_unless_pinned_or_bad() -> None:
    assert choose(EnvControl("p/dev"), status(OLD), HEAD) == (HEAD.commit, "")
    pinned = choose(EnvControl("p/dev", pin=OLD), status(HEAD.commit), HEAD)
    assert pinned is not None and pinned.revision == OLD and "pinned" in pinned.why
    bad = choose(EnvControl("p/dev", bad=(HEAD.commit,)), status(OLD), HEAD)
    assert bad is not None and bad.revision == OLD and "marked bad" in bad.why
    assert choose(EnvControl("p/dev", bad=(HEAD.commit,)), None, HEAD) is None


@pytest.mark.parametrize(
    ("failures", "low", "high"),
    [(0, 54.0, 66.0), (1, 1.8, 2.2), (2, 3.6, 4.4), (3, 7.2, 8.8), (10, 54.0, 66.0)],
)
def test_waits_are_the_interval_with_jitter_or_a_doubling_backoff(
    tmp_path: Path, failures: int, low: float, high: float
) -> None:
    with Runtime(cache_dir=tmp_path) as rt:
        agent = Agent(rt, AgentConfig(str(tmp_path), interval=60.0, jitter=0.1))
        waits = [agent.delay_after(failures) for _ in range(200)]
    assert all(low <= w <= high for w in waits)
    assert len({round(w, 3) for w in waits}) > 100  # jittered, not in step
