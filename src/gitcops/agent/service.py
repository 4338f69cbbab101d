"""The agent as a service: its loops, the HTTP server (webhooks, metrics, health) and what each
reconcile reports to metrics, all in one process around one Runtime."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from gitcops.agent.loop import Agent, AgentConfig, Listener
from gitcops.agent.reconcile import (
    APPLIED,
    DRIFTED,
    FAILED,
    HEALED,
    ROLLED_BACK,
    UNCHANGED,
    ReconcileOutcome,
)
from gitcops.engine.runtime import Runtime

if TYPE_CHECKING:
    from gitcops.api.metrics import AgentMetrics

log = logging.getLogger("gitcops.agent")

# The metrics' label for an outcome: snake case, as Prometheus labels are.
_RESULT = {ROLLED_BACK: "rolled_back"}


def report_to(metrics: AgentMetrics) -> Listener:
    """A reconcile listener that keeps the metrics current."""

    def report(env: str, outcome: ReconcileOutcome) -> None:
        result = _RESULT.get(outcome.outcome, outcome.outcome)
        metrics.reconciled(env, result, outcome.seconds, outcome.counts or None)
        if outcome.outcome == FAILED:
            metrics.failure(env, outcome.cause or "internal")
        if outcome.revision and outcome.outcome in (
            APPLIED,
            ROLLED_BACK,
            UNCHANGED,
            DRIFTED,
            HEALED,
        ):
            metrics.applied(env, outcome.revision)
        if outcome.drifted is not None:
            metrics.drift(env, outcome.drifted)

    return report


class Service:
    """`run()` blocks until `stop()`; the HTTP server, when asked for, lives as long."""

    def __init__(
        self,
        rt: Runtime,
        config: AgentConfig,
        *,
        listen: tuple[str, int] | None,
        secret: bytes | None,
    ) -> None:
        from gitcops.api.metrics import AgentMetrics

        self.metrics = AgentMetrics()
        self.agent = Agent(
            rt,
            config,
            listeners=[report_to(self.metrics)],
            source_listener=lambda reachable, _: self.metrics.source(reachable),
        )
        self._listen = listen
        self._secret = secret
        self.url: str | None = None

    def stop(self) -> None:
        self.agent.stop()

    def run(self) -> None:
        server = None
        if self._listen is not None:
            from gitcops.api.app import create_app, serve

            app = create_app(self.agent, self.metrics, self._secret)
            server = serve(app, *self._listen)
            self.url = server.url
            log.info(f"listening on {server.url}", extra={"event": "http.listening"})
            if self._secret is None:
                log.warning(
                    "no webhook secret: webhooks are refused (set --webhook-secret-file or "
                    "GITCOPS_WEBHOOK_SECRET)",
                    extra={"event": "http.no_secret"},
                )
        try:
            self.agent.run()
        finally:
            if server is not None:
                server.stop(timeout=5.0)
