"""Notifications: the agent's events, sent to the sinks of spec.notifications in the background.

The agent builds one `Notifier` from the Project (`Notifier.from_project`, with `url_resolver`
for the URLs kept in SOPS files) and calls `notify(event)`, which returns at once: each sink
has its own worker thread and bounded queue (when it is full the oldest notification is
dropped, counted and logged), so a sink that is slow or down delays neither the reconcile nor
the other sinks. A delivery is retried, with exponential backoff and jitter, on network errors,
timeouts, 408, 429 and 5xx (waiting at least what Retry-After asks), and given up after
`max_attempts`; every outcome is counted per sink type (`counts()`, for /metrics) and passed
to `on_result`. `close(timeout)` delivers what it can before the deadline.

A URL may hold a token (Slack's do): it is never in a log line, an exception message, a
result or a repr. A sink is named by its position, type and host: `sink 1 (slack,
hooks.slack.com)`. httpx's own log line of each request is redacted the same way.
"""

import json
import logging
import os
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qsl, urlsplit

import httpx

from gitcops import __version__
from gitcops.agent import payloads
from gitcops.model.diagnostics import Diagnostic
from gitcops.model.errors import InvalidInputError, SecretError
from gitcops.model.project import EventKind, NotificationSink, Project, UrlRef
from gitcops.render.secretrefs import SecretRef, SecretResolver
from gitcops.source.tree import SourceTree
from gitcops.state.records import AuditHead

log = logging.getLogger(__name__)

DELIVERED = "delivered"
FAILED = "failed"
DROPPED = "dropped"


class ResourceDetail(NamedTuple):
    """A resource an event concerns: what happened to it or the state it is in, and the names
    of the fields concerned. Never a value: the agent passes names, and names are all a
    notification shows."""

    resource: str  # its id, as text
    state: str  # modified | missing (drift); created | configured | deleted | failed | ...
    fields: tuple[str, ...] = ()  # paths for people: content, http.url
    message: str = ""


class NotificationEvent(NamedTuple):
    """Something the agent reports. `summary` holds counts (a run's per action; `checked`
    and `drifted` for drift); `audit_head` is the audit log's newest entry once the event is
    recorded (`StateStore.audit_head()`)."""

    kind: EventKind
    project: str
    environment: str | None  # None: the whole project (a source that cannot be fetched)
    revision: str | None
    run_id: int | None
    message: str
    audit_head: AuditHead | None
    summary: Mapping[str, int] = {}  # shared by the events made without one: never mutated
    details: tuple[ResourceDetail, ...] = ()
    time: float | None = None  # seconds since the epoch; None: when notify() is called


class SinkInfo(NamedTuple):
    """How logs, results and counters name a sink: never by its URL."""

    position: int  # in spec.notifications
    type: str  # webhook | slack
    host: str

    def __str__(self) -> str:
        return f"sink {self.position} ({self.type}, {self.host})"


class DeliveryResult(NamedTuple):
    """How one notification ended for one sink (passed to `on_result`)."""

    sink: SinkInfo
    notification_id: str
    event: str
    scope: str  # PROJECT/ENVIRONMENT, or PROJECT
    outcome: str  # delivered | failed (the sink refused it, or stayed unreachable) | dropped
    attempts: int
    error: str = ""  # the last error (`HTTP 503`, `ConnectError: ...`); never the URL


class DeliveryCounts(NamedTuple):
    """Outcomes per sink type since the Notifier started."""

    delivered: int = 0
    failed: int = 0
    dropped: int = 0  # the queue was full, or the Notifier closed before delivering
    retries: int = 0  # attempts after the first


class DeliverySettings(NamedTuple):
    queue_size: int = 100  # waiting notifications per sink; beyond, the oldest is dropped
    max_attempts: int = 5
    base_delay: float = 1.0  # seconds before the 2nd attempt, doubled for each next one
    max_delay: float = 60.0  # the longest backoff; a Retry-After beyond it gives up
    timeout: float = 10.0  # seconds per request (connect, write, read)


