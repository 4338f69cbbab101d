"""The risk of a plan: a score from 0 to 100 and the reasons that make it up.

A sum of capped factors, each documented in docs/risk.md, so a reviewer can redo it by hand:

    environment    up to 20  its place in the promotion order (the last: 20, the first: 0)
    deletions      8 each, up to 24
    replacements   12 each, up to 24 (delete then create: the object's data goes)
    data           10        a change (not a creation) touches a kind that holds data
    blast radius   3 per dependent of the most depended-on changed resource, up to 15
    size           0 for up to 5 changes, 5 up to 50, 10 beyond
    configuration  15        policies or approval, promotion or signing rules changed
    failures       up to 15  the worst recent failure rate among the touched resources
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

from gitcops.model.identity import ResourceId
from gitcops.plan.model import ChangeAction, Plan

MAX_SCORE = 100


class RiskFactor(NamedTuple):
    name: str
    points: int
    why: str

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "points": self.points, "why": self.why}


class Risk(NamedTuple):
    score: int
    factors: tuple[RiskFactor, ...]  # those that add points, largest first

    def as_json(self) -> dict[str, Any]:
        return {"score": self.score, "factors": [f.as_json() for f in self.factors]}


class RiskContext(NamedTuple):
    """What the plan alone does not say: supplied by the engine."""

    position: int = 0  # the environment's index in the promotion order
    environments: int = 1
    dependents: Mapping[ResourceId, int] = {}  # transitive dependents in the resource graph
    failure_rates: Mapping[ResourceId, float] = {}  # failed / tried in recent runs
    data_kinds: Collection[tuple[str, str]] = frozenset()  # (group, kind) holding data
    configuration: tuple[str, ...] = ()  # what changed: "policies", "approvals", ...


def _capped(points: int, cap: int) -> int:
    return max(0, min(points, cap))


def assess(plan: Plan, ctx: RiskContext) -> Risk:
    changes = [c for c in plan.changes if c.is_change]
    factors: list[RiskFactor] = []

    def add(name: str, points: int, why: str) -> None:
        if points > 0:
            factors.append(RiskFactor(name, points, why))

    if ctx.environments > 1:
        place = round(20 * ctx.position / (ctx.environments - 1))
        add(
            "environment",
            place,
            f"{plan.environment} is environment {ctx.position + 1} of {ctx.environments} "
            "in the promotion order",
        )
    deletes = [c for c in changes if c.action is ChangeAction.DELETE and not c.forget_only]
    add("deletions", _capped(8 * len(deletes), 24), f"{len(deletes)} object(s) deleted")
    replaces = [c for c in changes if c.action is ChangeAction.REPLACE]
    add(
        "replacements",
        _capped(12 * len(replaces), 24),
        f"{len(replaces)} object(s) deleted and created again",
    )
    touched = [
        c
        for c in changes
        if c.action is not ChangeAction.CREATE and (c.id.group, c.id.kind) in ctx.data_kinds
    ]
    if touched:
        kinds = sorted({c.id.kind for c in touched})
        add("data", 10, f"changes objects that hold data ({', '.join(kinds)})")
    widest = max(changes, key=lambda c: ctx.dependents.get(c.id, 0), default=None)
    if widest is not None and ctx.dependents.get(widest.id, 0):
        count = ctx.dependents[widest.id]
        add("blast radius", _capped(3 * count, 15), f"{count} resource(s) depend on {widest.id}")
    size = 0 if len(changes) <= 5 else 5 if len(changes) <= 50 else 10
    add("size", size, f"{len(changes)} changes")
    if ctx.configuration:
        add("configuration", 15, f"changes {', '.join(ctx.configuration)}")
    rated = [(ctx.failure_rates.get(c.id, 0.0), c.id) for c in changes]
    worst = max(rated, default=(0.0, None))
    if worst[1] is not None and worst[0] > 0:
        add(
            "failures",
            round(15 * min(worst[0], 1.0)),
            f"{worst[1]} failed in {worst[0]:.0%} of its recent runs",
        )
    factors.sort(key=lambda f: -f.points)
    return Risk(min(MAX_SCORE, sum(f.points for f in factors)), tuple(factors))
