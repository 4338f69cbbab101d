"""Built-in rule required_labels: resources carry the labels gitcops.yaml requires."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Evaluate
from .support import resource

REQUIRE = {"requiredLabels": {"labels": ["tier", "owner", "app"]}}


def _only(findings: list[dict[str, Any]], rule: str = "required_labels") -> list[dict[str, Any]]:
    return [f for f in findings if f["rule"] == rule]


def test_missing_labels_are_named_sorted(evaluate_resource: Evaluate) -> None:
    findings = evaluate_resource(resource(labels={"tier": "web"}), REQUIRE)
    assert findings == [
        {
            "msg": "local.gitcops.io/File/motd is missing required label(s): app, owner; "
            "add them under metadata.labels (required by policy.builtin.requiredLabels.labels)",
            "rule": "required_labels",
            "missing": ["app", "owner"],
        }
    ]


def test_all_labels_present_passes(evaluate_resource: Evaluate) -> None:
    labels = {"tier": "web", "owner": "team-a", "app": "shop", "extra": "x"}
    assert evaluate_resource(resource(labels=labels), REQUIRE) == []


def test_empty_label_value_counts_as_present(evaluate_resource: Evaluate) -> None:
    labels = {"tier": "", "owner": "", "app": ""}
    assert evaluate_resource(resource(labels=labels), REQUIRE) == []


@pytest.mark.parametrize(
    "metadata",
    [{"name": "motd"}, {"name": "motd", "labels": None}, {"name": "motd", "labels": {}}],
    ids=["no-labels-key", "labels-null", "labels-empty"],
)
def test_no_labels_at_all_reports_every_required_label(
    evaluate_resource: Evaluate, metadata: dict[str, Any]
) -> None:
    doc = resource()
    doc["metadata"] = metadata
    [finding] = evaluate_resource(doc, REQUIRE)
    assert finding["missing"] == ["app", "owner", "tier"]
    assert "missing required label(s): app, owner, tier;" in finding["msg"]


def test_default_without_config_requires_nothing(evaluate_resource: Evaluate) -> None:
    assert evaluate_resource(resource()) == []


@pytest.mark.parametrize(
    "config",
    [{}, {"requiredLabels": {}}, {"requiredLabels": {"labels": []}}, {"worldWritable": {}}],
    ids=["empty-config", "no-labels-key", "empty-list", "other-rules-only"],
)
def test_default_label_list_is_empty(evaluate_resource: Evaluate, config: dict[str, Any]) -> None:
    assert evaluate_resource(resource(), config) == []


def test_disabled_rule_does_not_fire(evaluate_resource: Evaluate) -> None:
    config = {"requiredLabels": {"enabled": False, "labels": ["owner"]}}
    assert evaluate_resource(resource(), config) == []


def test_explicitly_enabled_rule_fires(evaluate_resource: Evaluate) -> None:
    config = {"requiredLabels": {"enabled": True, "labels": ["owner"]}}
    [finding] = evaluate_resource(resource(), config)
    assert finding["missing"] == ["owner"]


def test_health_checks_are_skipped(evaluate_resource: Evaluate) -> None:
    check = resource("HealthCheck", "web-up", spec={"http": {"url": "http://localhost/"}})
    assert evaluate_resource(check, REQUIRE) == []


@pytest.mark.parametrize(
    ("kind", "api_version"),
    [
        ("Directory", "local.gitcops.io/v1"),
        ("Symlink", "local.gitcops.io/v1"),
        ("ConfigMap", "v1"),
    ],
)
def test_every_other_kind_is_checked(
    evaluate_resource: Evaluate, kind: str, api_version: str
) -> None:
    doc = resource(kind, "thing", api_version=api_version, spec={"path": "x", "target": "y"})
    [finding] = evaluate_resource(doc, {"requiredLabels": {"labels": ["owner"]}})
    assert finding["rule"] == "required_labels"
    assert finding["msg"].startswith(f"{doc['gitcops']['id']} is missing required label(s): owner;")


def test_duplicate_required_labels_are_reported_once(evaluate_resource: Evaluate) -> None:
    config = {"requiredLabels": {"labels": ["owner", "owner", "app"]}}
    [finding] = evaluate_resource(resource(), config)
    assert finding["missing"] == ["app", "owner"]


def test_without_gitcops_context_names_kind_and_name(evaluate_resource: Evaluate) -> None:
    """Documents written for plain conftest (no `gitcops` key) still get a usable message."""
    [finding] = evaluate_resource(
        resource(context=False), {"requiredLabels": {"labels": ["owner"]}}
    )
    assert finding["msg"].startswith("File/motd is missing required label(s): owner;")


def test_label_names_with_quotes_stay_intact(evaluate_resource: Evaluate) -> None:
    """The message is built with concat (rego-cpp quotes concat results inside sprintf)."""
    config = {"requiredLabels": {"labels": ['team"x', "app.kubernetes.io/name"]}}
    [finding] = evaluate_resource(resource(), config)
    assert finding["missing"] == ["app.kubernetes.io/name", 'team"x']
    assert 'label(s): app.kubernetes.io/name, team"x;' in finding["msg"]


def test_non_ascii_label_names_are_reported(evaluate_resource: Evaluate) -> None:
    """Only membership is asserted: rego-cpp orders non-ASCII strings from data unlike OPA."""
    [finding] = evaluate_resource(resource(), {"requiredLabels": {"labels": ["äpp", "owner"]}})
    assert set(finding["missing"]) == {"äpp", "owner"}
    assert "äpp" in finding["msg"]
