"""End-to-end regression tests for defects found in review (confinement, moves, bad input)."""
