"""`audit verify --head SEQ:HASH`: the log checked against a head kept elsewhere, through the
real CLI on a real state file; the cases the chain alone misses (entries cut off its end, the
whole log rewritten) fail."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from conftest import Cli, Repo, file_doc

from gitcops.schemas import output_validator
from gitcops.state.audit import GENESIS, entry_hash

HEAD_LINE = re.compile(r"^head ([0-9]+):([0-9a-f]{64})$", re.MULTILINE)


def _verify_json(cli: Cli, *args: str, expect: int) -> dict[str, object]:
    result = cli("audit", "verify", *args, "-o", "json", expect=expect)
    document: dict[str, object] = json.loads(result.stdout)
    errors = [e.message for e in output_validator("AuditVerification").iter_errors(document)]
    assert errors == []
    return document


def _applied_twice(cli: Cli, repo: Repo) -> tuple[int, str]:
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    repo.set_resources([file_doc("motd", "etc/motd", "changed\n")])
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    text = cli("audit", "verify").stdout
    [(seq, digest)] = HEAD_LINE.findall(text)
    assert text.startswith(f"Audit log intact: {seq} entries, hash chain verified.")
    return int(seq), digest


def test_the_head_printed_verifies_now_and_after_more_entries(cli: Cli, repo: Repo) -> None:
    seq, digest = _applied_twice(cli, repo)
    with sqlite3.connect(cli.state) as db:
        assert db.execute("SELECT max(seq), hash FROM audit").fetchone() == (seq, digest)
    head = f"{seq}:{digest}"
    result = cli("audit", "verify", "--head", head)
    assert f"entry {seq} matches the head given" in result.stdout
    assert f"head {head}" in result.stdout
    document = _verify_json(cli, "--head", head, expect=0)
    assert document["head"] == document["checkedHead"] == {"seq": seq, "hash": digest}

    # A later apply adds entries: the head kept earlier is still on the chain.
    repo.set_resources([file_doc("motd", "etc/motd", "again\n")])
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    document = _verify_json(cli, "--head", head.upper(), expect=0)
    newest = document["head"]
    assert isinstance(newest, dict) and newest["seq"] > seq
    assert document["checkedHead"] == {"seq": seq, "hash": digest}


def test_a_wrong_hash_fails(cli: Cli, repo: Repo) -> None:
    seq, digest = _applied_twice(cli, repo)
    wrong = f"{seq - 1}:{digest}"
    result = cli("audit", "verify", "--head", wrong, expect=1)
    assert f"Audit log TAMPERED at entry {seq - 1}: does not match the head given" in result.stderr
    document = _verify_json(cli, "--head", wrong, expect=1)
    assert (document["ok"], document["firstBadSeq"], document["head"]) == (False, seq - 1, None)


def test_entries_cut_off_the_end_fail_with_the_head_only(cli: Cli, repo: Repo) -> None:
    seq, digest = _applied_twice(cli, repo)
    with sqlite3.connect(cli.state) as db:
        db.execute("DELETE FROM audit WHERE seq > ?", (seq - 3,))
    cli("audit", "verify")  # the chain that is left is intact: exit 0
    result = cli("audit", "verify", "--head", f"{seq}:{digest}", expect=1)
    expected = f"entry {seq} (the head given) is missing: the log ends at entry {seq - 3}"
    assert f"Audit log TAMPERED at entry {seq}: {expected}" in result.stderr
    assert result.stdout == ""
    document = _verify_json(cli, "--head", f"{seq}:{digest}", expect=1)
    assert (document["problem"], document["entries"]) == (expected, seq - 3)


def test_a_log_rewritten_whole_fails_with_the_head_only(cli: Cli, repo: Repo) -> None:
    seq, digest = _applied_twice(cli, repo)
    with sqlite3.connect(cli.state) as db:
        rows = db.execute(
            "SELECT seq, ts, scope, run_id, actor, action, subject, detail FROM audit ORDER BY seq"
        ).fetchall()
        prev = GENESIS
        for number, ts, scope, run_id, actor, action, subject, detail in rows:
            forged = "mallory" if number == 1 else actor
            digest_now = entry_hash(
                prev, number, ts, scope, run_id, forged, action, subject, json.loads(detail)
            )
            db.execute(
                "UPDATE audit SET actor=?, prev_hash=?, hash=? WHERE seq=?",
                (forged, prev, digest_now, number),
            )
            prev = digest_now
    cli("audit", "verify")
    result = cli("audit", "verify", "--head", f"{seq}:{digest}", expect=1)
    assert f"TAMPERED at entry {seq}: does not match the head given" in result.stderr


def test_a_malformed_head_is_a_usage_error(cli: Cli, repo: Repo) -> None:
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    for text in ("12", "x:" + "a" * 64, "3:abc"):
        result = cli("audit", "verify", "--head", text, expect=2)
        assert "is not SEQ:HASH" in result.stderr


def test_an_empty_log_has_no_head(cli: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    result = cli("audit", "verify", "--state", str(empty))
    assert "head: none (no entries)" in result.stdout
    document = _verify_json(cli, "--state", str(empty), expect=0)
    assert document["head"] is None
    failed = _verify_json(cli, "--state", str(empty), "--head", "1:" + "a" * 64, expect=1)
    assert failed["problem"] == "entry 1 (the head given) is missing: the log is empty"
