"""The agent's Prometheus metrics, in a registry of their own.

`AgentMetrics` never touches prometheus_client's global default registry, so two agents (or
two tests) in one process keep separate numbers. The agent calls its typed methods; `/metrics`
serves `exposition()`. Every label takes a bounded set of values: environments come from the
project, actions from the change set, forges and webhook outcomes from fixed lists, and the
free-form ones (a reconcile's result, a failure's reason, a notification sink and outcome) must
be short identifiers (`[a-z][a-z0-9_]*`, at most 40 characters): anything else is counted as
`other`, with a warning in the log. Commit ids and hashes appear only in the info metrics, one
series per environment (or one in all), replaced when the value changes.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from gitcops import __version__
from gitcops.api.webhooks import FORGES, Outcome
from gitcops.apply.changeset import Action

log = logging.getLogger("gitcops.api")

RECONCILE_BUCKETS: Final = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
"""Seconds: a reconcile with nothing to do takes well under a second, a large apply minutes."""

OTHER: Final = "other"
_WORD = re.compile(r"[a-z][a-z0-9_]{0,39}")
_ACTIONS: Final = frozenset(a.value for a in Action)


def _word(kind: str, value: str) -> str:
    if _WORD.fullmatch(value):
        return value
    log.warning("metrics: %s %r is not a short identifier; counted as %r", kind, value[:48], OTHER)
    return OTHER


class _Latest(Collector):
    """Values that have no meaning until the agent first reports them: absent until then,
    replaced on change (so a hash is one series, never one per value ever seen)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reachable: bool | None = None
        self._audit: tuple[int, str] | None = None

    def source(self, reachable: bool) -> None:
        with self._lock:
            self._reachable = reachable

    def audit_head(self, sequence: int, digest: str) -> None:
        with self._lock:
            self._audit = (sequence, digest)

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            reachable, audit = self._reachable, self._audit
        if reachable is not None:
            yield GaugeMetricFamily(
                "gitcops_source_reachable",
                "1 if the last fetch of the Git source succeeded, 0 if it failed.",
                value=1.0 if reachable else 0.0,
            )
        if audit is not None:
            yield GaugeMetricFamily(
                "gitcops_audit_head_sequence",
                "Sequence number of the newest entry of the audit chain.",
                value=float(audit[0]),
            )
            yield InfoMetricFamily(
                "gitcops_audit_head",
                "Hash of the newest entry of the audit chain.",
                {"hash": audit[1]},
            )

    def describe(self) -> Iterable[Metric]:
        return []  # the values come and go; no fixed description to check names against


