"""The risk score: each factor on its own, their caps, and the total's."""

from __future__ import annotations

from gitcops.model.identity import ResourceId
from gitcops.plan.model import ChangeAction, Plan, PlannedChange
from gitcops.plan.risk import RiskContext, assess

PG = "postgres.gitcops.io"


def rid(name: str, kind: str = "Role", group: str = PG) -> ResourceId:
    return ResourceId(group, kind, name)


def change(action: ChangeAction, target: ResourceId) -> PlannedChange:
    before = None if action is ChangeAction.CREATE else {"x": 1}
    after = None if action is ChangeAction.DELETE else {"x": 2}
    return PlannedChange(action, target, f"{target.group}/v1", before, after)


def plan(*changes: PlannedChange, env: str = "prod") -> Plan:
    return Plan("shop", env, "0" * 40, "HEAD", "", "", 0.0, changes, 0)


NONE = RiskContext()


def points(risk_plan: Plan, ctx: RiskContext = NONE) -> dict[str, int]:
    return {f.name: f.points for f in assess(risk_plan, ctx).factors}


def test_a_small_creation_in_the_only_environment_carries_no_risk() -> None:
    risk = assess(plan(change(ChangeAction.CREATE, rid("a"))), RiskContext())
    assert risk.score == 0 and risk.factors == ()


def test_the_environment_counts_by_its_place_in_the_promotion_order() -> None:
    one = plan(change(ChangeAction.CREATE, rid("a")))
    assert points(one, RiskContext(position=0, environments=3)) == {}
    assert points(one, RiskContext(position=1, environments=3)) == {"environment": 10}
    assert points(one, RiskContext(position=2, environments=3)) == {"environment": 20}


def test_deletions_and_replacements_are_capped() -> None:
    deletes = [change(ChangeAction.DELETE, rid(f"d{i}")) for i in range(5)]
    replaces = [change(ChangeAction.REPLACE, rid(f"r{i}")) for i in range(3)]
    assert points(plan(*deletes[:2])) == {"deletions": 16}
    assert points(plan(*deletes, *replaces)) == {"deletions": 24, "replacements": 24, "size": 5}


def test_changing_what_holds_data_counts_creating_it_does_not() -> None:
    data = RiskContext(data_kinds={(PG, "Database")})
    db = rid("shop", "Database")
    assert points(plan(change(ChangeAction.CREATE, db)), data) == {}
    assert points(plan(change(ChangeAction.UPDATE, db)), data) == {"data": 10}


def test_blast_radius_follows_the_most_depended_on_change() -> None:
    ctx = RiskContext(dependents={rid("owner"): 4, rid("leaf"): 0})
    risk = assess(plan(change(ChangeAction.UPDATE, rid("owner"))), ctx)
    assert [(f.name, f.points) for f in risk.factors] == [("blast radius", 12)]
    assert "4 resource(s) depend on postgres.gitcops.io/Role/owner" in risk.factors[0].why


def test_size_configuration_and_failures() -> None:
    many = plan(*[change(ChangeAction.CREATE, rid(f"c{i}")) for i in range(60)])
    assert points(many) == {"size": 10}
    ctx = RiskContext(configuration=("approval rules",), failure_rates={rid("c1"): 0.5})
    risk = assess(many, ctx)
    assert {f.name: f.points for f in risk.factors} == {
        "size": 10,
        "configuration": 15,
        "failures": 8,
    }
    assert "changes approval rules" in [f.why for f in risk.factors]


def test_the_score_never_passes_100_and_factors_come_largest_first() -> None:
    everything = plan(
        *[change(ChangeAction.DELETE, rid(f"d{i}", "Database")) for i in range(4)],
        *[change(ChangeAction.REPLACE, rid(f"r{i}", "Database")) for i in range(4)],
        *[change(ChangeAction.UPDATE, rid(f"u{i}")) for i in range(60)],
    )
    ctx = RiskContext(
        position=3,
        environments=4,
        dependents={rid("u1"): 9},
        failure_rates={rid("u2"): 1.0},
        data_kinds={(PG, "Database")},
        configuration=("policies",),
    )
    risk = assess(everything, ctx)
    assert sum(f.points for f in risk.factors) == 20 + 24 + 24 + 10 + 15 + 10 + 15 + 15
    assert risk.score == 100
    assert [f.points for f in risk.factors] == sorted(
        (f.points for f in risk.factors), reverse=True
    )
