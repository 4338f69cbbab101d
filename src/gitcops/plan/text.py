"""The human form of a plan, in the shape Terraform users read: `+ ~ -`, then a summary line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from gitcops.model.sensitive import CHANGED, MARKER, is_token
from gitcops.plan.diff import DiffOp
from gitcops.plan.model import ChangeAction, Plan, PlannedChange

_MAX_VALUE = 120
_SYMBOL = {
    ChangeAction.CREATE: "+",
    ChangeAction.REPLACE: "-/+",
    ChangeAction.ADOPT: "&",
    ChangeAction.UPDATE: "~",
    ChangeAction.DELETE: "-",
    ChangeAction.CHECK: "?",
    ChangeAction.NOOP: " ",
}
_COLOUR = {"+": "32", "-/+": "31", "&": "35", "~": "33", "-": "31", "?": "36", " ": "0"}
_VERB = {
    ChangeAction.CREATE: "will be created",
    ChangeAction.REPLACE: "will be replaced: deleted, then created again",
    ChangeAction.ADOPT: "will be adopted: gitcops takes over an existing object",
    ChangeAction.UPDATE: "will be updated in place",
    ChangeAction.DELETE: "will be deleted",
    ChangeAction.CHECK: "will be checked after its dependencies",
}


def _masked(value: Any) -> Any:
    if is_token(value):
        return MARKER
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


# Built once: a plan of 1,000 new files shows 3,000 values (json.dumps with options builds an
# encoder per call).
_SHOW = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


def show_value(value: Any) -> str:
    if is_token(value):
        return MARKER
    text = _SHOW.encode(value if isinstance(value, str) else _masked(value))
    if len(text) > _MAX_VALUE:
        size = len(value.encode()) if isinstance(value, str) else len(text)
        text = f"{text[: _MAX_VALUE - 20]}… ({size} bytes)"
    return text


def _paint(symbol: str, text: str, colour: bool) -> str:
    return f"\x1b[{_COLOUR[symbol]}m{text}\x1b[0m" if colour and symbol != " " else text


def _fields(change: PlannedChange) -> Iterator[tuple[str, str]]:
    if change.action in (ChangeAction.UPDATE, ChangeAction.ADOPT, ChangeAction.REPLACE):
        for item in change.public_diff():
            if item.op is DiffOp.CHANGE and (is_token(item.old) or is_token(item.new)):
                yield "~", f"{item.field}: {CHANGED}"
            elif item.op is DiffOp.ADD:
                yield "+", f"{item.field}: {show_value(item.new)}"
            elif item.op is DiffOp.REMOVE:
                yield "-", f"{item.field}: {show_value(item.old)}"
            else:
                yield "~", f"{item.field}: {show_value(item.old)} -> {show_value(item.new)}"
        return
    body = change.public_after if change.action is not ChangeAction.DELETE else change.public_before
    symbol = _SYMBOL[change.action]
    for key in sorted(body or {}):
        yield symbol, f"{key}: {show_value((body or {})[key])}"


def render_plan(plan: Plan, *, colour: bool = False, show_fields: bool = True) -> Iterator[str]:
    where = f"{plan.project}/{plan.environment}"
    rev = "uncommitted work tree" if plan.revision == "worktree" else plan.revision[:12]
    if plan.requested_revision not in (plan.revision, "worktree"):
        rev += f" ({plan.requested_revision})"
    visible = [c for c in plan.changes if c.action is not ChangeAction.NOOP]
    summary = plan.summary
    if not plan.has_changes:
        checks = f", {summary.check} health checks to run" if summary.check else ""
        yield (f"No changes. {where} matches {rev}: {summary.noop} resources up to date{checks}.")
        return
    yield f"gitcops will perform the following actions on {where} at {rev}:"
    yield ""
    for change in visible:
        symbol = _SYMBOL[change.action]
        reason = f" ({change.reason})" if change.reason else ""
        yield f"  # {change.id} {_VERB[change.action]}{reason}"
        yield _paint(symbol, f"  {symbol} {change.id}", colour)
        if show_fields and not change.forget_only:
            for field_symbol, line in _fields(change):
                yield _paint(field_symbol, f"      {field_symbol} {line}", colour)
        yield ""
    adopt = f"{summary.adopt} to adopt, " if summary.adopt else ""
    replace = f"{summary.replace} to replace, " if summary.replace else ""
    yield (
        f"Plan: {summary.create} to create, {replace}{adopt}{summary.update} to update, "
        f"{summary.delete} to delete, {summary.noop} unchanged, {summary.check} checks."
    )
