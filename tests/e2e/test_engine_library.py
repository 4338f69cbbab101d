"""The engine as a library: one Runtime shared by threads gives the answers it gives alone, and
a process that plans and applies hundreds of times holds no more files, processes, threads or
memory than after its first few runs."""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo, file_doc

from gitcops.engine.applying import apply_environment
from gitcops.engine.planning import plan_environment
from gitcops.engine.runtime import Runtime


def _docs(n: int, version: int = 0) -> list[dict[str, object]]:
    return [
        file_doc(f"f{i}", f"d{i % 5}/f{i}.txt", f"content {i} v{version}\n", labels={"team": "a"})
        for i in range(n)
    ]


def _plan(rt: Runtime, repo: Repo, env: str, state: Path) -> dict[str, Any]:
    report = plan_environment(rt, str(repo.path), env, state=str(state))
    data = report.as_json()
    data.pop("createdAt")
    return data


def test_two_environments_planned_on_two_threads_as_one_after_the_other(
    repo: Repo, tmp_path: Path
) -> None:
    repo.write(
        "policies/team.rego",
        'package main\n\nimport rego.v1\n\nwarn contains "x" if {\n'
        '    input.metadata.name == "f3"\n}\n',
    )
    repo.set_resources(_docs(60))
    state = tmp_path / "state.db"
    with Runtime(cache_dir=tmp_path / "alone") as rt:
        alone = {env: _plan(rt, repo, env, state) for env in ("dev", "prod")}
    assert alone["dev"]["summary"]["create"] == 60
    for round_ in range(4):  # cold, then warm caches; each round a new Runtime
        with Runtime(cache_dir=tmp_path / "together") as rt:
            start = threading.Barrier(2)

            def plan(env: str, rt: Runtime = rt, start: threading.Barrier = start) -> Any:
                start.wait()
                return _plan(rt, repo, env, state)

            with ThreadPoolExecutor(2) as pool:
                together = dict(zip(("dev", "prod"), pool.map(plan, ("dev", "prod")), strict=True))
            assert rt.stats["processes forked"] == 0  # never forked beside another thread
        assert together == alone, f"round {round_}"


def test_two_environments_applied_on_two_threads(repo: Repo, tmp_path: Path) -> None:
    repo.set_resources(_docs(40))
    state = tmp_path / "state.db"
    with Runtime(cache_dir=tmp_path / "cache") as rt:

        def apply(env: str) -> Any:
            outcome = apply_environment(rt, str(repo.path), env, actor="tester", state=str(state))
            assert outcome is not None
            return outcome.succeeded, outcome.changeset.counts["created"]

        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(apply, ("dev", "prod")))
        assert results == [(True, 40), (True, 40)]
        for env in ("dev", "prod"):
            assert _plan(rt, repo, env, state)["summary"]["noop"] == 40


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def _children() -> list[int]:
    found: list[int] = []
    for task in os.listdir("/proc/self/task"):
        try:
            text = Path(f"/proc/self/task/{task}/children").read_text()
        except OSError:
            continue
        found += [int(pid) for pid in text.split()]
    return found


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc (Linux)")
def test_five_hundred_cycles_in_one_process_hold_their_resources(
    repo: Repo, tmp_path: Path
) -> None:
    cycles, docs = 500, 30
    state = tmp_path / "state.db"
    figures: list[dict[str, int]] = []
    repo.set_resources(_docs(docs))
    with Runtime(cache_dir=tmp_path / "cache") as rt:
        for cycle in range(cycles):
            if cycle and cycle % 10 == 0:
                repo.set_resources(_docs(docs, cycle // 10), f"v{cycle // 10}")
            report = plan_environment(rt, str(repo.path), "dev", state=str(state))
            outcome = apply_environment(rt, str(repo.path), "dev", actor="tester", state=str(state))
            assert outcome is not None and outcome.succeeded
            expected = docs if cycle % 10 == 0 else 0  # a new commit changes every file
            assert report.plan.summary.changes == expected, cycle
            if cycle in (20, cycles - 1):
                figures.append(
                    {
                        "cycle": cycle + 1,
                        "openFiles": _open_files(),
                        "children": len(_children()),
                        "threads": threading.active_count(),
                        "rssKiB": _rss_kib(),
                    }
                )
    after_close = {"openFiles": _open_files(), "children": len(_children())}
    early, late = figures
    print(json.dumps({"early": early, "late": late, "afterClose": after_close}))
    assert late["openFiles"] <= early["openFiles"]
    assert late["children"] <= early["children"] <= 1  # at most git cat-file, kept open
    assert late["threads"] == early["threads"] == 1
    assert late["rssKiB"] - early["rssKiB"] < 32 * 1024, figures
    assert after_close["children"] == 0
    assert (repo.root / "d3" / "f3.txt").read_text() == f"content 3 v{(cycles - 1) // 10}\n"
