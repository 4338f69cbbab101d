"""The plaintext-secret scan of spec values, and its child process started early.

Apart from the policy check because it must be importable before anything heavy: on a first
run the scan's child is forked as soon as a command knows it will check policies, so that
detect-secrets' ~0.2 s import happens while this process opens the repository and renders.
"""

from __future__ import annotations

from gitcops.engine.findings_cache import SecretRow
from gitcops.engine.forked import ForkedWorker
from gitcops.engine.paths import cache_dir

# One spec's string values: (field path, key name or None, value).
SpecValues = list[tuple[tuple[str | int, ...], str | None, str]]
Scanner = ForkedWorker[list[SpecValues], list[list[SecretRow]]]


def scan(specs: list[SpecValues]) -> list[list[SecretRow]]:
    from gitcops.validate.secretscan import scan_each

    return scan_each(specs, cache_dir=cache_dir())


def start_early() -> Scanner | None:
    """A child loading detect-secrets now, if a scan in this cache directory would need it
    (no process saved the detectors' fixed patterns there yet); None otherwise. Whoever gets
    one either hands it requests or cancels it."""
    from gitcops.validate.secretscan import load_detectors, needs_detectors

    if not needs_detectors(cache_dir()):
        return None
    return ForkedWorker(scan, prepare=load_detectors)
