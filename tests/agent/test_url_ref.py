"""urlRef: a notification URL kept in a SOPS file (encrypted for age with the real
`gitcops secrets encrypt`), read from a Git revision, decrypted in memory, and used; every
urlRef that cannot be resolved is a diagnostic at its field, and none repeats a value."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from gitcops.agent.notify import (
    DeliveryCounts,
    DeliverySettings,
    NotificationEvent,
    Notifier,
    url_resolver,
)
from gitcops.engine.runtime import Runtime
from gitcops.engine.workspace import project_of, tree_at
from gitcops.model.errors import InvalidInputError
from gitcops.model.project import EventKind, Project
from gitcops.source.tree import SourceTree
from gitcops.state.records import AuditHead

from .conftest import HookServer

GITCOPS = str(Path(sys.executable).with_name("gitcops"))
TOKEN = "xoxb-T0KEN-9f8e7d6c5b4a"
FAST = DeliverySettings(base_delay=0.01, timeout=10.0)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def _project_yaml(notifications: list[dict[str, object]]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "gitcops.io/v1",
            "kind": "Project",
            "metadata": {"name": "shop"},
            "spec": {
                "environments": [{"name": "dev", "path": "environments/dev"}],
                "providers": {"local": {"root": "out"}},
                "notifications": notifications,
            },
        }
    )


class Repo:
    def __init__(self, path: Path, recipient: str) -> None:
        self.path = path
        self.recipient = recipient
        path.mkdir()
        _git(path, "init", "--quiet", "--initial-branch=main")
        _git(path, "config", "user.name", "Tester")
        _git(path, "config", "user.email", "tester@example.com")

    def write(self, rel: str, text: str) -> Path:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        return target

    def encrypt(self, rel: str, values: dict[str, object]) -> None:
        target = self.write(rel, yaml.safe_dump(values))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITCOPS_", "SOPS_"))}
        argv = [GITCOPS, "secrets", "encrypt", str(target), "--age", self.recipient]
        subprocess.run(argv, check=True, capture_output=True, env=env)

    def commit(self) -> None:
        _git(self.path, "add", "--all")
        _git(self.path, "commit", "--quiet", "-m", "change")


@pytest.fixture
def keys(tmp_path: Path) -> tuple[dict[str, str], str]:
    """The environment url_resolver reads identities from (SOPS_AGE_KEY_FILE only), and the
    key's recipient."""
    from pyrage import x25519

    identity = x25519.Identity.generate()
    key_file = tmp_path / "keys" / "age.txt"
    key_file.parent.mkdir()
    key_file.write_text(f"# test key\n{identity}\n")
    env = {"SOPS_AGE_KEY_FILE": str(key_file), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    return env, str(identity.to_public())


@pytest.fixture
def repo(tmp_path: Path, keys: tuple[dict[str, str], str]) -> Repo:
    r = Repo(tmp_path / "repo", keys[1])
    r.write("environments/dev/kustomization.yaml", "resources: []\n")
    return r


ReadHead = Callable[[], tuple[SourceTree, Project]]


@pytest.fixture
def head(repo: Repo) -> Iterator[ReadHead]:
    """Commit, then read the tree and Project of HEAD, as the agent does."""
    with Runtime(caching=False) as rt:

        def read() -> tuple[SourceTree, Project]:
            repo.commit()
            _, tree = tree_at(rt.source(str(repo.path)), None)
            return tree, project_of(rt, tree)

        yield read


def _event() -> NotificationEvent:
    return NotificationEvent(
        EventKind.FAILED, "shop", "dev", None, 3, "run 3 failed", AuditHead(9, "c" * 64)
    )


def test_a_url_from_a_sops_file_is_used(
    repo: Repo, keys: tuple[dict[str, str], str], hooks: HookServer, head: ReadHead
) -> None:
    url = hooks.respond(f"/services/{TOKEN}")
    repo.encrypt("secrets/hooks.sops.yaml", {"slack": url, "other": "x"})
    ref = {"file": "secrets/hooks.sops.yaml", "key": "slack"}
    repo.write(
        "gitcops.yaml",
        _project_yaml([{"type": "slack", "urlRef": ref, "events": ["failed"]}]),
    )
    tree, project = head()
    assert TOKEN.encode() not in tree.read("secrets/hooks.sops.yaml")  # encrypted in Git
    notifier = Notifier.from_project(
        project, url_resolver(tree, project, env=keys[0]), settings=FAST
    )
    assert TOKEN not in repr(notifier.sinks)
    assert notifier.notify(_event()) == 1
    assert notifier.close(60)
    [request] = hooks.wait_for(1)
    assert request.path == f"/services/{TOKEN}"
    assert "blocks" in request.json()
    assert notifier.counts() == {"slack": DeliveryCounts(delivered=1)}


def test_every_urlref_that_cannot_be_resolved_is_a_diagnostic(
    repo: Repo, keys: tuple[dict[str, str], str], head: ReadHead
) -> None:
    repo.encrypt("secrets/hooks.sops.yaml", {"slack": "https://hooks.example.com/x", "bad": TOKEN})
    repo.write("secrets/plain.yaml", f"url: https://hooks.example.com/{TOKEN}\n")
    repo.write(
        "gitcops.yaml",
        _project_yaml(
            [
                {"type": "webhook", "url": "https://hooks.example.com/ok", "events": ["failed"]},
                {
                    "type": "slack",
                    "urlRef": {"file": "secrets/hooks.sops.yaml", "key": "nope"},
                    "events": ["failed"],
                },
                {
                    "type": "slack",
                    "urlRef": {"file": "secrets/hooks.sops.yaml", "key": "bad"},
                    "events": ["failed"],
                },
                {
                    "type": "slack",
                    "urlRef": {"file": "secrets/plain.yaml", "key": "url"},
                    "events": ["failed"],
                },
                {
                    "type": "slack",
                    "urlRef": {"file": "secrets/gone.sops.yaml", "key": "x"},
                    "events": ["failed"],
                },
            ]
        ),
    )
    tree, project = head()
    with pytest.raises(InvalidInputError) as caught:
        Notifier.from_project(project, url_resolver(tree, project, env=keys[0]))
    found = [(d.file, d.document, d.path, d.message) for d in caught.value.diagnostics]
    where = ("gitcops.yaml", "document 1 (Project)")
    assert found == [
        (
            *where,
            ("spec", "notifications", 1, "urlRef"),
            "file secrets/hooks.sops.yaml has no key 'nope'",
        ),
        (
            *where,
            ("spec", "notifications", 2, "urlRef"),
            "the value at secrets/hooks.sops.yaml, key bad is not an http:// or https:// URL",
        ),
        (
            *where,
            ("spec", "notifications", 3, "urlRef"),
            "secrets/plain.yaml is not a SOPS-encrypted file; encrypt it with "
            "`gitcops secrets encrypt`",
        ),
        (
            *where,
            ("spec", "notifications", 4, "urlRef"),
            "secret file secrets/gone.sops.yaml does not exist",
        ),
    ]
    assert TOKEN not in str(caught.value)

    # Without an identity that opens the file, or without a resolver at all.
    with pytest.raises(InvalidInputError) as caught:
        Notifier.from_project(
            project, url_resolver(tree, project, env={"XDG_CONFIG_HOME": "/nonexistent"})
        )
    assert "no age identity is configured" in caught.value.diagnostics[0].message
    with pytest.raises(InvalidInputError) as caught:
        Notifier.from_project(project)
    assert {d.message for d in caught.value.diagnostics} == {"urlRef cannot be resolved here"}


def test_the_project_and_environment_key_files_are_tried(
    repo: Repo, keys: tuple[dict[str, str], str], tmp_path: Path, hooks: HookServer, head: ReadHead
) -> None:
    """The agent's identities: the environments' secrets.ageKeyFile too."""
    url = hooks.respond(f"/hook/{TOKEN}")
    repo.encrypt("secrets/hooks.sops.yaml", {"slack": url})
    key_file = keys[0]["SOPS_AGE_KEY_FILE"]
    document = yaml.safe_load(
        _project_yaml(
            [
                {
                    "type": "webhook",
                    "urlRef": {"file": "secrets/hooks.sops.yaml", "key": "slack"},
                    "events": ["failed"],
                }
            ]
        )
    )
    document["spec"]["environments"][0]["secrets"] = {"ageKeyFile": key_file}
    repo.write("gitcops.yaml", yaml.safe_dump(document))
    tree, project = head()
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    with pytest.raises(InvalidInputError):  # only another environment's key would open it
        Notifier.from_project(project, url_resolver(tree, project, environments=[], env=env))
    notifier = Notifier.from_project(
        project, url_resolver(tree, project, ["dev"], env=env), settings=FAST
    )
    notifier.notify(_event())
    assert notifier.close(60)
    assert [r.path for r in hooks.requests] == [f"/hook/{TOKEN}"]