UrlResolver = Callable[[UrlRef], object]
ResultCallback = Callable[[DeliveryResult], None]


def url_resolver(
    tree: SourceTree,
    project: Project,
    environments: Iterable[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> UrlResolver:
    """Reads urlRefs from the tree's SOPS files, decrypting each file once, with the age
    identities the agent has: SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, the project's
    `secrets.ageKeyFile` and those of `environments` (default: every environment), and sops'
    default key file (docs/secrets.md). `env` defaults to os.environ."""
    names = None if environments is None else set(environments)

    def identities() -> tuple[list[object], str]:
        from gitcops.secrets.keys import load_identities

        configured = [project.spec.age_key_file] + [
            e.age_key_file for e in project.spec.environments if names is None or e.name in names
        ]
        files = list(dict.fromkeys(Path(f).expanduser() for f in configured if f))
        found, tried = load_identities(os.environ if env is None else env, files)
        return list(found), tried

    resolver = SecretResolver(tree, identities)
    return lambda ref: resolver.value(SecretRef(ref.file, ref.key))


class _Target:
    """A sink with its URL: the URL may hold a token, so no repr, log or message shows it."""

    __slots__ = ("_hidden", "info", "sink", "url")

    def __init__(self, info: SinkInfo, sink: NotificationSink, url: str) -> None:
        self.info = info
        self.sink = sink
        self.url = url
        self._hidden = _fragments(url)

    def scrub(self, text: str) -> str:
        for fragment in self._hidden:
            text = text.replace(fragment, "…")
        return text

    def __repr__(self) -> str:
        return f"<notification {self.info}>"


def _fragments(url: str) -> list[str]:
    """The parts of a URL that may be secret, longest first: all of it but the scheme and
    host (its path, query, user info, and each of their pieces)."""
    parts = urlsplit(url)
    found = {url, url.partition("://")[2], parts.path, parts.query, parts.fragment}
    found |= {parts.username or "", parts.password or ""}
    found.add(f"{parts.path}?{parts.query}")
    found |= set(parts.path.split("/"))
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        found |= {name, value}
    keep = {"", "/", parts.hostname or "", parts.netloc}
    secret = [f for f in found if f not in keep and (len(f) >= 4 or f == url)]
    return sorted(secret, key=len, reverse=True)


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "?").lower()


def _is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


class _Item(NamedTuple):
    notification_id: str
    event: str
    scope: str
    body: bytes


class _Attempt(NamedTuple):
    ok: bool
    retry: bool = False
    error: str = ""
    retry_after: float | None = None


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Retry-After as seconds from `now`: delta-seconds, or an HTTP date; None if absent or
    unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - now)


def backoff(
    attempt: int, retry_after: float | None, settings: DeliverySettings, rng: random.Random
) -> float | None:
    """Seconds to wait after failed attempt number `attempt` (from 1): base_delay doubled per
    attempt, at most max_delay, half of it fixed and half random (jitter, so that agents do
    not retry in step); at least Retry-After. None when Retry-After asks more than max_delay:
    the delivery is given up rather than sent sooner than the server asked."""
    step = min(settings.max_delay, settings.base_delay * 2.0 ** min(attempt - 1, 30))
    delay = step / 2 + rng.uniform(0, step / 2)
    if retry_after is not None:
        if retry_after > settings.max_delay:
            return None
        delay = max(delay, retry_after)
    return delay


