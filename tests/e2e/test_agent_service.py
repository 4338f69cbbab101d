"""A running agent with its HTTP server: signed webhooks trigger reconciles (forged ones never
do), a burst of pushes coalesces, /metrics and health answer, notifications arrive with the
documented payload and the audit head."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import GITCOPS, PROJECT, Cli, Repo, file_doc
from git_http import GitHttpServer, bare_copy
from prometheus_client.parser import text_string_to_metric_families

SECRET = "webhook-secret-for-tests"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Receiver:
    """A test HTTP endpoint that records the notifications it receives."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Running:
    def __init__(self, cli: Cli, repo: Repo, url: str, receiver: Receiver) -> None:
        self.repo, self.url, self.receiver = repo, url, receiver
        self.port = _free_port()
        secret_file = repo.path.parent / "webhook.secret"
        secret_file.write_text(SECRET + "\n")
        argv = [
            GITCOPS, "agent", "--repo", url, "--branch", "main", "--env", "dev",
            "--state", str(cli.state), "--interval", "3600", "--log-format", "json",
            "--listen", f"127.0.0.1:{self.port}", "--webhook-secret-file", str(secret_file),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            argv, env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)
        wait(lambda: self.http.get("/readyz").status_code == 200, 30)

    def github_push(self, commit: str, *, secret: str = SECRET) -> httpx.Response:
        body = json.dumps(
            {"ref": "refs/heads/main", "after": commit, "repository": {"full_name": "t/shop"}}
        ).encode()
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return self.http.post(
            "/hooks/github",
            content=body,
            headers={
                "X-GitHub-Event": "push",
                "X-Hub-Signature-256": signature,
                "Content-Type": "application/json",
            },
        )

    def metrics(self) -> dict[str, list[Any]]:
        text = self.http.get("/metrics").text
        return {f.name: f.samples for f in text_string_to_metric_families(text)}

    def stop(self) -> str:
        self.process.terminate()
        try:
            self.process.wait(30)
        finally:
            self.http.close()
        return self.process.stderr.read() if self.process.stderr else ""


def wait(condition: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def running(cli: Cli, repo: Repo, tmp_path: Path) -> Iterator[Running]:
    receiver = Receiver()
    project = PROJECT.format(root=repo.root, prod_root=tmp_path / "out" / "prod")
    project += (
        "  notifications:\n"
        f"    - {{type: webhook, url: '{receiver.url}', "
        "events: [applied, failed, rolledBack]}\n"
    )
    repo.write("gitcops.yaml", project)
    repo.commit("notifications")
    root = tmp_path / "forge"
    root.mkdir()
    bare_copy(repo.path, root, "shop.git")
    forge = GitHttpServer(root).start()
    agent = Running(cli, repo, forge.url("shop.git"), receiver)
    try:
        yield agent
    finally:
        agent.stop()
        forge.stop()
        receiver.close()


def push(repo: Repo, content: str) -> str:
    commit = repo.set_resources([file_doc("motd", "etc/motd", content)])
    repo.git("push", "--quiet", "origin", "main")
    return commit


def motd(repo: Repo) -> str:
    return (repo.root / "etc" / "motd").read_text()


def test_a_signed_push_reconciles_at_once_and_a_forged_one_never(running: Running) -> None:
    repo = running.repo
    wait(lambda: motd(repo) == "hello\n", 30)  # the first reconcile, at start
    commit = push(repo, "pushed\n")
    forged = running.github_push(commit, secret="not the secret")
    assert forged.status_code == 401
    time.sleep(1.0)  # the interval is an hour: only a webhook could reconcile now
    assert motd(repo) == "hello\n"

    assert running.github_push(commit).status_code == 202
    wait(lambda: motd(repo) == "pushed\n", 30)
    samples = running.metrics()
    webhooks = {
        s.labels["outcome"]: s.value
        for s in samples["gitcops_webhook_requests"]
        if s.labels["forge"] == "github" and s.name.endswith("_total")
    }
    assert webhooks["triggered"] >= 1 and webhooks["bad_signature"] >= 1
    durations = [s for s in samples["gitcops_reconcile_duration_seconds"] if "_count" in s.name]
    assert durations and all(s.labels["environment"] == "dev" for s in durations)
    info = [s for family in samples.values() for s in family]
    assert any(
        s.name == "gitcops_applied_revision_info" and s.labels.get("revision") == commit
        for s in info
    )
    head = running.http.get("/healthz").json()
    assert head["environments"]["dev"]["revision"] == commit
    assert head["auditHead"]["seq"] > 0


def test_a_burst_of_pushes_coalesces(running: Running, cli: Cli) -> None:
    repo = running.repo
    wait(lambda: motd(repo) == "hello\n", 30)
    commits = [push(repo, f"burst {i}\n") for i in range(5)]
    for commit in commits:
        assert running.github_push(commit).status_code == 202
    wait(lambda: motd(repo) == "burst 4\n", 30)
    time.sleep(1.0)
    runs = json.loads(cli("history", "--env", "dev", "-o", "json", repo=repo.path).stdout)["runs"]
    assert 2 <= len(runs) <= 3, runs  # the start, then one or two for five pushes
    assert runs[0]["revision"] == commits[-1]


def test_notifications_arrive_with_the_audit_head(running: Running) -> None:
    from gitcops.schemas import notification_validator

    repo = running.repo
    wait(lambda: any(n.get("event") == "applied" for n in running.receiver.received), 30)
    [applied] = [n for n in running.receiver.received if n["event"] == "applied"]
    assert applied["environment"] == "dev"
    assert applied["auditHead"]["seq"] > 0 and len(applied["auditHead"]["hash"]) == 64
    notification_validator().validate(applied)
    assert motd(repo) == "hello\n"
