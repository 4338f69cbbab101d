"""Table-driven planner tests: every file in cases/ is one "given this, expect this plan" case."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from gitcops.model.identity import ResourceId
from gitcops.plan.model import ChangeAction, PlannedChange
from gitcops.plan.planner import Desired, plan_changes

from .cases_loader import CaseError, PlannerCase, case_paths, load_case

CASE_PATHS = case_paths()


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def _describe(changes: list[PlannedChange]) -> list[tuple[str, str]]:
    return [(c.action.value, str(c.id)) for c in changes]


def test_there_are_enough_cases() -> None:
    assert len(CASE_PATHS) >= 14


@pytest.mark.parametrize("path", CASE_PATHS, ids=[p.stem for p in CASE_PATHS])
def test_planner_case(path: Path) -> None:
    case = load_case(path)
    changes = plan_changes(case.desired, case.live, case.applied)

    expected_order = [(e.action, str(e.id)) for e in case.expect]
    assert _describe(changes) == expected_order, case.description

    desired_by_id = {d.id: d for d in case.desired}
    for change, want in zip(changes, case.expect, strict=True):
        label = f"{case.name}: {change.id}"
        if want.reason is not None:
            assert change.reason == want.reason, label
        if want.reason_contains is not None:
            assert want.reason_contains in change.reason, label
        assert change.forget_only is want.forget_only, label
        assert (change.drift.value if change.drift else None) == want.drift, label
        shown = [{k: d.as_json()[k] for k in ("op", "path", "old", "new")} for d in change.diff]
        # Compared as JSON text, so true and 1 (or 1 and 1.0) are told apart.
        assert _json(shown) == _json(want.diff or []), label
        _check_invariants(case, change, desired_by_id)


def _check_invariants(
    case: PlannerCase, change: PlannedChange, desired_by_id: dict[ResourceId, Desired]
) -> None:
    """What every change must carry, whatever the case: before/after/edges/apiVersion."""
    if change.action is ChangeAction.DELETE:
        old = case.applied[change.id]
        assert change.after is None
        assert change.before == case.live.get(change.id)
        assert change.depends_on == old.depends_on
        assert change.api_version == old.api_version
        return
    want = desired_by_id[change.id]
    assert change.after == want.spec
    assert change.depends_on == want.depends_on
    assert change.api_version == want.api_version
    if change.action in (ChangeAction.CREATE, ChangeAction.CHECK):
        assert change.before is None
    elif change.drift is None or change.action is not ChangeAction.NOOP:
        assert change.before == case.live.get(change.id)
    # A create has nothing live to keep: only changes of existing objects keep ignored fields.
    assert change.ignored == (want.ignored if change.before is not None else ())


@pytest.mark.parametrize("path", CASE_PATHS, ids=[p.stem for p in CASE_PATHS])
def test_planner_is_pure_and_deterministic(path: Path) -> None:
    case = load_case(path)
    snapshot = copy.deepcopy((case.desired, case.live, case.applied))
    first = plan_changes(case.desired, case.live, case.applied)
    second = plan_changes(case.desired, case.live, case.applied)
    assert first == second
    assert (case.desired, case.live, case.applied) == snapshot


def test_loader_rejects_unknown_keys(tmp_path: Path) -> None:
    bad = tmp_path / "typo.yaml"
    bad.write_text(
        "desired: []\nlive: {}\napplied: []\n"
        "expect:\n  - {action: create, id: local.gitcops.io/File/x, forget_only: true}\n"
    )
    with pytest.raises(CaseError, match="unknown keys"):
        load_case(bad)


def test_loader_requires_a_diff_for_updates(tmp_path: Path) -> None:
    bad = tmp_path / "nodiff.yaml"
    bad.write_text(
        "desired: []\nlive: {}\napplied: []\n"
        "expect:\n  - {action: update, id: local.gitcops.io/File/x}\n"
    )
    with pytest.raises(CaseError, match="diff"):
        load_case(bad)


def test_loader_computes_spec_hash_unless_overridden() -> None:
    case = load_case(next(p for p in CASE_PATHS if p.stem.startswith("06_")))
    (entry,) = case.applied.values()
    assert entry.spec_hash == "0" * 64
    case = load_case(next(p for p in CASE_PATHS if p.stem.startswith("02_")))
    (entry,) = case.applied.values()
    assert len(entry.spec_hash) == 64 and entry.spec_hash != "0" * 64


def test_dependency_cycle_is_rejected() -> None:
    a = ResourceId("local.gitcops.io", "File", "a")
    b = ResourceId("local.gitcops.io", "File", "b")
    desired = [
        Desired(a, "local.gitcops.io/v1", {"path": "a"}, depends_on=(b,)),
        Desired(b, "local.gitcops.io/v1", {"path": "b"}, depends_on=(a,)),
    ]
    with pytest.raises(ValueError, match="cycle"):
        plan_changes(desired, {}, {})
