"""Evaluate the built-in Rego library with the real regopy (rego-cpp), as the engine does.

rego-cpp notes that shape these helpers: there is no `with input as`, so every evaluation
gets a fresh Interpreter with `set_input`; the config goes in as data.gitcops.config via
`add_data`; an Output is never turned into a string (str() on an error Output can crash), and
an evaluation error shows either as `ok()` false or as an Output whose text is not JSON (its
constructor then raises JSONDecodeError).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import regopy

from gitcops.validate.policy.builtin import builtin_policies


def query_deny(
    namespace: str,
    document: Mapping[str, Any],
    config: Mapping[str, Any] | None = None,
    modules: list[tuple[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """The `deny` set of `namespace` for one input, sorted by rule then message."""
    rego = regopy.Interpreter()
    rego.strict_built_in_errors = True  # a builtin type error fails the test, not undefined
    for path, text in builtin_policies() if modules is None else modules:
        rego.add_module(path, text)
    if config is not None:
        rego.add_data({"gitcops": {"config": dict(config)}})
    rego.set_input(dict(document))
    try:
        output = rego.query(f"data.{namespace}.deny")
    except json.JSONDecodeError as exc:  # rego-cpp reported an evaluation error
        raise AssertionError(f"evaluating data.{namespace}.deny failed") from exc
    assert output.ok(), f"evaluating data.{namespace}.deny failed"
    assert len(output.results) == 1 and output.results[0].expressions, "deny is undefined"
    findings = output.results[0].expressions[0]
    assert isinstance(findings, list)
    return sorted(findings, key=lambda f: (f["rule"], f["msg"]))


def resource(
    kind: str = "File",
    name: str = "motd",
    *,
    api_version: str = "local.gitcops.io/v1",
    labels: Mapping[str, Any] | None = None,
    spec: Mapping[str, Any] | None = None,
    context: bool = True,
) -> dict[str, Any]:
    """A rendered document as resource policies see it (docs/policy.md)."""
    doc: dict[str, Any] = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "labels": dict(labels or {}), "annotations": {}},
        "spec": dict(spec if spec is not None else {"path": "etc/motd", "content": "hello\n"}),
    }
    if context:
        doc["gitcops"] = {
            "project": "shop",
            "environment": "dev",
            "provider": "local",
            "id": f"{api_version.split('/')[0]}/{kind}/{name}",
            "file": "base/site.yaml",
            "document": 2,
        }
    return doc


def plan(
    resources: int | None,
    deletes: int = 0,
    *,
    others: Mapping[str, int] | None = None,
    environment: str = "prod",
) -> dict[str, Any]:
    """A Plan input (docs/policy.md) with `deletes` deletions and `others` other actions."""
    changes: list[dict[str, Any]] = []
    counts = {"delete": deletes, **(others or {})}
    for action, n in counts.items():
        for i in range(n):
            name = f"{action}-{i:03d}"
            changes.append(
                {
                    "action": action,
                    "id": f"local.gitcops.io/File/{name}",
                    "apiVersion": "local.gitcops.io/v1",
                    "kind": "File",
                    "name": name,
                    "namespace": None,
                    "before": None if action == "create" else {"path": name},
                    "after": None if action == "delete" else {"path": name},
                    "diff": [],
                    "reason": "",
                }
            )
    doc: dict[str, Any] = {
        "kind": "Plan",
        "project": "shop",
        "environment": environment,
        "revision": "0" * 40,
        "author": "Ada <ada@example.com>",
        "summary": {k: counts.get(k, 0) for k in ("create", "update", "delete", "noop", "check")},
        "changes": changes,
    }
    if resources is not None:
        doc["inventory"] = {"resources": resources}
    return doc
