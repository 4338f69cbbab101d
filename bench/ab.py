"""Two gitcops builds compared on compare.py's workload, one repetition at a time.

    .venv/bin/python bench/ab.py --a OLD/.venv/bin/gitcops [--b .venv/bin/gitcops] [--reps 7]

A regression check between commits: A (the baseline) and B (default: this checkout) run the
same cases (converge, no-op apply, no-op plan, 1-changed plan) at N = 1,000 and 10,000, their
repetitions interleaved (A, B, A, B, ...) so that this VM's slow and fast phases fall on both
alike; run one after the other, a phase of a minute decides the outcome. Prints the medians and
B/A per case (Markdown on stdout).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from compare import REPO_ROOT, CaseResult, Driver, GitcopsTool, progress, run_interleaved

SIZES = (1_000, 10_000)


class _Named(GitcopsTool):
    def __init__(self, work: Path, n: int, exe: Path, name: str) -> None:
        super().__init__(work, n, exe)
        self.name = name


def _driver(root: Path, name: str, exe: Path, n: int, reps: int) -> Driver:
    work = root / f"{name}-{n}"
    work.mkdir()
    tool = _Named(work, n, exe, name)
    tool.prepare()
    return Driver(tool, n, reps, work / "logs")


def _median(result: CaseResult | None) -> float | None:
    walls = result.walls if result is not None and result.status == "ok" else []
    return statistics.median(walls) if walls else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--a", type=Path, required=True, help="the baseline gitcops executable")
    parser.add_argument("--b", type=Path, default=REPO_ROOT / ".venv" / "bin" / "gitcops")
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="gitcops-ab-"))
    rows: list[tuple[str, int, float | None, float | None]] = []
    try:
        for n in SIZES:
            progress(f"== N={n:,}")
            drivers = [
                _driver(root, "A", args.a, n, args.reps),
                _driver(root, "B", args.b, n, args.reps),
            ]
            results = run_interleaved(drivers)
            cases = dict.fromkeys(r.case for r in results)
            for case in cases:
                a = next((r for r in results if r.case == case and r.tool == "A"), None)
                b = next((r for r in results if r.case == case and r.tool == "B"), None)
                rows.append((case, n, _median(a), _median(b)))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"A: {args.a}\nB: {args.b}\n")
    print("| case | N | A median s | B median s | B/A |")
    print("|---|--:|--:|--:|--:|")
    for case, n, a_s, b_s in rows:
        ratio = f"{b_s / a_s:.2f}" if a_s and b_s else "n/a"
        a_text = f"{a_s:.3f}" if a_s is not None else "failed"
        b_text = f"{b_s:.3f}" if b_s is not None else "failed"
        print(f"| {case} | {n:,} | {a_text} | {b_text} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
