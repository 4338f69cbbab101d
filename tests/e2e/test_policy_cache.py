"""Resource findings are cached per document: only documents whose findings could differ are
evaluated again, and the cached findings equal a fresh evaluation. Work done is read from the
Runtime's counters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import Repo, file_doc

from gitcops.engine import policy_check
from gitcops.engine.planning import open_checked
from gitcops.engine.policy_check import PolicyOptions, check_resources
from gitcops.engine.runtime import Runtime
from gitcops.engine.workspace import EarlyScan, desired_state, open_workspace
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
EVALUATED = "policy documents evaluated"


class Checker:
    """Checks resources through one Runtime per call (as one command would), on one cache
    directory; `evaluated` lists how many documents each call evaluated afresh."""

    def __init__(self, repo: Repo, cache: Path) -> None:
        self.repo = repo
        self.cache = cache
        self.evaluated: list[int] = []

    def __call__(self, options: PolicyOptions | None = None, **runtime: Any) -> list[Finding]:
        with Runtime(cache_dir=self.cache, **runtime) as rt:
            ws = open_workspace(rt, rt.source(str(self.repo.path)), "dev")
            try:
                return check_resources(ws, options or PolicyOptions()).findings
            finally:
                self.evaluated.append(rt.stats[EVALUATED])
                ws.close()


@pytest.fixture
def findings(repo: Repo, tmp_path: Path) -> Checker:
    return Checker(repo, tmp_path / "cache")


def _fresh(repo: Repo, tmp_path: Path, **kw: Any) -> list[Finding]:
    """The same check with the cache off."""
    return Checker(repo, tmp_path / "unused")(PolicyOptions(**kw), caching=False)


def _docs(n: int, *, secret_in: int | None = None, content: str = "x\n") -> list[dict[str, object]]:
    docs = []
    for i in range(n):
        extra = {"content": f"password = {AWS_SECRET}\n"} if i == secret_in else {}
        doc = file_doc(f"f{i}", f"f{i}.txt", content, labels={"team": "a"} if i % 2 else None)
        doc["spec"].update(extra)  # type: ignore[attr-defined]
        docs.append(doc)
    return docs


def test_one_changed_document_is_the_only_one_evaluated_again(
    repo: Repo, findings: Checker, tmp_path: Path
) -> None:
    repo.write("policies/team.rego", TEAM_POLICY)
    repo.set_resources(_docs(6, secret_in=3))
    first = findings()
    assert findings.evaluated == [6]
    assert findings() == first  # same tree: the tree-level cache
    assert findings.evaluated == [6, 0]

    docs = _docs(6, secret_in=3)
    docs[4]["spec"]["content"] = "changed\n"  # type: ignore[index]
    repo.set_resources(docs)
    second = findings()
    assert findings.evaluated == [6, 0, 1]
    assert second == _fresh(repo, tmp_path)
    rules = sorted({f.rule for f in second})
    assert rules == ["builtin.plaintext_secrets", "main.deny"]


def test_a_moved_document_is_evaluated_again(repo: Repo, findings: Checker) -> None:
    # Its position is part of its findings (file and document number), so it is a new entry.
    repo.set_resources(_docs(3))
    findings()
    repo.set_resources(list(reversed(_docs(3))))
    found = findings()
    assert findings.evaluated == [3, 2]  # f2 and f0 moved, f1 kept its place
    assert all(f.document for f in found)


def test_a_changed_policy_evaluates_everything_again(
    repo: Repo, findings: Checker, tmp_path: Path
) -> None:
    repo.write("policies/team.rego", TEAM_POLICY)
    repo.set_resources(_docs(4))
    before = findings()
    repo.write("policies/team.rego", OWNER_POLICY)
    repo.commit("owner")
    after = findings()
    assert findings.evaluated == [4, 4]
    assert {f.message for f in before} != {f.message for f in after}
    assert after == _fresh(repo, tmp_path)


def test_policy_dirs_namespaces_and_settings_are_part_of_the_key(
    repo: Repo, findings: Checker, tmp_path: Path
) -> None:
    repo.set_resources(_docs(2))
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "team.rego").write_text(TEAM_POLICY)
    options = PolicyOptions(extra_dirs=(extra,))
    assert {f.rule for f in findings(options)} == {"main.deny"}
    (extra / "team.rego").write_text(OWNER_POLICY)
    assert any("owner" in f.message for f in findings(options))
    assert not findings(PolicyOptions(extra_dirs=(extra,), namespaces=("other",)))
    assert findings.evaluated == [2, 2, 2]

    # Built-in settings in gitcops.yaml: a new commit (tree) with the same documents.
    repo.set_resources(_docs(2, secret_in=0))
    assert any(f.rule == "builtin.plaintext_secrets" for f in findings())
    text = (repo.path / "gitcops.yaml").read_text()
    repo.write(
        "gitcops.yaml",
        text + "  policy:\n    builtin:\n      requiredLabels: {labels: [owner]}\n",
    )
    repo.commit("owners required")
    assert any(f.rule == "builtin.required_labels" for f in findings())
    repo.write(
        "gitcops.yaml",
        text + "  policy:\n    builtin:\n      plaintextSecrets: {enabled: false}\n",
    )
    repo.commit("no secret check")
    assert not any(f.rule == "builtin.plaintext_secrets" for f in findings())
    assert findings.evaluated[3:] == [2, 2, 2]


def test_a_policy_failing_at_run_time_reports_the_position_among_all_documents(
    repo: Repo, findings: Checker
) -> None:
    from gitcops.validate.policy.engine import PolicyRuntimeError

    repo.write(
        "policies/ratio.rego",
        "package main\n\nimport rego.v1\n\ndeny contains msg if {\n"
        '    input.metadata.name == "f2"\n    x := count(input.metadata.name) / 0\n'
        '    msg := sprintf("%v", [x])\n}\n',
    )
    repo.set_resources(_docs(2))
    findings()
    repo.set_resources(_docs(3))
    with pytest.raises(PolicyRuntimeError, match="on input 2"):
        findings()


def test_many_documents_are_scanned_beside_rego_with_the_same_findings(
    repo: Repo, tmp_path: Path
) -> None:
    """From _FORK_SCAN_AT documents on, the secret scan runs in a forked child while rego-cpp
    evaluates; on a first run (warm_up) that child starts loading detect-secrets before
    rendering. Either way the findings are those of the scan done in this process."""
    repo.write("policies/team.rego", TEAM_POLICY)
    docs = _docs(policy_check._FORK_SCAN_AT + 8, secret_in=5)
    docs[30]["spec"]["content"] = f"password = {AWS_SECRET}\n"  # type: ignore[index]
    repo.set_resources(docs)
    forked = _fresh(repo, tmp_path)

    with Runtime(cache_dir=tmp_path / "first-run") as rt:
        ws = open_workspace(rt, rt.source(str(repo.path)), "dev")
        policy_check.warm_up(ws)  # nothing cached in first-run/: the child is started
        assert rt.stats["processes forked"] == 1 and ws.early_scan is not None
        prefetched = check_resources(ws, PolicyOptions()).findings
        assert ws.early_scan is None  # taken by the check
        assert rt.stats["processes forked"] == 1
        ws = open_workspace(rt, rt.source(str(repo.path)), "dev")
        policy_check.warm_up(ws)  # desired state cached, detectors' patterns saved: no child
        assert ws.early_scan is None and rt.stats["processes forked"] == 1

    with Runtime(caching=False, forking=False) as rt:
        ws = open_workspace(rt, rt.source(str(repo.path)), "dev")
        inline = check_resources(ws, PolicyOptions()).findings
        assert rt.stats["processes forked"] == 0
    assert forked == inline == prefetched
    flagged = sorted(f.resource or "" for f in forked if f.rule == "builtin.plaintext_secrets")
    assert flagged == ["local.gitcops.io/File/f30", "local.gitcops.io/File/f5"]


def test_values_handed_over_early_give_the_same_findings(repo: Repo, tmp_path: Path) -> None:
    """hand_over gives the early scanner every document's values as soon as the desired state
    is known; the check then takes the rows of the documents it evaluates, whether that is
    all of them (a first run) or a few (the others' findings are cached)."""
    repo.write("policies/team.rego", TEAM_POLICY)
    docs = _docs(policy_check._FORK_SCAN_AT + 8, secret_in=5)
    repo.set_resources(docs)

    def handed_over(rt: Runtime, early: bool) -> list[Finding]:
        ws = open_workspace(rt, rt.source(str(repo.path)), "dev")
        if early:
            worker = rt.fork_worker(rt.scanner.scan_each)
            assert worker is not None
            ws.early_scan = EarlyScan(worker)
        else:
            policy_check.warm_up(ws)  # a first run: the child is forked here
        desired_state(ws)
        policy_check.hand_over(ws)
        assert ws.early_scan is not None and ws.early_scan.submitted is not None
        found = check_resources(ws, PolicyOptions()).findings
        assert ws.early_scan is None  # taken by the check
        return found

    with Runtime(cache_dir=tmp_path / "handed-over") as rt:
        first = handed_over(rt, early=False)
    assert first == _fresh(repo, tmp_path)
    # One document gains a secret: only it is evaluated, its rows picked out of all of them.
    docs[12]["spec"]["content"] = f"password = {AWS_SECRET}\n"  # type: ignore[index]
    repo.set_resources(docs)
    with Runtime(cache_dir=tmp_path / "handed-over") as rt:
        later = handed_over(rt, early=True)
        assert rt.stats[EVALUATED] == 1
    assert later == _fresh(repo, tmp_path)
    flagged = sorted(f.resource or "" for f in later if f.rule == "builtin.plaintext_secrets")
    assert flagged == ["local.gitcops.io/File/f12", "local.gitcops.io/File/f5"]


def test_the_early_scanner_is_kept_on_a_first_run_and_cancelled_when_not_needed(
    repo: Repo, tmp_path: Path
) -> None:
    """Commands that check policies fork the scanner before opening the repository when no
    detector patterns are saved in the cache directory; once the workspace is open it is
    kept only if the desired state is not cached."""
    import shutil

    cache = tmp_path / "cache"
    repo.set_resources(_docs(5, secret_in=2))

    def opened() -> tuple[Runtime, Any]:
        rt = Runtime(cache_dir=cache)
        return rt, open_checked(rt, str(repo.path), "dev")

    rt, ws = opened()
    assert rt.stats["processes forked"] == 1 and ws.early_scan is not None
    first = check_resources(ws, PolicyOptions()).findings
    assert ws.early_scan is None
    assert any(f.rule == "builtin.plaintext_secrets" for f in first)
    rt.close()

    # The same tree again: patterns saved, desired state cached: no child at all.
    rt, ws = opened()
    assert rt.stats["processes forked"] == 0 and ws.early_scan is None
    rt.close()

    # Patterns gone but the desired state cached: started early, then cancelled.
    shutil.rmtree(cache / "secretscan")
    rt, ws = opened()
    assert rt.stats["processes forked"] == 1 and ws.early_scan is None
    assert check_resources(ws, PolicyOptions()).findings == first
    rt.close()
