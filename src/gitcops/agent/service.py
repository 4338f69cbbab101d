"""The agent as a service: its loops, the HTTP server (webhooks, metrics, health) and what each
reconcile reports to metrics, all in one process around one Runtime."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from gitcops.agent.loop import Agent, AgentConfig, Listener
from gitcops.agent.notify import (
    DeliveryResult,
    NotificationEvent,
    Notifier,
    ResourceDetail,
    url_resolver,
)
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
from gitcops.engine.workspace import project_of
from gitcops.model.errors import GitcopsError
from gitcops.model.project import EventKind, Project

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


class Notifications:
    """What reconciles and the source tell people, through the project's spec.notifications
    (at the branch's head: a commit that changes them takes effect at the next reconcile)."""

    def __init__(self, rt: Runtime, config: AgentConfig, metrics: AgentMetrics) -> None:
        self._rt = rt
        self._config = config
        self._metrics = metrics
        self._notifier: Notifier | None = None
        self._document: object = None
        self._project: Project | None = None
        self._reachable = True

    def _current(self) -> tuple[Project, Notifier] | None:
        """The notifier for the notifications at the branch's head, rebuilt when they change."""
        source = self._rt.source(self._config.repo, fetch=False)
        try:
            tree = source.tree(source.branch_head(self._config.branch))
            project = project_of(self._rt, tree)
        except GitcopsError:
            return (
                None
                if self._notifier is None or self._project is None
                else (
                    self._project,
                    self._notifier,
                )
            )
        wanted = project.document.get("spec", {}).get("notifications")
        if self._notifier is None or wanted != self._document:
            try:
                notifier = Notifier.from_project(
                    project,
                    url_resolver(tree, project, self._config.environments or None),
                    on_result=self._delivered,
                )
            except GitcopsError as exc:
                log.warning(f"notifications are not sent: {exc}", extra={"event": "notify.config"})
                return None
            if self._notifier is not None:
                self._notifier.close(timeout=5.0)
            self._notifier, self._document, self._project = notifier, wanted, project
        assert self._project is not None
        return self._project, self._notifier

    def _delivered(self, result: DeliveryResult) -> None:
        self._metrics.notification(result.sink.type, result.outcome)

    def reconciled(self, env: str, outcome: ReconcileOutcome) -> None:
        head = self._rt.store(self._config.state).audit_head()
        if head is not None:
            self._metrics.audit_head(head.seq, head.hash)
        if not outcome.events:
            return
        current = self._current()
        if current is None:
            return
        project, notifier = current
        for event in outcome.events:
            notifier.notify(
                NotificationEvent(
                    EventKind(event.kind),
                    project.name,
                    env,
                    outcome.revision or None,
                    event.run,
                    event.message,
                    head,
                    summary={k: v for k, v in outcome.counts.items() if v},
                    details=tuple(
                        ResourceDetail(resource, state, fields)
                        for resource, state, fields in event.resources
                    ),
                )
            )

    def source(self, reachable: bool, error: str) -> None:
        self._metrics.source(reachable)
        if reachable == self._reachable:
            return  # one notification an outage, not one an interval
        self._reachable = reachable
        if reachable:
            return
        current = self._current()
        if current is None:
            return
        project, notifier = current
        notifier.notify(
            NotificationEvent(
                EventKind.SOURCE_UNREACHABLE,
                project.name,
                None,
                None,
                None,
                f"the source cannot be fetched: {error}; reconciling from the last fetch",
                self._rt.store(self._config.state).audit_head(),
            )
        )

    def close(self) -> None:
        if self._notifier is not None:
            self._notifier.close(timeout=5.0)


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
        self.notifications = Notifications(rt, config, self.metrics)
        self.agent = Agent(
            rt,
            config,
            listeners=[report_to(self.metrics), self.notifications.reconciled],
            source_listener=self.notifications.source,
        )
        self._listen = listen
        self._secret = secret
        self.url: str | None = None

    def stop(self) -> None:
        self.agent.stop()

    def run_once(self) -> bool:
        """One pass (for cron and CI): True when no environment failed."""
        try:
            outcomes = self.agent.run_once()
        finally:
            self.notifications.close()
        return not any(o.outcome == FAILED for o in outcomes.values())

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
            self.notifications.close()
