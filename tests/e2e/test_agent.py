"""The agent against a real repository served over HTTP on loopback: converge, verify and roll
back, pins, suspension, a source that goes away, signals."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import GITCOPS, Cli, Repo, file_doc
from git_http import GitHttpServer, bare_copy


@pytest.fixture
def served(repo: Repo, tmp_path: Path) -> Iterator[tuple[Repo, GitHttpServer, str]]:
    """The repository, pushed to a bare copy served over HTTP; its URL."""
    root = tmp_path / "forge"
    root.mkdir()
    bare_copy(repo.path, root, "shop.git")
    server = GitHttpServer(root).start()
    WORK[server.url("shop.git")] = repo.path
    try:
        yield repo, server, server.url("shop.git")
    finally:
        server.stop()


def push(repo: Repo, docs: list[dict[str, object]], message: str = "change") -> str:
    commit = repo.set_resources(docs, message)
    repo.git("push", "--quiet", "origin", "main")
    return commit


def check(name: str, argv: list[str]) -> dict[str, object]:
    return {
        "apiVersion": "local.gitcops.io/v1",
        "kind": "HealthCheck",
        "metadata": {"name": name},
        "spec": {"command": {"argv": argv}, "retries": 0},
    }


def slow_chain(n: int, seconds: float) -> list[dict[str, object]]:
    """Files f0..f(n-1), each after a health check of `seconds` on the one before: an apply
    that takes a while, one change at a time."""
    checks = [
        {
            **check(f"wait{i}", ["sleep", str(seconds)]),
            "metadata": {
                "name": f"wait{i}",
                "annotations": {"config.kubernetes.io/depends-on": f"local.gitcops.io/File/f{i}"},
            },
        }
        for i in range(n)
    ]
    files = [
        file_doc(
            f"f{i}",
            f"f{i}.txt",
            f"{i}\n",
            depends_on=[f"local.gitcops.io/HealthCheck/wait{i - 1}"] if i else [],
        )
        for i in range(n)
    ]
    return [*files, *checks]


def once(cli: Cli, url: str, *extra: str, expect: int | None = 0) -> dict[str, dict[str, object]]:
    """`gitcops agent --once`, then the status of every environment (read through the work
    tree: the same commits, and no fetch, so it works while the forge is away)."""
    cli(
        "agent",
        "--once",
        "--branch",
        "main",
        "--log-format",
        "json",
        *extra,
        repo=url,
        expect=expect,
    )
    data = json.loads(cli("status", "-o", "json", repo=WORK[url]).stdout)
    return {e["environment"]: e for e in data["environments"]}


WORK: dict[str, Path] = {}  # served URL -> the work tree that pushes to it


def test_once_converges_every_environment_and_then_has_nothing_to_do(
    cli: Cli, served: tuple[Repo, GitHttpServer, str]
) -> None:
    repo, _, url = served
    head = repo.git("rev-parse", "HEAD")
    envs = once(cli, url)
    for name in ("dev", "prod"):
        assert envs[name]["appliedRevision"] == head and envs[name]["inSync"]
        assert envs[name]["lastReconcile"]["outcome"] == "applied"  # type: ignore[index]
    assert (repo.root / "etc" / "motd").read_text() == "hello\n"

    envs = once(cli, url)
    assert envs["dev"]["lastReconcile"]["outcome"] == "unchanged"  # type: ignore[index]
    runs = json.loads(cli("history", "-o", "json", repo=url).stdout)["runs"]
    assert len(runs) == 2 and {r["trigger"] for r in runs} == {"agent"}
    assert {r["actor"] for r in runs} == {"gitcops-agent"}

    pushed = push(repo, [file_doc("motd", "etc/motd", "pushed\n")])
    envs = once(cli, url, "--env", "dev")
    assert envs["dev"]["appliedRevision"] == pushed
    assert envs["prod"]["appliedRevision"] == head  # not asked for
    assert (repo.root / "etc" / "motd").read_text() == "pushed\n"


def test_a_failed_verification_rolls_back_and_the_revision_is_never_retried(
    cli: Cli, served: tuple[Repo, GitHttpServer, str]
) -> None:
    repo, _, url = served
    good = repo.git("rev-parse", "HEAD")
    once(cli, url, "--env", "dev")
    bad = push(repo, [file_doc("motd", "etc/motd", "broken\n"), check("never", ["false"])])
    envs = once(cli, url, "--env", "dev")
    dev = envs["dev"]
    assert dev["lastReconcile"]["outcome"] == "rolledBack"  # type: ignore[index]
    assert dev["badRevisions"] == [bad]
    assert dev["appliedRevision"] == good
    assert (repo.root / "etc" / "motd").read_text() == "hello\n"
    kinds = [r["kind"] for r in json.loads(cli("history", "-o", "json", repo=url).stdout)["runs"]]
    assert kinds == ["rollback", "apply", "apply"]

    # Later passes do not try it again: only a newer commit is tried.
    envs = once(cli, url, "--env", "dev")
    assert "marked bad" in envs["dev"]["lastReconcile"]["reason"]  # type: ignore[index]
    runs = json.loads(cli("history", "-o", "json", repo=url).stdout)["runs"]
    assert len(runs) == 3
    fixed = push(repo, [file_doc("motd", "etc/motd", "fixed\n")])
    envs = once(cli, url, "--env", "dev")
    assert envs["dev"]["appliedRevision"] == fixed
    assert (repo.root / "etc" / "motd").read_text() == "fixed\n"
    log = json.loads(cli("audit", "log", "-o", "json").stdout)["entries"]
    assert [e["subject"] for e in log if e["action"] == "revision.bad"] == ["shop/dev"]


def test_a_rollback_by_hand_holds_until_unpinned(
    cli: Cli, served: tuple[Repo, GitHttpServer, str]
) -> None:
    repo, _, url = served
    first = repo.git("rev-parse", "HEAD")
    once(cli, url, "--env", "dev")
    push(repo, [file_doc("motd", "etc/motd", "second\n")])
    once(cli, url, "--env", "dev")
    cli("rollback", "--env", "dev", "--to", first, "--yes", repo=url)
    envs = once(cli, url, "--env", "dev")
    assert envs["dev"]["appliedRevision"] == first  # the agent does not undo the rollback
    assert "pinned" in envs["dev"]["lastReconcile"]["reason"]  # type: ignore[index]
    assert (repo.root / "etc" / "motd").read_text() == "hello\n"

    cli("unpin", "--env", "dev", repo=url)
    envs = once(cli, url, "--env", "dev")
    assert (repo.root / "etc" / "motd").read_text() == "second\n"


def test_a_pin_until_newer_ends_with_the_next_commit(
    cli: Cli, served: tuple[Repo, GitHttpServer, str]
) -> None:
    repo, _, url = served
    first = repo.git("rev-parse", "HEAD")
    once(cli, url, "--env", "dev")
    push(repo, [file_doc("motd", "etc/motd", "second\n")])
    once(cli, url, "--env", "dev")
    cli("rollback", "--env", "dev", "--to", first, "--yes", "--until-newer", repo=url)
    once(cli, url, "--env", "dev")
    assert (repo.root / "etc" / "motd").read_text() == "hello\n"
    third = push(repo, [file_doc("motd", "etc/motd", "third\n")])
    envs = once(cli, url, "--env", "dev")
    assert envs["dev"]["pin"] is None and envs["dev"]["appliedRevision"] == third


def test_a_suspended_environment_is_left_alone(
    cli: Cli, served: tuple[Repo, GitHttpServer, str]
) -> None:
    repo, _, url = served
    once(cli, url, "--env", "dev")
    cli("suspend", "--env", "dev", "--reason", "maintenance", repo=url)
    push(repo, [file_doc("motd", "etc/motd", "while suspended\n")])
    envs = once(cli, url, "--env", "dev")
    assert (repo.root / "etc" / "motd").read_text() == "hello\n"
    assert "suspended: maintenance" in envs["dev"]["lastReconcile"]["reason"]  # type: ignore[index]
    cli("resume", "--env", "dev", repo=url)
    once(cli, url, "--env", "dev")
    assert (repo.root / "etc" / "motd").read_text() == "while suspended\n"


def test_an_unreachable_source_is_reported_and_caught_up_with(
    cli: Cli, served: tuple[Repo, GitHttpServer, str]
) -> None:
    repo, server, url = served
    once(cli, url, "--env", "dev")
    server.stop()
    pushed = push(repo, [file_doc("motd", "etc/motd", "while away\n")])
    envs = once(cli, url, "--env", "dev")  # goes on from the last fetch
    reconciled = envs["dev"]["lastReconcile"]
    assert isinstance(reconciled, dict)
    assert reconciled["sourceError"] and reconciled["outcome"] == "unchanged"
    assert "source unreachable" in str(reconciled["reason"])
    server.start()
    envs = once(cli, url, "--env", "dev")
    assert envs["dev"]["appliedRevision"] == pushed
    assert envs["dev"]["lastReconcile"]["sourceError"] is None  # type: ignore[index]


def test_a_cli_apply_and_the_agent_never_run_at_once(
    cli: Cli, served: tuple[Repo, GitHttpServer, str], tmp_path: Path
) -> None:
    repo, _, url = served
    once(cli, url, "--env", "dev")
    push(repo, [file_doc("motd", "etc/motd", "slow\n"), check("slow", ["sleep", "3"])])
    argv = [GITCOPS, "apply", "--env", "dev", "--yes", "--repo", url, "--state", str(cli.state)]
    holder = subprocess.Popen(argv, env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait(lambda: (repo.root / "etc" / "motd").read_text() == "slow\n", 20)
        envs = once(cli, url, "--env", "dev", expect=0)
        reason = envs["dev"]["lastReconcile"]["reason"]  # type: ignore[index]
        assert "lock" in str(reason)
    finally:
        assert holder.wait(30) == 0


def _wait(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _agent(cli: Cli, url: str, *extra: str) -> subprocess.Popen[str]:
    argv = [
        GITCOPS,
        "agent",
        "--repo",
        url,
        "--branch",
        "main",
        "--state",
        str(cli.state),
        "--log-format",
        "json",
        *extra,
    ]
    return subprocess.Popen(
        argv, env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_the_loop_follows_pushes_and_stops_on_sigterm(
    cli: Cli, served: tuple[Repo, GitHttpServer, str]
) -> None:
    repo, _, url = served
    agent = _agent(cli, url, "--interval", "0.3", "--env", "dev")
    try:
        _wait(lambda: (repo.root / "etc" / "motd").read_text() == "hello\n", 30)
        push(repo, [file_doc("motd", "etc/motd", "next\n")])
        _wait(lambda: (repo.root / "etc" / "motd").read_text() == "next\n", 30)
    finally:
        agent.send_signal(signal.SIGTERM)
        code = agent.wait(30)
    stderr = agent.stderr.read() if agent.stderr else ""
    assert code == 0, stderr
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(e.get("event") == "reconcile.applied" for e in events)
    assert all("environment" in e for e in events if e.get("event", "").startswith("reconcile."))


def test_a_kill_mid_apply_then_a_restart_converges(
    cli: Cli, served: tuple[Repo, GitHttpServer, str]
) -> None:
    repo, _, url = served
    push(repo, slow_chain(5, 0.4))
    agent = _agent(cli, url, "--interval", "0.3", "--env", "dev")
    _wait(lambda: (repo.root / "f1.txt").exists(), 30)
    agent.kill()
    agent.wait(10)
    assert not (repo.root / "f4.txt").exists()  # killed midway
    once(cli, url, "--env", "dev")
    assert all((repo.root / f"f{i}.txt").read_text() == f"{i}\n" for i in range(5))
    runs = json.loads(cli("history", "--env", "dev", "-o", "json", repo=url).stdout)["runs"]
    assert runs[0]["status"] == "succeeded"
    assert "interrupted" in {r["status"] for r in runs}


def test_sigterm_mid_apply_finishes_the_change_in_flight_and_records_the_run(
    cli: Cli, served: tuple[Repo, GitHttpServer, str]
) -> None:
    repo, _, url = served
    push(repo, slow_chain(6, 0.5))
    agent = _agent(cli, url, "--interval", "0.3", "--env", "dev", "--listen", "off")
    _wait(lambda: (repo.root / "f1.txt").exists(), 30)
    stopped_at = time.monotonic()
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(30) == 0
    assert time.monotonic() - stopped_at < 5  # one change in flight, not the whole chain
    assert not (repo.root / "f5.txt").exists()
    runs = json.loads(cli("history", "--env", "dev", "-o", "json", repo=url).stdout)["runs"]
    assert runs[0]["status"] == "failed"  # recorded, not left running
    assert runs[0]["summary"]["skipped"] > 0
    once(cli, url, "--env", "dev")
    assert (repo.root / "f5.txt").read_text() == "5\n"


def test_an_outage_is_notified_once(
    cli: Cli, served: tuple[Repo, GitHttpServer, str], tmp_path: Path
) -> None:
    from conftest import PROJECT
    from test_agent_service import Receiver

    repo, server, url = served
    receiver = Receiver()
    try:
        project = PROJECT.format(root=repo.root, prod_root=tmp_path / "out" / "prod")
        project += (
            f"  notifications:\n    - {{type: webhook, url: '{receiver.url}', "
            "events: [sourceUnreachable]}\n"
        )
        repo.write("gitcops.yaml", project)
        repo.commit("notify outages")
        repo.git("push", "--quiet", "origin", "main")
        agent = _agent(cli, url, "--interval", "0.3", "--env", "dev", "--listen", "off")
        try:
            _wait(lambda: (repo.root / "etc" / "motd").exists(), 30)
            server.stop()
            _wait(lambda: len(receiver.received) >= 1, 30)
            time.sleep(1.5)  # several intervals: still one notification for the outage
            assert len(receiver.received) == 1
            [event] = receiver.received
            assert event["event"] == "sourceUnreachable" and event["environment"] is None
            assert "127.0.0.1" in event["message"]
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(30)
            server.start()
    finally:
        receiver.close()
