"""Load table-driven planner cases from YAML: desired + live + applied -> expected plan.

A case file holds:

    description: free text
    desired:  [{id, spec, apiVersion?, dependsOn?, stateful?, address?, prune?, drift?,
                ignored?}]
    live:     {id: spec | null}           (ids not listed read as absent)
    applied:  [{id, spec, apiVersion?, dependsOn?, address?, specHash?, prune?}]
    expect:   [{action, id, reason? | reasonContains?, forgetOnly?, diff?, drift?}]

`drift` of a desired resource is its effective drift mode (default detect); `ignored` its
ignoreDifferences pointers (/spec/...). `drift` of an expected change is the mode it carries
when drift caused it; left out, the change must carry none (it comes from Git).

`specHash` overrides the hash the loader computes from `spec` (to simulate Git having changed
since the last apply, or a pending row's empty hash). Unknown keys are errors, so a typo in a
fixture cannot silently weaken it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitcops.model.drift import DriftMode
from gitcops.model.identity import ResourceId, split_api_version
from gitcops.plan.model import spec_hash
from gitcops.plan.planner import Desired

CASES_DIR = Path(__file__).parent / "cases"

_TOP_KEYS = {"description", "desired", "live", "applied", "expect"}
_DESIRED_KEYS = {
    "id",
    "spec",
    "apiVersion",
    "dependsOn",
    "stateful",
    "address",
    "prune",
    "drift",
    "ignored",
}
_APPLIED_KEYS = {"id", "spec", "apiVersion", "dependsOn", "address", "specHash", "prune"}
_EXPECT_KEYS = {"action", "id", "reason", "reasonContains", "forgetOnly", "diff", "drift"}
_DIFF_KEYS = {"op", "path", "old", "new"}


class CaseError(ValueError):
    """The fixture file itself is malformed."""


@dataclass(frozen=True)
class AppliedRecord:
    """What the planner reads of a last-applied resource (its `Applied` interface)."""

    id: ResourceId
    api_version: str
    spec: dict[str, Any]
    spec_hash: str
    depends_on: tuple[ResourceId, ...] = ()
    address: str | None = None
    sensitive: tuple[tuple[str | int, ...], ...] = ()
    prune: bool = True
    instance: str = ""
    state: dict[str, Any] | None = None

    @property
    def provider(self) -> str:
        return self.instance or self.id.provider


@dataclass(frozen=True)
class Expected:
    action: str
    id: ResourceId
    reason: str | None
    reason_contains: str | None
    forget_only: bool
    diff: list[dict[str, Any]] | None
    drift: str | None = None


@dataclass(frozen=True)
class PlannerCase:
    name: str
    description: str
    desired: list[Desired]
    live: dict[ResourceId, dict[str, Any] | None]
    applied: dict[ResourceId, AppliedRecord]
    expect: list[Expected]


def _check_keys(where: str, data: Mapping[str, Any], allowed: set[str], required: set[str]) -> None:
    if not isinstance(data, Mapping):
        raise CaseError(f"{where}: expected a mapping, got {type(data).__name__}")
    unknown = set(data) - allowed
    if unknown:
        raise CaseError(f"{where}: unknown keys {sorted(unknown)}")
    missing = required - set(data)
    if missing:
        raise CaseError(f"{where}: missing keys {sorted(missing)}")


def _api_version(rid: ResourceId, item: Mapping[str, Any]) -> str:
    version = item.get("apiVersion", f"{rid.group}/v1")
    group, _ = split_api_version(version)
    if group != rid.group:
        raise CaseError(f"{rid}: apiVersion {version!r} does not match the id's group")
    return str(version)


def _ids(values: Any) -> tuple[ResourceId, ...]:
    return tuple(ResourceId.parse(v) for v in values or ())


def load_case(path: Path) -> PlannerCase:
    data = yaml.safe_load(path.read_text())
    _check_keys(path.name, data, _TOP_KEYS, _TOP_KEYS - {"description"})

    desired: list[Desired] = []
    for n, item in enumerate(data["desired"] or []):
        _check_keys(f"{path.name} desired[{n}]", item, _DESIRED_KEYS, {"id", "spec"})
        rid = ResourceId.parse(item["id"])
        desired.append(
            Desired(
                id=rid,
                api_version=_api_version(rid, item),
                spec=item["spec"],
                depends_on=_ids(item.get("dependsOn")),
                stateful=bool(item.get("stateful", True)),
                address=item.get("address"),
                prune=bool(item.get("prune", True)),
                drift=DriftMode(item.get("drift", "detect")),
                ignored=tuple(item.get("ignored") or ()),
            )
        )

    applied: dict[ResourceId, AppliedRecord] = {}
    for n, item in enumerate(data["applied"] or []):
        _check_keys(f"{path.name} applied[{n}]", item, _APPLIED_KEYS, {"id", "spec"})
        rid = ResourceId.parse(item["id"])
        applied[rid] = AppliedRecord(
            id=rid,
            api_version=_api_version(rid, item),
            spec=item["spec"],
            spec_hash=str(item["specHash"]) if "specHash" in item else spec_hash(item["spec"]),
            depends_on=_ids(item.get("dependsOn")),
            address=item.get("address"),
            prune=bool(item.get("prune", True)),
        )

    live = {ResourceId.parse(k): v for k, v in (data["live"] or {}).items()}

    expect: list[Expected] = []
    for n, item in enumerate(data["expect"] or []):
        where = f"{path.name} expect[{n}]"
        _check_keys(where, item, _EXPECT_KEYS, {"action", "id"})
        if "reason" in item and "reasonContains" in item:
            raise CaseError(f"{where}: give reason or reasonContains, not both")
        if item["action"] in ("update", "adopt") and "diff" not in item:
            raise CaseError(f"{where}: an {item['action']} must state its expected diff")
        for m, d in enumerate(item.get("diff") or []):
            _check_keys(f"{where} diff[{m}]", d, _DIFF_KEYS, _DIFF_KEYS)
        expect.append(
            Expected(
                action=item["action"],
                id=ResourceId.parse(item["id"]),
                reason=item.get("reason"),
                reason_contains=item.get("reasonContains"),
                forget_only=bool(item.get("forgetOnly", False)),
                diff=item.get("diff"),
                drift=item.get("drift"),
            )
        )

    return PlannerCase(
        name=path.stem,
        description=str(data.get("description", "")),
        desired=desired,
        live=live,
        applied=applied,
        expect=expect,
    )


def case_paths() -> list[Path]:
    return sorted(CASES_DIR.glob("*.yaml"))
