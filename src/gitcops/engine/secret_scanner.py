"""The plaintext-secret scan of spec values, and its child process started early.

Apart from the policy check because it must be importable before anything heavy: on a first
run the scan's child is forked as soon as a command knows it will check policies, so that
detect-secrets' ~0.2 s import happens while this process opens the repository and renders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitcops.engine.findings_cache import SecretRow
from gitcops.engine.forked import ForkedWorker

if TYPE_CHECKING:
    from gitcops.engine.runtime import Runtime

# One spec's string values: (field path, key name or None, value).
SpecValues = list[tuple[tuple[str | int, ...], str | None, str]]
Scanner = ForkedWorker[list[SpecValues], list[list[SecretRow]]]


def scan(rt: Runtime, specs: list[SpecValues]) -> list[list[SecretRow]]:
    return rt.scanner.scan_each(specs)


def start_early(rt: Runtime) -> Scanner | None:
    """A child loading detect-secrets now, if a scan would need it (no process saved the
    detectors' fixed patterns in this cache yet) and forking is safe; None otherwise.
    Whoever gets one either hands it requests or cancels it."""
    scanner = rt.scanner
    if not scanner.needs_detectors():
        return None
    return rt.fork_worker(scanner.scan_each, prepare=scanner.load_detectors)
