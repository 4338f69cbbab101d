"""Built-in rule blast_radius: a plan may not delete too much of an environment at once."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Evaluate
from .support import plan


def test_above_the_default_limit_denies_with_counts(evaluate_plan: Evaluate) -> None:
    findings = evaluate_plan(plan(10, 6))
    assert findings == [
        {
            "msg": 'plan deletes 6 of 10 managed resources in environment "prod" (60%), more than '
            "policy.builtin.blastRadius.maxDeleteShare 0.5 allows (at most 5 of 10); check that "
            "the deletions are intended, then raise the limit or add an exception for "
            "builtin.blast_radius",
            "rule": "blast_radius",
            "deletes": 6,
            "resources": 10,
            "maxDeleteShare": 0.5,
            "deleted": [f"local.gitcops.io/File/delete-{i:03d}" for i in range(6)],
        }
    ]


def test_exactly_at_the_default_limit_passes(evaluate_plan: Evaluate) -> None:
    assert evaluate_plan(plan(10, 5)) == []
    assert evaluate_plan(plan(40, 20)) == []


def test_just_above_the_limit_denies(evaluate_plan: Evaluate) -> None:
    [finding] = evaluate_plan(plan(40, 21))
    assert "deletes 21 of 40 " in finding["msg"]
    assert "(52.5%)" in finding["msg"]
    assert "(at most 20 of 40)" in finding["msg"]


@pytest.mark.parametrize(("resources", "deletes"), [(9, 9), (1, 1), (0, 0), (5, 3)])
def test_small_environments_are_ignored_by_default(
    evaluate_plan: Evaluate, resources: int, deletes: int
) -> None:
    assert evaluate_plan(plan(resources, deletes)) == []


def test_environment_of_exactly_min_resources_is_checked(evaluate_plan: Evaluate) -> None:
    [finding] = evaluate_plan(plan(10, 10))
    assert finding["deletes"] == 10 and finding["resources"] == 10


def test_min_resources_is_configurable(evaluate_plan: Evaluate) -> None:
    lower = {"blastRadius": {"minResources": 0}}
    [finding] = evaluate_plan(plan(1, 1), lower)
    assert "deletes 1 of 1 managed resources" in finding["msg"]
    higher = {"blastRadius": {"minResources": 20}}
    assert evaluate_plan(plan(19, 19), higher) == []
    assert [f["resources"] for f in evaluate_plan(plan(20, 11), higher)] == [20]


def test_empty_environment_never_divides_by_zero(evaluate_plan: Evaluate) -> None:
    assert evaluate_plan(plan(0, 0), {"blastRadius": {"minResources": 0}}) == []


@pytest.mark.parametrize(
    ("share", "resources", "allowed"),
    [(0.2, 10, 2), (0.57, 100, 57), (0.1, 30, 3), (0.3, 10, 3), (0.7, 10, 7), (1 / 3, 12, 4)],
)
def test_max_delete_share_limit_is_exact(
    evaluate_plan: Evaluate, share: float, resources: int, allowed: int
) -> None:
    """At the limit passes, one more denies; no floating-point slack (0.57 * 100 < 57)."""
    config = {"blastRadius": {"maxDeleteShare": share}}
    assert evaluate_plan(plan(resources, allowed), config) == []
    [finding] = evaluate_plan(plan(resources, allowed + 1), config)
    assert f"(at most {allowed} of {resources})" in finding["msg"]
    assert finding["maxDeleteShare"] == share


def test_zero_share_denies_any_deletion(evaluate_plan: Evaluate) -> None:
    config = {"blastRadius": {"maxDeleteShare": 0}}
    assert evaluate_plan(plan(10, 0, others={"update": 10}), config) == []
    [finding] = evaluate_plan(plan(10, 1), config)
    assert "(at most 0 of 10)" in finding["msg"]


def test_full_share_never_denies(evaluate_plan: Evaluate) -> None:
    assert evaluate_plan(plan(10, 10), {"blastRadius": {"maxDeleteShare": 1}}) == []


def test_only_deletions_count(evaluate_plan: Evaluate) -> None:
    others = {"create": 30, "update": 20, "no-op": 40, "check": 5}
    assert evaluate_plan(plan(100, 50, others=others)) == []
    [finding] = evaluate_plan(plan(100, 51, others=others))
    assert finding["deletes"] == 51
    assert all("/delete-" in change_id for change_id in finding["deleted"])


def test_other_actions_alone_never_deny(evaluate_plan: Evaluate) -> None:
    others = {"create": 50, "update": 50, "no-op": 50, "check": 50, "Delete": 50, "prune": 50}
    assert evaluate_plan(plan(10, 0, others=others)) == []


def test_disabled_rule_does_not_fire(evaluate_plan: Evaluate) -> None:
    assert evaluate_plan(plan(10, 10), {"blastRadius": {"enabled": False}}) == []


@pytest.mark.parametrize(
    "config",
    [None, {}, {"blastRadius": {}}, {"blastRadius": {"enabled": True}}, {"worldWritable": {}}],
    ids=str,
)
def test_defaults(evaluate_plan: Evaluate, config: dict[str, Any] | None) -> None:
    """Without settings: on, maxDeleteShare 0.5, minResources 10."""
    assert evaluate_plan(plan(10, 5), config) == []
    assert evaluate_plan(plan(9, 9), config) == []
    [finding] = evaluate_plan(plan(10, 6), config)
    assert finding["maxDeleteShare"] == 0.5


@pytest.mark.parametrize(
    "change",
    [{"inventory": None}, {"changes": None}, {"inventory": {}}, {"inventory": {"resources": "12"}}],
    ids=str,
)
def test_incomplete_plans_do_not_fire_or_crash(
    evaluate_plan: Evaluate, change: dict[str, Any]
) -> None:
    doc = plan(12, 12)
    for key, value in change.items():
        if value is None:
            del doc[key]
        else:
            doc[key] = value
    assert evaluate_plan(doc) == []


def test_message_names_the_environment(evaluate_plan: Evaluate) -> None:
    [finding] = evaluate_plan(plan(10, 7, environment="staging-eu"))
    assert 'in environment "staging-eu" (70%)' in finding["msg"]
