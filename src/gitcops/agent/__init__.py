"""The agent: pull-based reconcile loops, drift governed by mode, rollback that holds,
notifications. It calls the same engine functions as the CLI."""