class Notifier:
    """Sends events to the sinks that subscribe to them, each on its own worker thread."""

    def __init__(
        self,
        targets: Sequence[tuple[NotificationSink, str]],
        *,
        settings: DeliverySettings | None = None,
        on_result: ResultCallback | None = None,
    ) -> None:
        """`targets`: every sink of spec.notifications, in order, with its URL resolved
        (`from_project` does that)."""
        self.settings = settings or DeliverySettings()
        if self.settings.queue_size < 1 or self.settings.max_attempts < 1:
            raise ValueError("queue_size and max_attempts must be at least 1")
        self._on_result = on_result
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._deadline: float | None = None
        self._rng = random.Random()
        self._counts: dict[str, DeliveryCounts] = {}
        self._workers: list[_Worker] = []
        _redact_httpx_log()
        for position, (sink, url) in enumerate(targets):
            target = _Target(SinkInfo(position, sink.type, _host(url)), sink, url)
            self._counts.setdefault(sink.type, DeliveryCounts())
            self._workers.append(_Worker(self, target))
        for worker in self._workers:
            worker.thread.start()

    @classmethod
    def from_project(
        cls,
        project: Project,
        resolve: UrlResolver | None = None,
        *,
        settings: DeliverySettings | None = None,
        on_result: ResultCallback | None = None,
    ) -> "Notifier":
        """A Notifier for the project's spec.notifications. urlRefs are resolved now, with
        `resolve` (see `url_resolver`); every one that cannot be is a diagnostic at its field,
        raised together (InvalidInputError), and no worker starts."""
        targets: list[tuple[NotificationSink, str]] = []
        problems: list[Diagnostic] = []
        for i, sink in enumerate(project.spec.notifications):
            where: tuple[str | int, ...] = ("spec", "notifications", i, "urlRef")
            if sink.url is not None:
                targets.append((sink, sink.url))
                continue
            ref = sink.url_ref
            assert ref is not None  # exactly one of url and urlRef: the schema says so
            if resolve is None:
                problems.append(project.problem("urlRef cannot be resolved here", where))
                continue
            try:
                value = resolve(ref)
            except SecretError as exc:  # names the file and the key, never a value
                problems.append(project.problem(str(exc), where))
                continue
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            url = value.strip() if isinstance(value, str) else ""
            if not _is_http_url(url):
                key = f", key {ref.key}" if ref.key else ""
                problems.append(
                    project.problem(
                        f"the value at {ref.file}{key} is not an http:// or https:// URL",
                        where,
                    )
                )
                continue
            targets.append((sink, url))
        if problems:
            raise InvalidInputError(problems)
        return cls(targets, settings=settings, on_result=on_result)

    @property
    def sinks(self) -> list[SinkInfo]:
        return [w.target.info for w in self._workers]

    def notify(self, event: NotificationEvent) -> int:
        """Queue the event for every sink that subscribes to it; returns at once, with how
        many sinks it was queued for. Never raises for a sink's sake; after close(), nothing
        is queued."""
        workers = [w for w in self._workers if w.target.sink.wants(event.kind, event.environment)]
        if not workers:
            return 0
        notification_id = uuid.uuid4().hex
        if self._closing.is_set():
            log.warning("notifications are closed: %s not sent", payloads.title(event))
            item = _Item(notification_id, str(event.kind), payloads.scope(event), b"")
            for worker in workers:
                self._finish(worker.target, item, DROPPED, 0, "closed")
            return 0
        when = event.time if event.time is not None else time.time()
        bodies: dict[str, bytes] = {}
        for worker in workers:
            kind = worker.target.sink.type
            if kind not in bodies:
                build = payloads.slack if kind == "slack" else payloads.generic
                payload = build(event, notification_id, when)
                bodies[kind] = json.dumps(payload, ensure_ascii=False).encode()
            item = _Item(notification_id, str(event.kind), payloads.scope(event), bodies[kind])
            worker.put(item)
        return len(workers)

    def counts(self) -> dict[str, DeliveryCounts]:
        """Outcomes so far, per sink type (every configured type, zeros included)."""
        with self._lock:
            return dict(self._counts)

    def queued(self) -> int:
        """Notifications waiting in the queues (not the ones being sent)."""
        return sum(len(w.queue) for w in self._workers)

    def close(self, timeout: float = 10.0) -> bool:
        """Deliver what can be delivered within `timeout` seconds, then stop: what is left is
        dropped (counted). True when every worker finished in time."""
        with self._lock:
            if self._deadline is None:
                self._deadline = time.monotonic() + max(0.0, timeout)
            deadline = self._deadline
        self._closing.set()
        for worker in self._workers:
            worker.wake()
        for worker in self._workers:
            # A little past the deadline: a worker then only counts what it had left.
            worker.thread.join(max(0.0, deadline - time.monotonic()) + 0.25)
        finished = True
        for worker in self._workers:
            if worker.thread.is_alive():
                finished = False
                continue
            for item in worker.leftovers():  # queued by a notify() racing this close()
                worker.abandon(item, 0)
        return finished

    def __enter__(self) -> "Notifier":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- for the workers ---------------------------------------------------------------------

    def _count(self, sink_type: str, **increments: int) -> None:
        with self._lock:
            counts = self._counts.get(sink_type, DeliveryCounts())
            self._counts[sink_type] = counts._replace(
                **{name: getattr(counts, name) + n for name, n in increments.items()}
            )

    def _finish(
        self, target: _Target, item: _Item, outcome: str, attempts: int, error: str
    ) -> None:
        self._count(target.info.type, **{outcome: 1})
        if self._on_result is None:
            return
        result = DeliveryResult(
            target.info, item.notification_id, item.event, item.scope, outcome, attempts, error
        )
        try:
            self._on_result(result)
        except Exception:  # the agent's callback must not stop deliveries
            log.exception("notification result callback failed for %s", target.info)

    def _request_timeout(self) -> float | None:
        """The timeout of the next request; None when closing's deadline has passed."""
        deadline = self._deadline
        if deadline is None:
            return self.settings.timeout
        remaining = deadline - time.monotonic()
        return min(self.settings.timeout, remaining) if remaining > 0 else None

    def _wait(self, delay: float) -> bool:
        """Sleep `delay` seconds before a retry; False when closing's deadline comes first."""
        until = time.monotonic() + delay
        if not self._closing.wait(delay):
            return True
        deadline = self._deadline
        if deadline is None or until > deadline:
            return False
        remaining = until - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)
        return True

    def _backoff(self, attempt: int, retry_after: float | None) -> float | None:
        with self._lock:
            return backoff(attempt, retry_after, self.settings, self._rng)


