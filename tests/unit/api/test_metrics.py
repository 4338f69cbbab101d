"""AgentMetrics: its own registry, bounded labels, info series replaced on change."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from gitcops import __version__
from gitcops.api.metrics import AgentMetrics
from gitcops.api.webhooks import FORGES, Outcome
from gitcops.apply.changeset import Action


def samples(m: AgentMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, read back with prometheus_client's own parser."""
    found = {}
    for family in text_string_to_metric_families(m.exposition().decode()):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def series(m: AgentMetrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (n, labels), v in samples(m).items() if n == name}


def test_two_agents_keep_separate_numbers_and_leave_the_global_registry_alone() -> None:
    a, b = AgentMetrics(), AgentMetrics()
    a.webhook("github", Outcome.TRIGGERED)
    a.webhook("github", "triggered")
    b.drift("dev", 4)
    key = (("forge", "github"), ("outcome", "triggered"))
    assert series(a, "gitcops_webhook_requests_total")[key] == 2
    assert series(b, "gitcops_webhook_requests_total")[key] == 0
    assert series(a, "gitcops_drift_resources") == {}
    assert series(b, "gitcops_drift_resources") == {(("environment", "dev"),): 4}
    assert not [f.name for f in REGISTRY.collect() if f.name.startswith("gitcops")]


def test_every_webhook_series_exists_from_the_start() -> None:
    counters = series(AgentMetrics(), "gitcops_webhook_requests_total")
    assert set(counters) == {(("forge", f), ("outcome", o.value)) for f in FORGES for o in Outcome}
    assert set(counters.values()) == {0}


def test_reconciles() -> None:
    m = AgentMetrics()
    m.reconciled("dev", "success", 1.5, {"created": 2, "unchanged": 7})
    m.reconciled("dev", "success", 0.2, {Action.UNCHANGED: 9})
    m.reconciled("prod", "failure", 40.0)
    s = samples(m)
    assert (
        s[
            (
                "gitcops_reconcile_duration_seconds_count",
                (("environment", "dev"), ("result", "success")),
            )
        ]
        == 2
    )
    assert (
        s[
            (
                "gitcops_reconcile_duration_seconds_sum",
                (("environment", "dev"), ("result", "success")),
            )
        ]
        == 1.7
    )
    assert (
        s[
            (
                "gitcops_reconcile_duration_seconds_bucket",
                (("environment", "prod"), ("le", "60.0"), ("result", "failure")),
            )
        ]
        == 1
    )
    resources = series(m, "gitcops_resources")
    # the last reconcile's counts replace the previous ones; every action has a series
    assert resources == {
        (("action", a.value), ("environment", "dev")): (9 if a is Action.UNCHANGED else 0)
        for a in Action
    }
    assert set(series(m, "gitcops_last_reconcile_timestamp_seconds")) == {
        (("environment", "dev"),),
        (("environment", "prod"),),
    }


def test_revision_and_audit_head_are_one_series_replaced_on_change() -> None:
    m = AgentMetrics()
    assert series(m, "gitcops_audit_head_info") == {}  # absent until known
    assert series(m, "gitcops_audit_head_sequence") == {}
    assert series(m, "gitcops_source_reachable") == {}
    for seq, digest in ((1, "aa" * 32), (2, "bb" * 32)):
        m.audit_head(seq, digest)
        m.applied("dev", digest[:40])
    m.applied("prod", "c" * 40)
    m.source(True)
    m.source(False)
    assert series(m, "gitcops_audit_head_info") == {(("hash", "bb" * 32),): 1}
    assert series(m, "gitcops_audit_head_sequence") == {(): 2}
    assert series(m, "gitcops_applied_revision_info") == {
        (("environment", "dev"), ("revision", "b" * 40)): 1,
        (("environment", "prod"), ("revision", "c" * 40)): 1,
    }
    assert series(m, "gitcops_source_reachable") == {(): 0}
    assert series(m, "gitcops_build_info")[(("version", __version__),)] == 1


def test_free_form_labels_stay_bounded(caplog: pytest.LogCaptureFixture) -> None:
    m = AgentMetrics()
    with caplog.at_level(logging.WARNING, logger="gitcops.api"):
        m.failure("dev", "apply")
        m.failure("dev", "Error: could not connect to db.internal:5432 (password …)")
        m.failure("dev", "x" * 41)
        m.reconciled("dev", "Failed!", 1.0, {"created": 1, "exploded": 3})
        m.notification("slack", "sent")
        m.notification("https://hooks.example.com/T0/B0", "failed")
        m.webhook("bitbucket", "triggered")
        m.webhook("github", "weird")
    assert series(m, "gitcops_reconcile_failures_total") == {
        (("environment", "dev"), ("reason", "apply")): 1,
        (("environment", "dev"), ("reason", "other")): 2,
    }
    assert (("environment", "dev"), ("result", "other")) in series(
        m, "gitcops_reconcile_duration_seconds_count"
    )
    assert all(labels[0][1] != "exploded" for labels in series(m, "gitcops_resources"))
    assert series(m, "gitcops_notifications_total") == {
        (("outcome", "sent"), ("sink", "slack")): 1,
        (("outcome", "failed"), ("sink", "other")): 1,
    }
    webhooks = series(m, "gitcops_webhook_requests_total")
    assert webhooks[(("forge", "other"), ("outcome", "triggered"))] == 1
    assert webhooks[(("forge", "github"), ("outcome", "other"))] == 1
    assert len(caplog.records) == 7  # each bad value said once, where it was given
    assert "password" not in caplog.text  # logged values are cut short


def test_forget_an_environment() -> None:
    m = AgentMetrics()
    for env in ("dev", "gone"):
        m.reconciled(env, "success", 1.0, {"created": 1})
        m.failure(env, "apply")
        m.applied(env, "a" * 40)
        m.drift(env, 1)
    m.forget("gone")
    m.forget("never-seen")
    s = samples(m)
    assert not [k for k in s if ("environment", "gone") in k[1]]
    assert [k for k in s if ("environment", "dev") in k[1]]
