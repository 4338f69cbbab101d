"""The application through a real uvicorn server on a free loopback port, spoken to with httpx."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gitcops.api.app import create_app, parse_listen, serve
from gitcops.api.metrics import AgentMetrics
from gitcops.api.webhooks import Forge, gitea_signature, github_signature

from .conftest import SECRET, FakeHooks, Running, payload, start

EVENTS = {"github": "push", "gitlab": "Push Hook", "gitea": "push"}
EVENT_HEADER = {"github": "X-GitHub-Event", "gitlab": "X-Gitlab-Event", "gitea": "X-Gitea-Event"}


def headers(
    forge: Forge, body: bytes, event: str | None = None, secret: bytes = SECRET
) -> dict[str, str]:
    h = {"Content-Type": "application/json", EVENT_HEADER[forge]: event or EVENTS[forge]}
    if forge == "github":
        h["X-Hub-Signature-256"] = github_signature(secret, body)
    elif forge == "gitlab":
        h["X-Gitlab-Token"] = secret.decode()
    else:
        h["X-Gitea-Signature"] = gitea_signature(secret, body)
    return h


def push_body(forge: Forge, branch: str) -> bytes:
    data = json.loads(payload(f"{forge}_push.json"))
    data["ref"] = f"refs/heads/{branch}"
    return json.dumps(data).encode()


def webhook_counts(r: Running | str) -> dict[tuple[str, str], float]:
    text = r if isinstance(r, str) else httpx.get(f"{r.server.url}/metrics").text
    counts = {}
    for family in text_string_to_metric_families(text):
        if family.name == "gitcops_webhook_requests":
            for s in family.samples:
                if s.name.endswith("_total"):
                    counts[(s.labels["forge"], s.labels["outcome"])] = s.value
    return counts


@pytest.fixture
def client(running: Running) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running.server.url, timeout=10) as c:
        yield c


@pytest.mark.parametrize("forge", ["github", "gitlab", "gitea"])
def test_a_signed_push_to_the_watched_branch_triggers_once(
    forge: Forge, running: Running, client: httpx.Client
) -> None:
    body = push_body(forge, "main")
    r = client.post(f"/hooks/{forge}", content=body, headers=headers(forge, body))
    assert r.status_code == 202, r.text
    assert r.json()["outcome"] == "triggered"
    commit = json.loads(body).get("checkout_sha") or json.loads(body)["after"]
    assert running.hooks.pushes == [(forge, "main", commit)]

    body = push_body(forge, "feature/x")
    r = client.post(f"/hooks/{forge}", content=body, headers=headers(forge, body))
    assert (r.status_code, r.json()["outcome"]) == (200, "other_branch")
    assert len(running.hooks.pushes) == 2
    counts = webhook_counts(running)
    assert counts[(forge, "triggered")] == 1 and counts[(forge, "other_branch")] == 1


@pytest.mark.parametrize("forge", ["github", "gitlab", "gitea"])
def test_bad_or_missing_signatures_are_401_logged_and_never_trigger(
    forge: Forge, running: Running, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    body = push_body(forge, "main")
    good = headers(forge, body)
    sig_header = next(k for k in good if k not in ("Content-Type", EVENT_HEADER[forge]))
    missing = {k: v for k, v in good.items() if k != sig_header}
    wrong = headers(forge, body, secret=b"not the secret")
    forged = {**good, sig_header: good[sig_header][:-4] + "beef"}
    with caplog.at_level(logging.INFO, logger="gitcops.api"):
        for h in (missing, wrong, forged):
            r = client.post(f"/hooks/{forge}", content=body, headers=h)
            assert r.status_code == 401, r.text
    assert running.hooks.pushes == []
    counts = webhook_counts(running)
    assert counts[(forge, "missing_signature")] == 1 and counts[(forge, "bad_signature")] == 2
    refused = [rec for rec in caplog.records if rec.name == "gitcops.api"]
    assert len(refused) == 3 and all(rec.levelno == logging.WARNING for rec in refused)
    for rec in refused:
        message = rec.getMessage()
        assert forge in message and "127.0.0.1:" in message and "signature" in message
        assert SECRET.decode() not in message and good[sig_header] not in message
        assert json.loads(body)["after"] not in message  # nothing of the body


def test_without_a_secret_every_webhook_is_refused() -> None:
    r = start(secret=None)
    try:
        for forge in ("github", "gitlab", "gitea"):
            body = push_body(forge, "main")
            resp = httpx.post(
                f"{r.server.url}/hooks/{forge}", content=body, headers=headers(forge, body)
            )
            assert resp.status_code == 503
            assert "no webhook secret is configured" in resp.json()["detail"]
        assert r.hooks.pushes == []
        assert webhook_counts(r)[("gitea", "no_secret")] == 1
    finally:
        assert r.server.stop(10)
    with pytest.raises(ValueError, match="empty"):
        create_app(FakeHooks(), AgentMetrics(), b"")


def test_ping_tags_deletions_and_other_events_are_answered_and_ignored(
    running: Running, client: httpx.Client
) -> None:
    for forge, event, name, outcome in (
        ("github", "ping", "github_ping.json", "ping"),
        ("github", "push", "github_push_tag.json", "ignored_tag"),
        ("github", "push", "github_push_deleted.json", "ignored_deletion"),
        ("github", "pull_request", "github_pull_request.json", "ignored_event"),
        ("gitlab", "Tag Push Hook", "gitlab_tag_push.json", "ignored_tag"),
        ("gitea", "delete", "gitea_delete.json", "ignored_event"),
    ):
        body = payload(name)
        r = client.post(f"/hooks/{forge}", content=body, headers=headers(forge, body, event))
        assert (r.status_code, r.json()["outcome"]) == (200, outcome), name
        assert webhook_counts(running)[(forge, outcome)] >= 1
    assert running.hooks.pushes == []
    r = client.post("/hooks/github", content=b"{", headers=headers("github", b"{"))
    assert (r.status_code, r.json()["outcome"]) == (400, "bad_payload")


def test_bodies_over_the_limit_are_413_declared_or_streamed() -> None:
    r = start(max_body=1024)
    try:
        with httpx.Client(base_url=r.server.url, timeout=10) as c:
            body = push_body("github", "main")
            assert len(body) > 1024
            h = headers("github", body)  # correctly signed: the size alone refuses it
            declared = c.post("/hooks/github", content=body, headers=h)
            assert declared.status_code == 413
            assert declared.request.headers["content-length"] == str(len(body))

            def chunks() -> Iterator[bytes]:
                for _ in range(4096):  # 4 MiB unless the server stops reading
                    yield b" " * 1024

            streamed = c.post("/hooks/github", content=chunks(), headers=h)
            assert streamed.status_code == 413
            assert "content-length" not in streamed.request.headers
            assert streamed.request.headers["transfer-encoding"] == "chunked"

            # the same connection still serves; a body within the limit is accepted
            small = json.dumps({"ref": "refs/heads/main", "after": "a" * 40}).encode()
            ok = c.post("/hooks/github", content=small, headers=headers("github", small))
            assert ok.status_code == 202
        assert r.hooks.pushes == [("github", "main", "a" * 40)]
        assert webhook_counts(r)[("github", "too_large")] == 2
    finally:
        assert r.server.stop(10)


def _raw(url_port: int, request: bytes) -> bytes:
    """Send `request` as is and read the answer's head, without ever finishing the body."""
    with socket.create_connection(("127.0.0.1", url_port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            got = sock.recv(4096)
            if not got:
                break
            answer += got
        return answer


def test_the_limit_is_enforced_while_reading_not_after() -> None:
    r = start(max_body=1024)
    try:
        head = b"POST /hooks/gitlab HTTP/1.1\r\nHost: t\r\nX-Gitlab-Event: Push Hook\r\n"
        # a declared length over the limit: answered before a byte of the body is sent
        declared = _raw(r.server.port, head + b"Content-Length: 10000000\r\n\r\n")
        assert declared.startswith(b"HTTP/1.1 413 ")
        # chunked: answered as soon as the count passes the limit, the body still unfinished
        chunk = b"400\r\n" + b"x" * 1024 + b"\r\n"
        streamed = _raw(r.server.port, head + b"Transfer-Encoding: chunked\r\n\r\n" + chunk * 2)
        assert streamed.startswith(b"HTTP/1.1 413 ")
        assert webhook_counts(r)[("gitlab", "too_large")] == 2
    finally:
        assert r.server.stop(10)


def test_metrics_parse_and_show_the_webhook_counters(
    running: Running, client: httpx.Client
) -> None:
    running.metrics.reconciled("dev", "success", 0.5, {"created": 1})
    running.metrics.audit_head(12, "ab" * 32)
    body = push_body("gitea", "main")
    client.post("/hooks/gitea", content=body, headers=headers("gitea", body))
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    names = {f.name for f in text_string_to_metric_families(r.text)}
    assert {
        "gitcops_reconcile_duration_seconds",
        "gitcops_resources",
        "gitcops_webhook_requests",
        "gitcops_audit_head_sequence",
        "gitcops_audit_head_info",
        "gitcops_build_info",
    } <= names
    counts = webhook_counts(r.text)
    assert counts[("gitea", "triggered")] == 1
    assert len(counts) == 3 * 13 and sum(counts.values()) == 1


def test_readyz_follows_the_hook_and_healthz_serves_its_status(
    running: Running, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    assert client.get("/readyz").status_code == 503
    running.hooks.is_ready = True
    assert (client.get("/readyz").status_code, client.get("/readyz").json()) == (
        200,
        {"ready": True},
    )
    running.hooks.status = {"version": "0.1.0", "environments": {"dev": {"result": "success"}}}
    h = client.get("/healthz")
    assert (h.status_code, h.json()) == (200, running.hooks.status)
    running.hooks.fail = True
    with caplog.at_level(logging.ERROR, logger="gitcops.api"):
        assert client.get("/healthz").status_code == 500
        body = push_body("github", "main")
        r = client.post("/hooks/github", content=body, headers=headers("github", body))
        assert (r.status_code, r.json()["outcome"]) == (500, "error")
    assert "health hook failed" in caplog.text and "push hook failed" in caplog.text
    assert client.get("/hooks/github").status_code == 405


def test_two_apps_in_one_process_keep_separate_metrics() -> None:
    a, b = start(), start()
    try:
        body = push_body("github", "main")
        httpx.post(f"{a.server.url}/hooks/github", content=body, headers=headers("github", body))
        httpx.post(f"{a.server.url}/hooks/github", content=body, headers=headers("github", body))
        assert webhook_counts(a)[("github", "triggered")] == 2
        assert webhook_counts(b)[("github", "triggered")] == 0
        assert len(a.hooks.pushes) == 2 and b.hooks.pushes == []
    finally:
        assert a.server.stop(10) and b.server.stop(10)


def test_the_server_stops_within_its_timeout_even_with_a_stuck_agent() -> None:
    gate = threading.Event()
    r = start(hooks=FakeHooks(gate=gate))
    url, port = r.server.url, r.server.port
    body = push_body("github", "main")
    answers: list[object] = []

    def stuck_request() -> None:
        try:
            answers.append(
                httpx.post(f"{url}/hooks/github", content=body, headers=headers("github", body))
            )
        except httpx.HTTPError as e:
            answers.append(e)

    caller = threading.Thread(target=stuck_request)
    caller.start()
    try:
        for _ in range(1000):  # wait until the request is inside the hook
            if r.hooks.pushes:
                break
            threading.Event().wait(0.01)
        assert r.hooks.pushes
        idle = httpx.Client(base_url=url)  # an open keep-alive connection does not hold it up
        assert idle.get("/healthz").status_code == 200
        assert r.server.stop(timeout=6)
        assert not r.server.running
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5)
        idle.close()
    finally:
        gate.set()
        caller.join(10)
    # cancelled: uvicorn answers 500 if it still can, or the connection drops
    assert len(answers) == 1
    assert not isinstance(answers[0], httpx.Response) or answers[0].status_code == 500


def test_serve_binds_at_once_and_reports_the_port() -> None:
    r = start()
    try:
        assert r.server.port > 0 and r.server.url == f"http://127.0.0.1:{r.server.port}"
        with pytest.raises(OSError):
            serve(create_app(FakeHooks(), AgentMetrics(), SECRET), "127.0.0.1", r.server.port)
    finally:
        assert r.server.stop(10)
    assert r.server.stop(10)  # stopping twice is harmless


def test_connections_are_bounded() -> None:
    hooks, metrics = FakeHooks(), AgentMetrics()
    server = serve(create_app(hooks, metrics, SECRET), "127.0.0.1", 0, max_connections=2)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as busy:
            # a request whose body never comes holds its connection open
            busy.sendall(b"POST /hooks/gitea HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n")
            assert httpx.get(f"{server.url}/healthz").status_code == 503
        for _ in range(1000):  # the busy connection is gone once the server saw it close
            if httpx.get(f"{server.url}/healthz").status_code == 200:
                break
            threading.Event().wait(0.01)
        assert httpx.get(f"{server.url}/healthz").status_code == 200
    finally:
        assert server.stop(10)


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:0") == ("::1", 0)
    assert parse_listen(":9000") == ("", 9000)
    assert parse_listen("localhost:80") == ("localhost", 80)
    for bad in ("8080", "host:", "host:http", "::1:80", "h:70000"):
        with pytest.raises(ValueError, match="--listen"):
            parse_listen(bad)