class AgentMetrics:
    """The metrics one agent reports; thread-safe (any thread may call any method)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._lock = threading.Lock()
        self._results: dict[str, set[str]] = {}  # label values seen, for forget()
        self._reasons: dict[str, set[str]] = {}
        r = self.registry
        self._build = Info(
            "gitcops_build", "The gitcops version serving these metrics.", registry=r
        )
        self._build.info({"version": __version__})
        self._duration = Histogram(
            "gitcops_reconcile_duration_seconds",
            "Duration of reconciles, by environment and result.",
            ["environment", "result"],
            buckets=RECONCILE_BUCKETS,
            registry=r,
        )
        self._last = Gauge(
            "gitcops_last_reconcile_timestamp_seconds",
            "When the last reconcile of the environment ended (Unix time).",
            ["environment"],
            registry=r,
        )
        self._revision = Info(
            "gitcops_applied_revision",
            "The revision last applied to the environment.",
            ["environment"],
            registry=r,
        )
        self._resources = Gauge(
            "gitcops_resources",
            "Resources of the environment by what the last reconcile did to them.",
            ["environment", "action"],
            registry=r,
        )
        self._drift = Gauge(
            "gitcops_drift_resources",
            "Resources whose live state differs from what was last applied.",
            ["environment"],
            registry=r,
        )
        self._failures = Counter(
            "gitcops_reconcile_failures",
            "Failed reconciles, by environment and reason.",
            ["environment", "reason"],
            registry=r,
        )
        self._webhooks = Counter(
            "gitcops_webhook_requests",
            "Webhook requests, by forge and outcome.",
            ["forge", "outcome"],
            registry=r,
        )
        self._notifications = Counter(
            "gitcops_notifications",
            "Notifications sent, by sink and outcome.",
            ["sink", "outcome"],
            registry=r,
        )
        self._latest = _Latest()
        r.register(self._latest)
        for forge in FORGES:  # every webhook series exists from the start, at 0
            for outcome in Outcome:
                self._webhooks.labels(forge=forge, outcome=outcome.value)

    # --- what the agent reports ---------------------------------------------------------------

    def reconciled(
        self,
        environment: str,
        result: str,
        seconds: float,
        counts: Mapping[str, int] | None = None,
    ) -> None:
        """A reconcile of `environment` ended with `result` (a short word, e.g. "success",
        "failure", "unchanged") after `seconds`; `counts` is resources by action (the change
        set's `counts`), replacing those of the previous reconcile."""
        result = _word("result", result)
        with self._lock:
            self._results.setdefault(environment, set()).add(result)
        self._duration.labels(environment=environment, result=result).observe(seconds)
        self._last.labels(environment=environment).set(time.time())
        if counts is None:
            return
        for action in counts:
            if action not in _ACTIONS:
                log.warning("metrics: unknown action %r ignored", action)
        for action in sorted(_ACTIONS):
            self._resources.labels(environment=environment, action=action).set(
                counts.get(action, 0)
            )

    def failure(self, environment: str, reason: str) -> None:
        """A reconcile of `environment` failed; `reason` is a short word ("source", "render",
        "validate", "policy", "apply", "health", "locked", ...), never an error message."""
        reason = _word("reason", reason)
        with self._lock:
            self._reasons.setdefault(environment, set()).add(reason)
        self._failures.labels(environment=environment, reason=reason).inc()

    def applied(self, environment: str, revision: str) -> None:
        """`revision` is now applied to `environment` (replaces the previous one)."""
        self._revision.labels(environment=environment).info({"revision": revision})

    def drift(self, environment: str, resources: int) -> None:
        """`resources` of `environment` have drifted (0: none)."""
        self._drift.labels(environment=environment).set(resources)

    def source(self, reachable: bool) -> None:
        """The last fetch of the Git source succeeded (True) or failed (False)."""
        self._latest.source(reachable)

    def audit_head(self, sequence: int, digest: str) -> None:
        """The audit chain's newest entry is now `sequence`, with hash `digest`."""
        self._latest.audit_head(sequence, digest)

    def webhook(self, forge: str, outcome: Outcome | str) -> None:
        """A webhook request from `forge` ended with `outcome` (the app calls this)."""
        if forge not in FORGES:
            log.warning("metrics: unknown forge %r counted as %r", forge, OTHER)
            forge = OTHER
        try:
            value = Outcome(outcome).value
        except ValueError:
            log.warning("metrics: unknown webhook outcome %r counted as %r", outcome, OTHER)
            value = OTHER
        self._webhooks.labels(forge=forge, outcome=value).inc()

    def notification(self, sink: str, outcome: str) -> None:
        """A notification to `sink` (its type: "slack", "webhook", ...) ended with `outcome`
        ("sent", "failed", "dropped", ...)."""
        self._notifications.labels(
            sink=_word("sink", sink), outcome=_word("outcome", outcome)
        ).inc()

    def forget(self, environment: str) -> None:
        """Drop every series of an environment that left the project."""
        with self._lock:
            results = self._results.pop(environment, set())
            reasons = self._reasons.pop(environment, set())
        for result in results:
            _remove(self._duration, environment, result)
        for reason in reasons:
            _remove(self._failures, environment, reason)
        for action in sorted(_ACTIONS):
            _remove(self._resources, environment, action)
        for single in (self._last, self._revision, self._drift):
            _remove(single, environment)

    # --- what /metrics serves -----------------------------------------------------------------

    content_type: Final = CONTENT_TYPE_LATEST

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


def _remove(metric: Histogram | Gauge | Counter | Info, *labels: str) -> None:
    with contextlib.suppress(KeyError):  # never reported
        metric.remove(*labels)
