"""The workflows the CLI, API and agent share: plan, apply, drift, rollback, status."""
