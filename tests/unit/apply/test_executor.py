"""The executor: a DAG on a bounded thread pool, failures isolated to their dependents."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitcops.apply.changeset import Action, ChangeSet, ChangeSetEntry
from gitcops.apply.executor import TRANSIENT_RETRIES, ApplyOptions, execute
from gitcops.model.identity import ResourceId
from gitcops.plan.model import ChangeAction, PlannedChange
from gitcops.providers.base import CheckRequest, CheckResponse, Provider

from .fake_provider import GROUP, FakeChecker, FakeProvider, FakeStager

CREATE, UPDATE, DELETE = ChangeAction.CREATE, ChangeAction.UPDATE, ChangeAction.DELETE
NOOP, CHECK = ChangeAction.NOOP, ChangeAction.CHECK


def rid(name: str) -> ResourceId:
    return ResourceId(GROUP, "Thing", name)


def change(
    name: str,
    action: ChangeAction = CREATE,
    deps: Sequence[str] = (),
    *,
    forget_only: bool = False,
    before: dict[str, object] | None = None,
    after: dict[str, object] | None = None,
) -> PlannedChange:
    if action is DELETE:
        live = {"name": name} if before is None else before
        return PlannedChange(
            action,
            rid(name),
            f"{GROUP}/v1",
            before=live,
            after=None,
            depends_on=tuple(rid(d) for d in deps),
            reason="pruned: no longer in Git",
            forget_only=forget_only,
        )
    return PlannedChange(
        action,
        rid(name),
        f"{GROUP}/v1",
        before=before if action is not CREATE else None,
        after=after if after is not None else {"name": name},
        depends_on=tuple(rid(d) for d in deps),
        reason="adopted: already in place" if action is NOOP else "",
    )


@dataclass
class Run:
    changeset: ChangeSet
    reported: list[tuple[PlannedChange, ChangeSetEntry]] = field(default_factory=list)
    settled_at: dict[ResourceId, int] = field(default_factory=dict)
    threads: set[int] = field(default_factory=set)

    def action(self, name: str) -> Action:
        (entry,) = [e for e in self.changeset.entries if e.id == rid(name)]
        return entry.action

    def message(self, name: str) -> str:
        (entry,) = [e for e in self.changeset.entries if e.id == rid(name)]
        return entry.message


def run(
    changes: Sequence[PlannedChange],
    provider: FakeProvider,
    *,
    parallelism: int = 8,
) -> Run:
    result = Run(ChangeSet())

    def on_result(c: PlannedChange, entry: ChangeSetEntry) -> None:
        result.reported.append((c, entry))
        result.settled_at[c.id] = provider.tick()
        result.threads.add(threading.get_ident())

    providers: dict[str, Provider] = {"fake": provider}
    result.changeset = execute(
        changes,
        providers,
        options=ApplyOptions(parallelism=parallelism, retry_backoff=0.0),
        on_result=on_result,
    )
    return result


def names(ids: Sequence[ResourceId]) -> list[str]:
    return [i.name for i in ids]


# -- ordering ------------------------------------------------------------------------------------


def random_dag(rng: random.Random, size: int) -> list[PlannedChange]:
    changes = []
    for i in range(size):
        deps = rng.sample(range(i), k=min(i, rng.choice([0, 1, 1, 2, 3, 5])))
        action = rng.choice([CREATE, CREATE, UPDATE, NOOP])
        changes.append(change(f"n{i}", action, [f"n{d}" for d in deps], before={"old": i}))
    rng.shuffle(changes)  # the executor may not rely on the input being sorted
    return changes


@settings(max_examples=8, deadline=None)
@given(st.randoms(use_true_random=False))
def test_random_dag_respects_dependencies_under_parallelism(rng: random.Random) -> None:
    changes = random_dag(rng, 300)
    provider = FakeProvider(delay=0.0002)  # long enough for calls to overlap on the pool
    result = run(changes, provider, parallelism=8)

    assert len(result.changeset.entries) == 300
    assert not result.changeset.failed
    starts = {c.id: c.start for c in provider.calls}
    for c in changes:
        for dep in c.depends_on:
            assert result.settled_at[dep] < result.settled_at[c.id]
            if c.id in starts:
                assert result.settled_at[dep] < starts[c.id], f"{c.id} started before {dep}"
    called = {c.id for c in changes if c.action is not NOOP}
    assert set(provider.called()) == called
    assert len(provider.calls) == len(called), "each change is performed exactly once"
    assert provider.max_in_flight <= 8


def test_entries_match_the_results_reported_on_the_callers_thread() -> None:
    changes = [change("a"), change("b", deps=["a"]), change("c", NOOP), change("d", deps=["c"])]
    result = run(changes, FakeProvider())
    assert result.threads == {threading.get_ident()}
    assert [e for _, e in result.reported] == result.changeset.entries
    assert sorted(names([c.id for c, _ in result.reported])) == ["a", "b", "c", "d"]


@pytest.mark.parametrize("parallelism", [1, 3, 8])
def test_concurrency_reaches_but_never_exceeds_parallelism(parallelism: int) -> None:
    changes = [change(f"n{i}") for i in range(6 * parallelism)]
    provider = FakeProvider(gate=threading.Barrier(parallelism), delay=0.001)
    result = run(changes, provider, parallelism=parallelism)
    assert result.changeset.counts["created"] == len(changes), result.changeset.entries
    assert provider.max_in_flight == parallelism


# -- failures ------------------------------------------------------------------------------------


def test_a_failure_skips_transitive_dependents_only() -> None:
    changes = [
        change("root"),
        change("child", deps=["root"]),
        change("grandchild", deps=["child"]),
        change("noop-child", NOOP, deps=["root"]),
        change("other"),
        change("mixed", deps=["other", "child"]),
        change("after-other", deps=["other"]),
    ]
    provider = FakeProvider(fail={rid("root")})
    result = run(changes, provider)

    assert result.action("root") is Action.FAILED
    assert "refused" in result.message("root")
    for skipped in ["child", "grandchild", "noop-child", "mixed"]:
        assert result.action(skipped) is Action.SKIPPED, skipped
    assert result.message("child") == f"dependency failed: {rid('root')}"
    assert result.message("grandchild") == f"skipped: {rid('child')}"
    assert result.action("other") is Action.CREATED
    assert result.action("after-other") is Action.CREATED
    assert sorted(names(provider.called())) == ["after-other", "other", "root"]
    assert result.changeset.failed
    assert result.changeset.counts["skipped"] == 4


def test_a_diamond_with_one_failed_side_is_skipped_once() -> None:
    changes = [change("top", deps=["left", "right"]), change("left"), change("right")]
    provider = FakeProvider(fail={rid("left")})
    result = run(changes, provider)
    assert result.action("right") is Action.CREATED
    assert result.action("top") is Action.SKIPPED
    assert len(result.changeset.entries) == 3
    assert rid("top") not in provider.called()


def test_a_10000_node_chain_failing_at_its_root_skips_everything() -> None:
    size = 10_000
    changes = [change("n0")] + [change(f"n{i}", deps=[f"n{i - 1}"]) for i in range(1, size)]
    provider = FakeProvider(fail={rid("n0")})
    result = run(changes, provider)
    counts = result.changeset.counts
    assert (counts["failed"], counts["skipped"]) == (1, size - 1)
    assert len(result.reported) == size
    assert provider.called() == [rid("n0")]


def test_os_errors_are_failures() -> None:
    provider = FakeProvider(errors={rid("a"): PermissionError(13, "Permission denied")})
    result = run([change("a"), change("b", deps=["a"])], provider)
    assert result.action("a") is Action.FAILED
    assert result.message("a") == "Permission denied"
    assert result.action("b") is Action.SKIPPED


def test_an_unexpected_provider_exception_does_not_hang_the_apply() -> None:
    # Regression: only GitcopsError and OSError were caught; anything else left execute()
    # waiting forever for a result that never came.
    provider = FakeProvider(errors={rid("a"): KeyError("spec.path")})
    outcome: list[Run] = []
    worker = threading.Thread(
        target=lambda: outcome.append(run([change("a"), change("b")], provider)), daemon=True
    )
    worker.start()
    worker.join(timeout=10)  # a hang guard, not a performance bound: this takes milliseconds
    assert not worker.is_alive(), "execute() never returned"
    assert outcome[0].action("a") is Action.FAILED
    assert "KeyError" in outcome[0].message("a")
    assert outcome[0].action("b") is Action.CREATED


# -- retries -------------------------------------------------------------------------------------


def test_transient_errors_are_retried_then_succeed() -> None:
    provider = FakeProvider(transient={rid("flaky"): TRANSIENT_RETRIES - 1})
    result = run([change("flaky"), change("after", deps=["flaky"])], provider)
    assert result.action("flaky") is Action.CREATED
    assert result.action("after") is Action.CREATED
    assert provider.attempts[rid("flaky")] == TRANSIENT_RETRIES


def test_transient_errors_give_up_after_the_last_retry() -> None:
    provider = FakeProvider(transient={rid("down"): TRANSIENT_RETRIES})
    result = run([change("down")], provider)
    assert result.action("down") is Action.FAILED
    assert "busy" in result.message("down")
    assert provider.attempts[rid("down")] == TRANSIENT_RETRIES


def test_permanent_errors_are_not_retried() -> None:
    provider = FakeProvider(fail={rid("bad")})
    run([change("bad", UPDATE, before={"old": 1})], provider)
    assert provider.attempts[rid("bad")] == 1


# -- no-ops, checks, updates ---------------------------------------------------------------------


def test_noops_never_call_the_provider() -> None:
    changes = [change("same", NOOP), change("new", deps=["same"]), change("also-same", NOOP)]
    provider = FakeProvider()
    result = run(changes, provider)
    assert provider.called() == [rid("new")]
    assert result.action("same") is Action.UNCHANGED
    assert result.message("same") == "adopted: already in place"
    assert result.action("new") is Action.CREATED


def test_creates_and_updates_reach_the_provider_with_their_specs() -> None:
    changes = [
        change("a", CREATE, after={"v": 1}),
        change("b", UPDATE, before={"v": 1}, after={"v": 2}),
    ]
    provider = FakeProvider()
    result = run(changes, provider)
    assert provider.objects == {rid("a"): {"v": 1}, rid("b"): {"v": 2}}
    assert result.action("a") is Action.CREATED
    assert result.action("b") is Action.CONFIGURED
    assert result.message("b") == "updated b"


def test_health_checks_run_after_their_dependencies() -> None:
    changes = [
        change("up", CHECK, deps=["svc"], after={"healthy": True}),
        change("down", CHECK, after={"healthy": False, "attempts": 3}),
        change("svc"),
    ]
    provider = FakeChecker()
    result = run(changes, provider)
    assert result.action("up") is Action.VERIFIED
    assert result.message("up") == "up"
    assert result.action("down") is Action.FAILED
    assert result.message("down") == "connection refused (attempt 3)"
    starts = {c.id: c.start for c in provider.calls}
    ends = {c.id: c.end for c in provider.calls}
    assert ends[rid("svc")] < starts[rid("up")]


def test_a_check_on_a_provider_without_health_checks_fails() -> None:
    result = run([change("up", CHECK)], FakeProvider())
    assert result.action("up") is Action.FAILED
    assert "cannot run health checks" in result.message("up")


# -- deletes -------------------------------------------------------------------------------------


def test_deletes_run_after_creates_in_reverse_dependency_order() -> None:
    changes = [
        change("dir", DELETE),
        change("file", DELETE, deps=["dir"]),
        change("link", DELETE, deps=["file"]),
        change("new-a"),
        change("new-b", deps=["new-a"]),
        change("loose", DELETE),
    ]
    provider = FakeProvider()
    result = run(changes, provider)
    assert not result.changeset.failed
    calls = {c.id: c for c in provider.calls}
    last_forward_end = max(calls[rid(n)].end for n in ["new-a", "new-b"])
    for name in ["dir", "file", "link", "loose"]:
        assert calls[rid(name)].op == "delete"
        assert calls[rid(name)].start > last_forward_end, name
        assert result.action(name) is Action.DELETED
    assert calls[rid("link")].end < calls[rid("file")].start
    assert calls[rid("file")].end < calls[rid("dir")].start


def test_a_failed_delete_keeps_what_it_depends_on() -> None:
    changes = [
        change("dir", DELETE),
        change("file", DELETE, deps=["dir"]),
        change("other", DELETE),
    ]
    provider = FakeProvider(fail={rid("file")})
    result = run(changes, provider)
    assert result.action("file") is Action.FAILED
    assert result.action("dir") is Action.SKIPPED
    assert result.action("other") is Action.DELETED
    assert rid("dir") not in provider.called()


def test_forget_only_and_already_gone_deletes_never_call_the_provider() -> None:
    forget = change("renamed", DELETE, forget_only=True)
    gone = PlannedChange(DELETE, rid("gone"), f"{GROUP}/v1", None, None, forget_only=True)
    provider = FakeProvider()
    result = run([forget, gone], provider)
    assert provider.calls == []
    assert result.action("renamed") is Action.DELETED
    assert result.action("gone") is Action.DELETED
    assert result.message("renamed") == "pruned: no longer in Git"


def test_a_forward_failure_does_not_block_unrelated_deletes() -> None:
    provider = FakeProvider(fail={rid("a")})
    result = run([change("a"), change("old", DELETE)], provider)
    assert result.action("a") is Action.FAILED
    assert result.action("old") is Action.DELETED


def test_an_empty_plan_does_nothing() -> None:
    result = run([], FakeProvider())
    assert result.changeset.entries == []
    assert not result.changeset.failed


# -- staging providers (local files) ------------------------------------------------------------


def test_staged_writes_run_on_the_callers_thread_and_commit_once_per_wave() -> None:
    provider = FakeStager()
    fan = [change(f"b{n}", deps=["a"]) for n in range(5)]
    result = run([change("a"), *fan, change("c", deps=[f"b{n}" for n in range(5)])], provider)

    assert [sorted(names(c)) for c in provider.commits] == [
        ["a"],
        [f"b{n}" for n in range(5)],
        ["c"],
    ]
    assert provider.write_threads == result.threads == {threading.get_ident()}
    assert provider.stage_calls == [True, False]
    assert all(e.action is Action.CREATED for e in result.changeset.entries)
    assert set(provider.objects) == {c.id for c in [change("a"), *fan, change("c")]}


def test_a_staged_write_is_reported_only_after_its_commit() -> None:
    provider = FakeStager()
    result = run([change("a"), change("b", deps=["a"])], provider)
    b_started = next(c.start for c in provider.calls if c.id == rid("b"))
    assert provider.commit_ticks[rid("a")] < result.settled_at[rid("a")] < b_started


def test_a_failed_commit_fails_its_change_and_skips_its_dependents_only() -> None:
    provider = FakeStager(commit_fail={rid("bad")})
    result = run(
        [
            change("bad"),
            change("child", deps=["bad"]),
            change("other"),
            change("x", deps=["other"]),
        ],
        provider,
    )
    assert result.action("bad") is Action.FAILED
    assert result.message("bad") == "commit bad: refused"
    assert result.action("child") is Action.SKIPPED
    assert result.action("other") is Action.CREATED
    assert result.action("x") is Action.CREATED
    assert rid("bad") not in provider.objects


def test_health_checks_of_a_staging_provider_still_run_on_the_pool() -> None:
    provider = FakeStager()
    check_threads: list[int] = []
    real_check = provider.check

    def check(request: CheckRequest) -> CheckResponse:
        check_threads.append(threading.get_ident())
        return real_check(request)

    provider.check = check  # type: ignore[method-assign]
    result = run([change("f"), change("h", CHECK, deps=["f"], after={"healthy": True})], provider)
    assert result.action("h") is Action.VERIFIED
    assert check_threads and threading.get_ident() not in check_threads
    assert provider.commit_ticks[rid("f")] < next(
        c.start for c in provider.calls if c.id == rid("h")
    )


def test_deletes_of_a_staging_provider_run_in_reverse_order_on_the_callers_thread() -> None:
    provider = FakeStager(objects={rid("parent"): {}, rid("child"): {}})
    result = run([change("parent", DELETE), change("child", DELETE, deps=["parent"])], provider)
    assert names(provider.called()) == ["child", "parent"]
    assert provider.write_threads == {threading.get_ident()}
    assert result.action("parent") is Action.DELETED


def test_staging_is_switched_off_when_a_result_callback_fails() -> None:
    provider = FakeStager()

    def on_result(c: PlannedChange, entry: ChangeSetEntry) -> None:
        raise RuntimeError("the state store went away")

    with pytest.raises(RuntimeError):
        execute(
            [change("a"), change("b")],
            {"fake": provider},
            options=ApplyOptions(retry_backoff=0.0),
            on_result=on_result,
        )
    assert provider.stage_calls == [True, False]


@settings(max_examples=8, deadline=None)
@given(st.randoms(use_true_random=False))
def test_random_dag_with_staged_writes_respects_dependencies(rng: random.Random) -> None:
    changes = random_dag(rng, 60)
    provider = FakeStager()
    result = run(changes, provider)
    started = {c.id: c.start for c in provider.calls}
    for c in changes:
        for dep in c.depends_on:
            if c.id in started and dep in provider.commit_ticks:
                assert provider.commit_ticks[dep] < started[c.id]
        assert result.action(c.id.name) in (Action.CREATED, Action.CONFIGURED, Action.UNCHANGED)


def test_a_stop_skips_what_has_not_started_and_finishes_what_has() -> None:
    from gitcops.apply.executor import STOPPED

    provider = FakeProvider()
    # A chain: each starts after the one before, so the stop meets three not started.
    changes = [change(f"f{i}", deps=[f"f{i - 1}"] if i else []) for i in range(5)]
    done: list[str] = []

    def stop() -> bool:
        return len(done) >= 2

    result = execute(
        changes,
        {"fake": provider},
        options=ApplyOptions(parallelism=1, stop=stop),
        on_result=lambda change, entry: done.append(entry.action.value),
    )
    actions = [e.action.value for e in result.entries]
    assert actions.count("created") == 2
    assert actions.count("skipped") == 3
    skipped = [e.message for e in result.entries if e.action.value == "skipped"]
    assert skipped[0] == STOPPED  # the others wait for it: skipped as its dependents
    assert result.failed
