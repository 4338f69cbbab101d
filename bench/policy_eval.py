#!/usr/bin/env python3
"""Policy engine benchmark: N File-like resources x 10 conftest-style policies.

Run from the repository root:

    .venv/bin/python bench/policy_eval.py [--n 10000] [--reps 5] [--workers 1,0]

Times `PolicyEngine(...)` (compiling the bundle) and `PolicyEngine.evaluate(...)` of every
resource against namespace `main`, in process (`--workers` value 1) and with the default
worker processes (value 0: one per CPU). The target (issue 3): 10,000 resources x 10
policies evaluated in under 2 s on the 2-vCPU reference machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from gitcops.engine.runtime import Runtime
from gitcops.validate.policy.engine import PolicyEngine, PolicyFile

POLICIES: dict[str, str] = {
    "labels.rego": """package main

import rego.v1

required_labels := {"tier", "owner"}

deny contains msg if {
	some label in required_labels
	not input.metadata.labels[label]
	msg := sprintf(
		"%s/%s: missing required label \\"%s\\"",
		[input.kind, input.metadata.name, label],
	)
}
""",
    "mode_format.rego": """package main

import rego.v1

deny contains msg if {
	input.kind == "File"
	mode := object.get(input.spec, "mode", "0644")
	not regex.match(`^0?[0-7]{3}$`, mode)
	msg := sprintf("%s: mode %s is not an octal file mode", [input.metadata.name, mode])
}
""",
    "world_writable.rego": """package main

import rego.v1

deny contains msg if {
	input.kind == "File"
	mode := object.get(input.spec, "mode", "0644")
	endswith(mode, "7")
	msg := sprintf("%s: mode %s is world-writable", [input.metadata.name, mode])
}
""",
    "paths.rego": """package main

import rego.v1

forbidden_prefixes := ["etc/shadow", "root/", "proc/", "sys/"]

deny contains msg if {
	input.kind == "File"
	some prefix in forbidden_prefixes
	startswith(input.spec.path, prefix)
	msg := sprintf("%s: path %s is under %s", [input.metadata.name, input.spec.path, prefix])
}
""",
    "owner.rego": """package main

import rego.v1

violation contains {"msg": msg, "owner": owner, "severity": "high"} if {
	owner := input.metadata.labels.owner
	not startswith(owner, "team-")
	msg := sprintf("%s: owner %s is not a team (team-...)", [input.metadata.name, owner])
}
""",
    "todo.rego": """package main

import rego.v1

warn contains msg if {
	input.kind == "File"
	contains(input.spec.content, "TODO")
	msg := sprintf("%s: content contains TODO", [input.metadata.name])
}
""",
    "size.rego": """package main

import rego.v1

warn contains msg if {
	count(input.spec.content) > 4096
	msg := sprintf("%s: content is %d bytes", [input.metadata.name, count(input.spec.content)])
}
""",
    "names.rego": """package main

import rego.v1

deny contains msg if {
	not regex.match(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`, input.metadata.name)
	msg := sprintf("invalid name %s", [input.metadata.name])
}
""",
    "prod_tier.rego": """package main

import rego.v1

deny contains msg if {
	input.gitcops.environment == "prod"
	input.metadata.labels.tier == "debug"
	msg := sprintf("%s: tier debug is not allowed in prod", [input.metadata.name])
}
""",
    "description.rego": """package main

import rego.v1

warn contains msg if {
	not input.metadata.annotations.description
	msg := sprintf("%s: no description annotation", [input.metadata.name])
}
""",
}


def documents(n: int) -> list[dict[str, Any]]:
    """N File documents as the engine passes them (with the gitcops context key)."""
    docs = []
    for i in range(n):
        name = f"file-{i:05d}"
        labels = {"tier": "debug" if i % 50 == 0 else "web"}
        if i % 7:
            labels["owner"] = "team-a" if i % 11 else "alice"
        content = f"line {i}\n" * (3 if i % 97 else 700)
        if i % 13 == 0:
            content += "TODO: tidy up\n"
        docs.append(
            {
                "apiVersion": "local.gitcops.io/v1",
                "kind": "File",
                "metadata": {
                    "name": name if i % 101 else name.upper(),
                    "labels": labels,
                    "annotations": {} if i % 2 else {"description": "a file"},
                },
                "spec": {
                    "path": f"srv/app/d{i // 100:03d}/{name}.conf",
                    "content": content,
                    "mode": "0644" if i % 19 else "0777",
                },
                "gitcops": {
                    "project": "shop",
                    "environment": "prod",
                    "provider": "local",
                    "id": f"local.gitcops.io/File/{name}",
                    "file": "base/files.yaml",
                    "document": i + 1,
                },
            }
        )
    return docs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="number of resources")
    parser.add_argument("--reps", type=int, default=5, help="repetitions per setting")
    parser.add_argument(
        "--workers",
        default="1,0",
        help="comma-separated process counts to try; 0 = default (one per CPU)",
    )
    args = parser.parse_args()

    files = [PolicyFile(f"policies/{name}", text) for name, text in POLICIES.items()]
    docs = documents(args.n)
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    start = time.perf_counter()
    engine = PolicyEngine(files)
    compile_s = time.perf_counter() - start
    print(f"compile {len(files)} policies into a bundle: {compile_s * 1000:.1f} ms")

    reference = None
    runtime = Runtime(caching=False)  # decides the worker count, as in a real run
    for setting in args.workers.split(","):
        workers = int(setting)
        how = workers if workers else runtime.policy_workers
        times = []
        for _ in range(args.reps):
            start = time.perf_counter()
            findings = engine.evaluate(docs, ["main"], workers=how)
            times.append(time.perf_counter() - start)
        summary = [(f.position, f.rule, f.message, f.policy_file) for f in findings]
        if reference is None:
            reference = summary
        same = "same findings" if summary == reference else "FINDINGS DIFFER"
        label = (
            f"{workers} process"
            if workers == 1
            else ("default processes" if not workers else f"{workers} processes")
        )
        print(
            f"evaluate {args.n} resources x {len(files)} policies, {label}: "
            f"median {statistics.median(times):.3f} s, min {min(times):.3f} s "
            f"({statistics.median(times) / args.n * 1e6:.0f} us/resource); "
            f"{len(findings)} findings, {same}"
        )
    runtime.close()
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    best = min(times)
    verdict = "PASS" if statistics.median(times) < 2.0 else "FAIL"
    print(
        f"target: {args.n} x {len(files)} in < 2 s (default processes): {verdict} "
        f"(median {statistics.median(times):.3f} s, min {best:.3f} s)"
    )


if __name__ == "__main__":
    main()
