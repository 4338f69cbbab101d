"""spec.notifications through the real CLI: `validate` reports every problem of it with its
path, never repeating a refused URL; a good configuration changes nothing else."""

from __future__ import annotations

import yaml
from conftest import Cli, Repo

TOKEN = "xoxb-9f8e7d6c5b4a3"


def _with_notifications(repo: Repo, notifications: list[dict[str, object]]) -> None:
    document = yaml.safe_load((repo.path / "gitcops.yaml").read_text())
    document["spec"]["notifications"] = notifications
    repo.write("gitcops.yaml", yaml.safe_dump(document))
    repo.commit("notifications")


def test_validate_reports_every_notification_problem(cli: Cli, repo: Repo) -> None:
    _with_notifications(
        repo,
        [
            {
                "type": "slack",
                "url": f"https://hooks.slack.com/services/T0/B0/{TOKEN}",
                "events": ["failed"],
            },
            {
                "type": "webhook",
                "url": "https://events.example.com/x",
                "events": ["failed"],
                "environments": ["qa"],
            },
            {
                "type": "webhook",
                "url": f"https://events.example.com/x?access_token={TOKEN}",
                "events": ["applied"],
            },
        ],
    )
    result = cli("validate", repo=repo.path, expect=1)
    prefix = "gitcops.yaml: document 1 (Project): field spec.notifications"
    assert (
        f"{prefix}[0].url: a webhook URL of hooks.slack.com is itself a credential" in result.stderr
    )
    assert (
        f"{prefix}[1].environments[0]: environment 'qa' is not in gitcops.yaml (dev, prod)"
        in result.stderr
    )
    assert f"{prefix}[2].url: its query has a parameter named like a credential" in result.stderr
    assert "3 problems found" in result.stderr
    assert TOKEN not in result.output


def test_a_good_configuration_validates_and_applies(cli: Cli, repo: Repo) -> None:
    _with_notifications(
        repo,
        [
            {
                "type": "slack",
                "urlRef": {"file": "secrets/hooks.sops.yaml", "key": "slack"},
                "events": ["failed", "driftDetected"],
            },
            {
                "type": "webhook",
                "url": "https://events.example.com/gitcops",
                "events": ["applied"],
                "environments": ["prod"],
            },
        ],
    )
    cli("validate", repo=repo.path)
    cli("apply", "--env", "dev", "--yes", repo=repo.path)  # the CLI sends nothing
