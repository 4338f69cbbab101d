"""The Notifier against a real HTTP server on loopback: retries (5xx, 429 with Retry-After,
timeouts, dropped connections), nothing blocks the caller, close() flushes, a full queue drops
the oldest, and the URL (which may hold a token) never shows in logs, results or errors."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from gitcops.agent.notify import (
    DeliveryCounts,
    DeliveryResult,
    DeliverySettings,
    NotificationEvent,
    Notifier,
    ResourceDetail,
    backoff,
    retry_after_seconds,
)
from gitcops.model.project import EventKind, NotificationSink
from gitcops.schemas import notification_validator
from gitcops.state.records import AuditHead

from .conftest import DROP, HANG, HookServer, eventually

TOKEN = "T0KEN-b4c2f1e9d8a7"  # what a real hook URL would carry
PATH = f"/hooks/{TOKEN}"
HEAD = AuditHead(42, "ab" * 32)
FAST = DeliverySettings(base_delay=0.01, max_delay=1.0, timeout=10.0, max_attempts=4)
ALL = frozenset(EventKind)


def _event(
    kind: EventKind = EventKind.FAILED, env: str | None = "dev", n: int = 1
) -> NotificationEvent:
    return NotificationEvent(
        kind=kind,
        project="shop",
        environment=env,
        revision="3f2bcedb2739bda5b1156b399895b1f3bab3e1d2",
        run_id=n,
        message=f"run {n}: 1 resource failed",
        audit_head=HEAD,
        summary={"created": 1, "failed": 1},
        details=(ResourceDetail("local.gitcops.io/File/motd", "failed", ("content",), "denied"),),
        time=1790000000.5,
    )


def _sink(
    kind: str = "webhook", events: frozenset[str] = ALL, envs: tuple[str, ...] | None = None
) -> NotificationSink:
    return NotificationSink(kind, events, envs)


class Results:
    def __init__(self) -> None:
        self.items: list[DeliveryResult] = []

    def __call__(self, result: DeliveryResult) -> None:
        self.items.append(result)


def _notifier(
    url: str, settings: DeliverySettings = FAST, sink: NotificationSink | None = None
) -> tuple[Notifier, Results]:
    results = Results()
    return Notifier([(sink or _sink(), url)], settings=settings, on_result=results), results


def test_a_500_is_retried_then_delivered(hooks: HookServer) -> None:
    notifier, results = _notifier(hooks.respond(PATH, 500, 502, 200))
    assert notifier.notify(_event()) == 1
    assert notifier.close(60)
    first, second, third = hooks.wait_for(3)
    assert first.body == second.body == third.body
    assert first.headers["X-Gitcops-Delivery"] == third.headers["X-Gitcops-Delivery"]
    assert first.headers["X-Gitcops-Event"] == "failed"
    assert first.headers["Content-Type"] == "application/json"
    payload = first.json()
    assert list(notification_validator().iter_errors(payload)) == []
    assert payload["id"] == first.headers["X-Gitcops-Delivery"]
    assert payload["auditHead"] == {"seq": 42, "hash": "ab" * 32}
    assert notifier.counts() == {"webhook": DeliveryCounts(delivered=1, retries=2)}
    [result] = results.items
    assert (result.outcome, result.attempts, result.error, result.scope) == (
        "delivered",
        3,
        "",
        "shop/dev",
    )
    assert str(result.sink) == "sink 0 (webhook, 127.0.0.1)"


def test_a_429_waits_at_least_what_retry_after_asks(hooks: HookServer) -> None:
    notifier, results = _notifier(hooks.respond(PATH, (429, {"Retry-After": "1"}), 200))
    notifier.notify(_event())
    assert notifier.close(60)
    first, second = hooks.wait_for(2)
    # Without Retry-After the backoff would be ~0.01 s: a lower bound, which no load can break.
    assert second.at - first.at >= 0.9
    assert [r.outcome for r in results.items] == ["delivered"]


def test_a_retry_after_longer_than_max_delay_gives_up_at_once(hooks: HookServer) -> None:
    notifier, results = _notifier(hooks.respond(PATH, (503, {"Retry-After": "3600"})))
    notifier.notify(_event())
    assert notifier.close(60)
    assert len(hooks.wait_for(1)) == 1
    [result] = results.items
    assert (result.outcome, result.attempts, result.error) == ("failed", 1, "HTTP 503")
    assert notifier.counts()["webhook"] == DeliveryCounts(failed=1)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 301])
def test_other_statuses_are_not_retried(hooks: HookServer, status: int) -> None:
    notifier, results = _notifier(hooks.respond(PATH, status))
    notifier.notify(_event())
    assert notifier.close(60)
    assert len(hooks.requests) == 1
    assert [(r.outcome, r.attempts, r.error) for r in results.items] == [
        ("failed", 1, f"HTTP {status}")
    ]


def test_it_gives_up_after_max_attempts(hooks: HookServer) -> None:
    notifier, results = _notifier(hooks.respond(PATH, 500, 500, 500, 500, 500))
    notifier.notify(_event())
    assert notifier.close(60)
    assert len(hooks.wait_for(4)) == 4
    assert [(r.outcome, r.attempts, r.error) for r in results.items] == [("failed", 4, "HTTP 500")]
    assert notifier.counts()["webhook"] == DeliveryCounts(failed=1, retries=3)


def test_a_dropped_connection_is_retried(hooks: HookServer) -> None:
    notifier, results = _notifier(hooks.respond(PATH, DROP, 200))
    notifier.notify(_event())
    assert notifier.close(60)
    assert len(hooks.wait_for(2)) == 2
    assert [(r.outcome, r.attempts) for r in results.items] == [("delivered", 2)]


def test_a_request_that_times_out_is_retried(
    hooks: HookServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "gitcops.agent.notify")
    settings = FAST._replace(timeout=1.0)  # the first request hangs until the test ends
    notifier, results = _notifier(hooks.respond(PATH, HANG, 200), settings)
    notifier.notify(_event())
    assert notifier.close(60)
    assert len(hooks.wait_for(2)) >= 2
    [result] = results.items
    assert result.outcome == "delivered" and result.attempts >= 2
    assert "ReadTimeout: timed out (attempt 1 of 4); retrying in" in caplog.text


def test_notify_returns_while_the_server_hangs(hooks: HookServer) -> None:
    """The server holds the request until the test releases it (or 60 s pass): had notify()
    waited for the delivery, the delivery would be done when it returned."""
    notifier, results = _notifier(hooks.respond(PATH, HANG), FAST._replace(timeout=120))
    assert notifier.notify(_event()) == 1
    assert notifier.counts()["webhook"] == DeliveryCounts()
    assert results.items == []
    hooks.wait_for(1)  # the request is in flight, held by the server
    assert notifier.notify(_event(n=2)) == 1  # and still notify() returns at once
    assert notifier.queued() == 1 and results.items == []
    hooks.release.set()
    assert notifier.close(60)
    assert [r.outcome for r in results.items] == ["delivered", "delivered"]


def test_close_flushes_the_queues_in_order(hooks: HookServer) -> None:
    notifier, results = _notifier(hooks.respond(PATH, 500))
    for n in range(1, 6):
        notifier.notify(_event(n=n))
    assert notifier.close(60)
    assert [r.json()["run"] for r in hooks.requests] == [1, 1, 2, 3, 4, 5]
    assert [r.outcome for r in results.items] == ["delivered"] * 5
    assert notifier.queued() == 0
    # Closed: nothing more is queued, and what is refused is counted.
    assert notifier.notify(_event(n=6)) == 0
    assert (results.items[-1].outcome, results.items[-1].error) == ("dropped", "closed")
    assert notifier.counts()["webhook"] == DeliveryCounts(delivered=5, dropped=1, retries=1)


def test_close_stops_at_its_deadline(hooks: HookServer) -> None:
    notifier, results = _notifier(hooks.respond(PATH, HANG), FAST._replace(timeout=120))
    for n in range(1, 4):
        notifier.notify(_event(n=n))
    hooks.wait_for(1)
    assert notifier.close(0.1) is False  # the first is still in flight
    hooks.release.set()
    eventually(lambda: len(results.items) == 3)
    assert [(r.outcome, r.error) for r in results.items] == [
        ("delivered", ""),
        ("dropped", "not delivered before close"),
        ("dropped", "not delivered before close"),
    ]
    assert len(hooks.requests) == 1


def test_a_backoff_that_would_pass_the_deadline_is_not_waited_for(hooks: HookServer) -> None:
    settings = FAST._replace(base_delay=600, max_delay=600)
    notifier, results = _notifier(hooks.respond(PATH, 500), settings)
    notifier.notify(_event())
    hooks.wait_for(1)
    eventually(lambda: notifier.counts()["webhook"].retries == 1)  # now waiting 5 to 10 minutes
    assert notifier.close(30)  # the retry would come after the deadline: given up at once
    assert [(r.outcome, r.error) for r in results.items] == [
        ("dropped", "not delivered before close (last: HTTP 500)")
    ]


def test_a_full_queue_drops_the_oldest(hooks: HookServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "gitcops.agent.notify")
    settings = FAST._replace(queue_size=2, timeout=120)
    notifier, results = _notifier(hooks.respond(PATH, HANG), settings)
    notifier.notify(_event(n=1))
    hooks.wait_for(1)  # taken from the queue: in flight
    for n in (2, 3, 4):
        notifier.notify(_event(n=n))
    assert [(r.outcome, r.error) for r in results.items] == [("dropped", "queue full")]
    assert (
        "queue full (2 waiting): dropped the oldest notification (failed shop/dev)" in caplog.text
    )
    assert "1 dropped so far" in caplog.text
    hooks.release.set()
    assert notifier.close(60)
    assert [r.json()["run"] for r in hooks.requests] == [1, 3, 4]
    assert notifier.counts()["webhook"] == DeliveryCounts(delivered=3, dropped=1)


def test_each_sink_takes_its_events_and_environments(hooks: HookServer) -> None:
    targets = [
        (_sink(events=frozenset({"failed"})), hooks.respond("/a")),
        (_sink("slack", frozenset({"applied", "failed"}), ("prod",)), hooks.respond("/b")),
        (_sink(events=frozenset({"sourceUnreachable"}), envs=("dev",)), hooks.respond("/c")),
    ]
    results = Results()
    notifier = Notifier(targets, settings=FAST, on_result=results)
    assert notifier.notify(_event(EventKind.FAILED, "dev")) == 1  # a
    assert notifier.notify(_event(EventKind.FAILED, "prod")) == 2  # a, b
    assert notifier.notify(_event(EventKind.APPLIED, "dev")) == 0
    assert notifier.notify(_event(EventKind.SOURCE_UNREACHABLE, None)) == 1  # c: the project
    assert notifier.close(60)
    paths = sorted(r.path for r in hooks.requests)
    assert paths == ["/a", "/a", "/b", "/c"]
    slack = next(r for r in hooks.requests if r.path == "/b").json()
    assert set(slack) == {"text", "blocks"}
    assert notifier.counts() == {
        "webhook": DeliveryCounts(delivered=3),
        "slack": DeliveryCounts(delivered=1),
    }
    assert [str(s) for s in notifier.sinks] == [
        "sink 0 (webhook, 127.0.0.1)",
        "sink 1 (slack, 127.0.0.1)",
        "sink 2 (webhook, 127.0.0.1)",
    ]


def test_a_failing_result_callback_does_not_stop_deliveries(hooks: HookServer) -> None:
    def explode(result: DeliveryResult) -> None:
        raise RuntimeError("callback bug")

    notifier = Notifier([(_sink(), hooks.respond(PATH))], settings=FAST, on_result=explode)
    notifier.notify(_event(n=1))
    notifier.notify(_event(n=2))
    assert notifier.close(60)
    assert notifier.counts()["webhook"].delivered == 2


def test_the_url_never_shows(hooks: HookServer, caplog: pytest.LogCaptureFixture) -> None:
    """Logs at every level (httpx's and httpcore's included), results, reprs: no token."""
    caplog.set_level(logging.DEBUG)
    url = hooks.respond(f"{PATH}/{TOKEN}x", 500, DROP, (429, {"Retry-After": "0"}), 200)
    url += f"?token={TOKEN}y&sig={TOKEN}z"
    refused = hooks.respond(f"/refused/{TOKEN}", 403)
    with socket_closed() as port:
        unreachable = f"http://127.0.0.1:{port}/{TOKEN}/down?key={TOKEN}"
        targets = [(_sink(), url), (_sink("slack"), refused), (_sink(), unreachable)]
        results = Results()
        notifier = Notifier(targets, settings=FAST, on_result=results)
        notifier.notify(_event())
        assert notifier.close(60)
    outcomes = sorted((r.sink.position, r.outcome) for r in results.items)
    assert outcomes == [(0, "delivered"), (1, "failed"), (2, "failed")]
    assert "ConnectError" in next(r.error for r in results.items if r.sink.position == 2)
    assert "HTTP Request: POST http://127.0.0.1:" in caplog.text  # httpx's line, redacted
    shown = [caplog.text, repr(notifier), repr(notifier.sinks), *map(repr, results.items)]
    shown += [repr(w.target) for w in notifier._workers]
    assert not [text for text in shown if TOKEN in text]


class socket_closed:  # noqa: N801 - used as a context manager
    """A loopback port with nothing listening (bound, then closed while in use)."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        port: int = self.sock.getsockname()[1]
        return port  # bound but not listening: a connection is refused

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("7", 7.0),
        (" 0 ", 0.0),
        ("soon", None),
        ("-3", None),
        ("1.5", None),
        (format_datetime(datetime.fromtimestamp(1_000_030, UTC), usegmt=True), 30.0),
        (format_datetime(datetime.fromtimestamp(999_000, UTC), usegmt=True), 0.0),
    ],
)
def test_retry_after_reads_seconds_and_dates(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, 1_000_000.0) == seconds


def test_backoff_doubles_with_jitter_up_to_max_delay() -> None:
    settings = DeliverySettings(base_delay=1.0, max_delay=8.0)
    rng = random.Random(7)
    for attempt, step in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (60, 8.0)]:
        delays = [backoff(attempt, None, settings, rng) for _ in range(200)]
        assert all(d is not None and step / 2 <= d <= step for d in delays)
        assert len(set(delays)) > 100  # jittered
    assert backoff(1, 5.0, settings, rng) == 5.0  # at least Retry-After
    assert backoff(4, 0.0, settings, rng) >= 4.0  # type: ignore[operator]
    assert backoff(1, 9.0, settings, rng) is None  # more than max_delay: give up


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Notifier([], settings=DeliverySettings(queue_size=0))
    notifier = Notifier([])
    assert notifier.notify(_event()) == 0
    assert notifier.close(0) and notifier.counts() == {}
