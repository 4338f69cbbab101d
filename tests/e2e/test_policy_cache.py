"""Resource findings are cached per document: only documents whose findings could differ are
evaluated again, and the cached findings equal a fresh evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import Repo, file_doc

from gitcops.engine import policy_check, secret_scanner
from gitcops.engine.policy_check import PolicyOptions, check_resources
from gitcops.engine.workspace import open_source, open_workspace
from gitcops.model.findings import Finding

TEAM_POLICY = """package main

import rego.v1

deny contains msg if {
    not input.metadata.labels.team
    msg := sprintf("%s has no team label", [input.metadata.name])
}
"""
OWNER_POLICY = TEAM_POLICY.replace("team", "owner")
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ3kP9vT2s"


@pytest.fixture
def evaluated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[list[str]]:
    """The names of the documents each fresh evaluation was given, in order."""
    monkeypatch.setenv("GITCOPS_CACHE_DIR", str(tmp_path / "cache"))
    calls: list[list[str]] = []
    original = policy_check._evaluate_documents

    def spy(ws: Any, options: Any, items: Any, *rest: Any) -> Any:
        calls.append([i.resource.name for i in items])
        return original(ws, options, items, *rest)

    monkeypatch.setattr(policy_check, "_evaluate_documents", spy)
    return calls


def _findings(repo: Repo, options: PolicyOptions | None = None) -> list[Finding]:
    ws = open_workspace(open_source(str(repo.path)), "dev")
    return check_resources(ws, options or PolicyOptions()).findings


def _fresh(repo: Repo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **kw: Any) -> list[Finding]:
    """The same check with an empty cache."""
    with monkeypatch.context() as m:
        m.setenv("GITCOPS_CACHE_DIR", str(tmp_path / f"fresh-{len(list(tmp_path.iterdir()))}"))
        return _findings(repo, PolicyOptions(**kw))


def _docs(n: int, *, secret_in: int | None = None, content: str = "x\n") -> list[dict[str, object]]:
    docs = []
    for i in range(n):
        extra = {"content": f"password = {AWS_SECRET}\n"} if i == secret_in else {}
        doc = file_doc(f"f{i}", f"f{i}.txt", content, labels={"team": "a"} if i % 2 else None)
        doc["spec"].update(extra)  # type: ignore[attr-defined]
        docs.append(doc)
    return docs


def test_one_changed_document_is_the_only_one_evaluated_again(
    repo: Repo, evaluated: list[list[str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    repo.write("policies/team.rego", TEAM_POLICY)
    repo.set_resources(_docs(6, secret_in=3))
    first = _findings(repo)
    assert evaluated == [[f"f{i}" for i in range(6)]]
    assert _findings(repo) == first  # same tree: the tree-level cache
    assert len(evaluated) == 1

    docs = _docs(6, secret_in=3)
    docs[4]["spec"]["content"] = "changed\n"  # type: ignore[index]
    repo.set_resources(docs)
    second = _findings(repo)
    assert evaluated[1:] == [["f4"]]
    assert second == _fresh(repo, monkeypatch, tmp_path)
    rules = sorted({f.rule for f in second})
    assert rules == ["builtin.plaintext_secrets", "main.deny"]


def test_a_moved_document_is_evaluated_again(repo: Repo, evaluated: list[list[str]]) -> None:
    # Its position is part of its findings (file and document number), so it is a new entry.
    repo.set_resources(_docs(3))
    _findings(repo)
    repo.set_resources(list(reversed(_docs(3))))
    findings = _findings(repo)
    assert sorted(evaluated[1]) == ["f0", "f2"]  # f1 kept its place
    assert all(f.document for f in findings)


def test_a_changed_policy_evaluates_everything_again(
    repo: Repo, evaluated: list[list[str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    repo.write("policies/team.rego", TEAM_POLICY)
    repo.set_resources(_docs(4))
    before = _findings(repo)
    repo.write("policies/team.rego", OWNER_POLICY)
    repo.commit("owner")
    after = _findings(repo)
    assert len(evaluated) == 2 and len(evaluated[1]) == 4
    assert {f.message for f in before} != {f.message for f in after}
    assert after == _fresh(repo, monkeypatch, tmp_path)


def test_policy_dirs_namespaces_and_settings_are_part_of_the_key(
    repo: Repo, evaluated: list[list[str]], tmp_path: Path
) -> None:
    repo.set_resources(_docs(2))
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "team.rego").write_text(TEAM_POLICY)
    options = PolicyOptions(extra_dirs=(extra,))
    assert {f.rule for f in _findings(repo, options)} == {"main.deny"}
    (extra / "team.rego").write_text(OWNER_POLICY)
    assert any("owner" in f.message for f in _findings(repo, options))
    assert not _findings(repo, PolicyOptions(extra_dirs=(extra,), namespaces=("other",)))
    assert len(evaluated) == 3

    # Built-in settings in gitcops.yaml: a new commit (tree) with the same documents.
    repo.set_resources(_docs(2, secret_in=0))
    assert any(f.rule == "builtin.plaintext_secrets" for f in _findings(repo))
    text = (repo.path / "gitcops.yaml").read_text()
    repo.write(
        "gitcops.yaml",
        text + "  policy:\n    builtin:\n      requiredLabels: {labels: [owner]}\n",
    )
    repo.commit("owners required")
    assert any(f.rule == "builtin.required_labels" for f in _findings(repo))
    repo.write(
        "gitcops.yaml",
        text + "  policy:\n    builtin:\n      plaintextSecrets: {enabled: false}\n",
    )
    repo.commit("no secret check")
    assert not any(f.rule == "builtin.plaintext_secrets" for f in _findings(repo))
    assert [len(e) for e in evaluated[3:]] == [2, 2, 2]


def test_a_policy_failing_at_run_time_reports_the_position_among_all_documents(
    repo: Repo, evaluated: list[list[str]]
) -> None:
    from gitcops.validate.policy.engine import PolicyRuntimeError

    repo.write(
        "policies/ratio.rego",
        "package main\n\nimport rego.v1\n\ndeny contains msg if {\n"
        '    input.metadata.name == "f2"\n    x := count(input.metadata.name) / 0\n'
        '    msg := sprintf("%v", [x])\n}\n',
    )
    repo.set_resources(_docs(2))
    _findings(repo)
    repo.set_resources(_docs(3))
    with pytest.raises(PolicyRuntimeError, match="on input 2"):
        _findings(repo)


def test_many_documents_are_scanned_beside_rego_with_the_same_findings(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """From _FORK_SCAN_AT documents on, the secret scan runs in a forked child while rego-cpp
    evaluates; on a first run (warm_up) that child starts loading detect-secrets before
    rendering. Either way the findings are those of the scan done in this process."""
    forks: list[object] = []
    original = policy_check.ForkedWorker

    class Counting(original):  # type: ignore[misc, valid-type]
        def __init__(self, compute: Any, prepare: Any = None) -> None:
            forks.append(prepare)
            super().__init__(compute, prepare)

    monkeypatch.setattr(policy_check, "ForkedWorker", Counting)
    monkeypatch.setattr(secret_scanner, "ForkedWorker", Counting)  # forks the first run's
    repo.write("policies/team.rego", TEAM_POLICY)
    docs = _docs(policy_check._FORK_SCAN_AT + 8, secret_in=5)
    docs[30]["spec"]["content"] = f"password = {AWS_SECRET}\n"  # type: ignore[index]
    repo.set_resources(docs)
    forked = _fresh(repo, monkeypatch, tmp_path)
    assert len(forks) == 1

    with monkeypatch.context() as m:
        m.setenv("GITCOPS_CACHE_DIR", str(tmp_path / "first-run"))
        ws = open_workspace(open_source(str(repo.path)), "dev")
        policy_check.warm_up(ws)  # nothing cached in first-run/: the child is started
        assert len(forks) == 2 and ws.prefetched
        prefetched = check_resources(ws, PolicyOptions()).findings
        assert not ws.prefetched  # taken by the check
        assert len(forks) == 2
        ws = open_workspace(open_source(str(repo.path)), "dev")
        policy_check.warm_up(ws)  # desired state cached, detectors' patterns saved: no child
        assert not ws.prefetched and len(forks) == 2

    monkeypatch.setattr(policy_check, "_FORK_SCAN_AT", 10_000)
    inline = _fresh(repo, monkeypatch, tmp_path)
    assert len(forks) == 2
    assert forked == inline == prefetched
    flagged = sorted(f.resource or "" for f in forked if f.rule == "builtin.plaintext_secrets")
    assert flagged == ["local.gitcops.io/File/f30", "local.gitcops.io/File/f5"]


def test_values_handed_over_early_give_the_same_findings(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """hand_over gives the prefetched scanner every document's values as soon as the desired
    state is known; the check then takes the rows of the documents it evaluates, whether that
    is all of them (a first run) or a few (the others' findings are cached)."""
    from gitcops.engine.workspace import desired_state

    repo.write("policies/team.rego", TEAM_POLICY)
    docs = _docs(policy_check._FORK_SCAN_AT + 8, secret_in=5)
    repo.set_resources(docs)
    monkeypatch.setenv("GITCOPS_CACHE_DIR", str(tmp_path / "handed-over"))

    def handed_over(scanner: policy_check.ForkedWorker[Any, Any] | None) -> list[Finding]:
        ws = open_workspace(open_source(str(repo.path)), "dev")
        if scanner is None:
            policy_check.warm_up(ws)  # a first run: the child is forked here
        else:
            ws.prefetched[policy_check._SCANNER] = scanner
        desired_state(ws)
        policy_check.hand_over(ws)
        assert len(ws.prefetched) == 2  # the scanner and what it was given
        found = check_resources(ws, PolicyOptions()).findings
        assert not ws.prefetched  # taken by the check
        return found

    first = handed_over(None)
    assert first == _fresh(repo, monkeypatch, tmp_path)
    # One document gains a secret: only it is evaluated, its rows picked out of all of them.
    docs[12]["spec"]["content"] = f"password = {AWS_SECRET}\n"  # type: ignore[index]
    repo.set_resources(docs)
    later = handed_over(policy_check.ForkedWorker(secret_scanner.scan))
    assert later == _fresh(repo, monkeypatch, tmp_path)
    flagged = sorted(f.resource or "" for f in later if f.rule == "builtin.plaintext_secrets")
    assert flagged == ["local.gitcops.io/File/f12", "local.gitcops.io/File/f5"]


def test_the_early_scanner_is_kept_on_a_first_run_and_cancelled_when_not_needed(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Commands that check policies fork the scanner before opening the repository when no
    detector patterns are saved in the cache directory; once the workspace is open it is
    kept only if the desired state is not cached."""
    import shutil

    from gitcops.cli.common import workspace

    started: list[object] = []
    cancelled: list[object] = []
    original = secret_scanner.ForkedWorker

    class Tracking(original):  # type: ignore[misc, valid-type]
        def __init__(self, compute: Any, prepare: Any = None) -> None:
            super().__init__(compute, prepare)
            started.append(self)

        def cancel(self) -> None:
            cancelled.append(self)
            super().cancel()

    monkeypatch.setattr(secret_scanner, "ForkedWorker", Tracking)
    cache = tmp_path / "cache"
    monkeypatch.setenv("GITCOPS_CACHE_DIR", str(cache))
    repo.set_resources(_docs(5, secret_in=2))

    ws = workspace(str(repo.path), "dev", None, policies=True)
    assert len(started) == 1 and ws.prefetched[policy_check._SCANNER] is started[0]
    first = check_resources(ws, PolicyOptions()).findings
    assert not cancelled and not ws.prefetched
    assert any(f.rule == "builtin.plaintext_secrets" for f in first)

    # The same tree again: patterns saved, desired state cached: no child at all.
    ws = workspace(str(repo.path), "dev", None, policies=True)
    assert len(started) == 1 and not ws.prefetched

    # Patterns gone but the desired state cached: started early, then cancelled.
    shutil.rmtree(cache / "secretscan")
    ws = workspace(str(repo.path), "dev", None, policies=True)
    assert len(started) == 2 and cancelled == [started[1]] and not ws.prefetched
    assert check_resources(ws, PolicyOptions()).findings == first
