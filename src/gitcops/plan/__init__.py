"""Desired + live + last applied -> a Plan: ordered changes, each with a field-level diff."""