class _Worker:
    """One sink's queue and thread."""

    def __init__(self, notifier: Notifier, target: _Target) -> None:
        self.notifier = notifier
        self.target = target
        self.queue: deque[_Item] = deque()
        self.cond = threading.Condition()
        self.thread = threading.Thread(
            target=self._run, name=f"gitcops-notify-{target.info.position}", daemon=True
        )
        self.dropped = 0

    def put(self, item: _Item) -> None:
        dropped: _Item | None = None
        with self.cond:
            if len(self.queue) >= self.notifier.settings.queue_size:
                dropped = self.queue.popleft()
                self.dropped += 1
            self.queue.append(item)
            total = self.dropped
            self.cond.notify()
        if dropped is not None:
            log.warning(
                "%s: queue full (%d waiting): dropped the oldest notification (%s %s); "
                "%d dropped so far",
                self.target.info,
                self.notifier.settings.queue_size,
                dropped.event,
                dropped.scope,
                total,
            )
            self.notifier._finish(self.target, dropped, DROPPED, 0, "queue full")

    def leftovers(self) -> list[_Item]:
        """What a finished worker never took (queued while it stopped)."""
        with self.cond:
            items = list(self.queue)
            self.queue.clear()
            return items

    def wake(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def _take(self) -> _Item | None:
        with self.cond:
            while not self.queue and not self.notifier._closing.is_set():
                self.cond.wait()
            return self.queue.popleft() if self.queue else None

    def _run(self) -> None:
        settings = self.notifier.settings
        headers = {"User-Agent": f"gitcops/{__version__}", "Content-Type": "application/json"}
        with httpx.Client(timeout=settings.timeout, headers=headers) as client:
            while True:
                item = self._take()
                if item is None:
                    return
                try:
                    self._deliver(client, item)
                except Exception as exc:  # a bug must not end deliveries to this sink
                    error = self.target.scrub(f"{type(exc).__name__}: {exc}")
                    info = self.target.info
                    log.error("%s: %s %s not sent: %s", info, item.event, item.scope, error)
                    self.notifier._finish(self.target, item, FAILED, 0, error)

    def _deliver(self, client: httpx.Client, item: _Item) -> None:
        notifier = self.notifier
        info = self.target.info
        limit = notifier.settings.max_attempts
        attempt = 0
        while True:
            timeout = notifier._request_timeout()
            if timeout is None:
                self.abandon(item, attempt)
                return
            attempt += 1
            result = self._attempt(client, item, timeout)
            if result.ok:
                log.debug("%s: %s %s delivered (attempt %d)", info, item.event, item.scope, attempt)
                notifier._finish(self.target, item, DELIVERED, attempt, "")
                return
            delay = None
            if result.retry and attempt < limit:
                delay = notifier._backoff(attempt, result.retry_after)
            if delay is None:
                why = result.error
                if result.retry and attempt < limit:
                    why += f" (asked to retry after {result.retry_after:.0f} s)"
                log.warning(
                    "%s: %s %s not delivered after %d attempt%s: %s",
                    info,
                    item.event,
                    item.scope,
                    attempt,
                    "s" if attempt != 1 else "",
                    why,
                )
                notifier._finish(self.target, item, FAILED, attempt, result.error)
                return
            log.warning(
                "%s: %s %s: %s (attempt %d of %d); retrying in %.2f s",
                info,
                item.event,
                item.scope,
                result.error,
                attempt,
                limit,
                delay,
            )
            notifier._count(info.type, retries=1)
            if not notifier._wait(delay):
                self.abandon(item, attempt, result.error)
                return

    def abandon(self, item: _Item, attempts: int, error: str = "") -> None:
        log.warning(
            "%s: %s %s not delivered before close", self.target.info, item.event, item.scope
        )
        reason = "not delivered before close" + (f" (last: {error})" if error else "")
        self.notifier._finish(self.target, item, DROPPED, attempts, reason)

    def _attempt(self, client: httpx.Client, item: _Item, timeout: float) -> _Attempt:
        headers = {"X-Gitcops-Event": item.event, "X-Gitcops-Delivery": item.notification_id}
        try:
            response = client.post(
                self.target.url, content=item.body, headers=headers, timeout=timeout
            )
        except httpx.TransportError as exc:  # network, timeouts, protocol: worth another try
            return _Attempt(False, True, self._describe(exc))
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            return _Attempt(False, False, self._describe(exc))
        status = response.status_code
        if 200 <= status < 300:
            return _Attempt(True)
        retry = status in (408, 429) or status >= 500
        wait = retry_after_seconds(response.headers.get("retry-after"), time.time())
        return _Attempt(False, retry, f"HTTP {status}", wait if retry else None)

    def _describe(self, exc: Exception) -> str:
        text = str(exc)
        return self.target.scrub(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


_REDACTED = threading.Lock()
_redacting = False


class _RedactUrls(logging.Filter):
    """httpx logs every request with its URL (INFO, `HTTP Request: POST <url> ...`): keep the
    scheme and host of any URL in a record of the httpx logger, and cut the rest."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(
                f"{a.scheme}://{a.host}{f':{a.port}' if a.port else ''}/…"
                if isinstance(a, httpx.URL)
                else a
                for a in record.args
            )
        return True


def _redact_httpx_log() -> None:
    global _redacting
    with _REDACTED:
        if not _redacting:
            logging.getLogger("httpx").addFilter(_RedactUrls())
            _redacting = True
