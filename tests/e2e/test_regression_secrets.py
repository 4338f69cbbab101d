"""Regression hunt for the secrets feature: plaintext must appear nowhere but the target.

Every test uses random plaintexts and searches every output, every file under the state
directory, the cache and saved plans for them. Tests marked `Regression:` pin defects an
independent review found (all fixed).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
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
    symlink_doc,
)

# -- helpers ------------------------------------------------------------------------------------


def _plain(prefix: str = "s") -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


class Run:
    """Runs the CLI against one repo and keeps every result for the final search."""

    def __init__(self, cli: Cli, repo: Repo) -> None:
        self.cli = cli
        self.repo = repo
        self.results: list[Result] = []

    def __call__(self, *args: str, expect: int | None = 0) -> Result:
        result = self.cli(*args, repo=self.repo.path, expect=expect)
        self.results.append(result)
        return result


def _leaks(run: Run, plaintexts: list[str], *extra: Path) -> list[str]:
    """Where any plaintext shows: outputs and every file gitcops wrote outside the target."""
    where: list[str] = []
    for result in run.results:
        for text in plaintexts:
            if text in result.output:
                where.append(f"output of a command: ...{_around(result.output, text)}...")
    cli = run.cli
    roots = [
        cli.state.parent,
        Path(cli.env["GITCOPS_CACHE_DIR"]),
        Path(cli.env["XDG_STATE_HOME"]),
        *extra,
    ]
    for path in files_under(*roots):
        data = path.read_bytes()
        for text in plaintexts:
            if text.encode() in data:
                where.append(f"file {path}")
    return where


def _no_leaks(run: Run, plaintexts: list[str], *extra: Path) -> None:
    found = _leaks(run, plaintexts, *extra)
    assert not found, "plaintext found in:\n" + "\n".join(found)


def _around(text: str, needle: str, width: int = 80) -> str:
    at = text.find(needle)
    return text[max(0, at - width) : at + len(needle) + width]


def _file(name: str, path: str, content: object, **extra: object) -> dict[str, object]:
    doc = file_doc(name, path)
    doc["spec"] = {"path": path, "content": content, **extra}
    return doc


def _health(name: str, spec: dict[str, object]) -> dict[str, object]:
    return {
        "apiVersion": "local.gitcops.io/v1",
        "kind": "HealthCheck",
        "metadata": {"name": name},
        "spec": spec,
    }


# -- pinned behaviour that holds ----------------------------------------------------------------


def test_content_base64_from_a_secret_is_written_and_never_shown(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    import base64

    cli, recipient = keyed
    first, second = _plain("b64a"), _plain("b64b")
    enc = {"blob": base64.b64encode(first.encode()).decode()}
    encrypt_values(cli, repo, "secrets/b.sops.yaml", enc, recipient)
    doc = file_doc("blob", "etc/blob")
    doc["spec"] = {
        "path": "etc/blob",
        "contentBase64": secret_ref("../secrets/b.sops.yaml", "blob"),
    }
    repo.set_resources([doc])
    run = Run(cli, repo)
    run("validate", "-e", "dev")
    run("render", "-e", "dev")
    plan = json.loads(run("plan", "-e", "dev", "-o", "json").stdout)
    [change] = plan["changes"]
    assert change["sensitive"] == [["content"]]
    assert change["after"]["content"].startswith("(sensitive value, hmac-sha256:")
    run("apply", "-e", "dev", "--yes")
    assert (repo.root / "etc/blob").read_text() == first
    run("plan", "-e", "dev", "--detailed-exitcode")
    encrypt_values(
        cli,
        repo,
        "secrets/b.sops.yaml",
        {"blob": base64.b64encode(second.encode()).decode()},
        recipient,
    )
    repo.commit("new blob")
    changed = run("plan", "-e", "dev", "--detailed-exitcode", expect=2).stdout
    assert "content: (sensitive value changed)" in changed
    run("apply", "-e", "dev", "--yes")
    assert (repo.root / "etc/blob").read_text() == second
    b64s = [base64.b64encode(x.encode()).decode() for x in (first, second)]
    _no_leaks(run, [first, second, *b64s])


def test_typed_secrets_in_health_checks_and_lists_do_not_leak(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    """An int port, a whole argv list, a single list element, one secret in two resources."""
    cli, recipient = keyed
    arg = _plain("arg")
    shared = _plain("shared")
    port = 40000 + secrets.randbelow(20000)
    values = {"port": port, "argv": ["/bin/sh", "-c", f"exit 0 # {arg}"], "arg": arg}
    values["shared"] = shared
    encrypt_values(cli, repo, "secrets/h.sops.yaml", values, recipient)
    ref = "../secrets/h.sops.yaml"
    repo.set_resources(
        [
            _health("cmd-list", {"command": {"argv": secret_ref(ref, "argv")}}),
            _health("cmd-elem", {"command": {"argv": ["/bin/sh", "-c", secret_ref(ref, "arg")]}}),
            _health("tcp", {"tcp": {"host": "127.0.0.1", "port": secret_ref(ref, "port")}}),
            _file("one", "etc/one", secret_ref(ref, "shared")),
            _file("two", "etc/two", secret_ref(ref, "shared")),
        ]
    )
    run = Run(cli, repo)
    run("validate", "-e", "dev")
    run("render", "-e", "dev")
    run("plan", "-e", "dev")
    plan = json.loads(run("plan", "-e", "dev", "-o", "json").stdout)
    sens = {c["name"]: c["sensitive"] for c in plan["changes"]}
    assert sens["cmd-elem"] == [["command", "argv", 2]]
    assert sens["tcp"] == [["tcp", "port"]]
    # cmd-elem runs `sh -c <arg>`: a command not found, exit 127; the tcp port is closed.
    applied = run("apply", "-e", "dev", "--yes", "-o", "json", expect=1)
    assert (repo.root / "etc/one").read_text() == shared == (repo.root / "etc/two").read_text()
    run("history", "-e", "dev", "-o", "json")
    run("history", "-e", "dev")
    run("audit", "log", "--state", str(cli.state))
    run("status", "-o", "json")
    assert "tcp" in applied.stdout
    _no_leaks(run, [arg, shared, str(port)])


def test_a_policy_printing_input_values_sees_only_the_marker(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    cli, recipient = keyed
    value = _plain("pol")
    encrypt_values(cli, repo, "secrets/p.sops.yaml", {"password": value}, recipient)
    repo.write(
        "policies/leak.rego",
        "package main\n\nimport rego.v1\n\n"
        "deny contains msg if {\n"
        '    input.kind == "File"\n'
        '    msg := sprintf("content is %v / %v", [input.spec.content, input.spec])\n'
        "}\n",
    )
    repo.write(
        "policies/plan.rego",
        "package plan\n\nimport rego.v1\n\n"
        "deny contains msg if {\n"
        "    some c in input.changes\n"
        '    msg := sprintf("plan %v", [c])\n'
        "}\n",
    )
    repo.set_resources([_file("db", "etc/db", secret_ref("../secrets/p.sops.yaml", "password"))])
    run = Run(cli, repo)
    denied = run("validate", "-e", "dev", expect=1)
    assert "content is (sensitive value)" in denied.output
    run("validate", "-e", "dev", "--format", "sarif", expect=None)
    run("validate", "-e", "dev", "--format", "junit", expect=None)
    run("validate", "-e", "dev", "-o", "json", expect=None)
    run("plan", "-e", "dev", expect=1)
    run("plan", "-e", "dev", "-o", "json", expect=1)
    run("apply", "-e", "dev", "--yes", expect=1)
    assert not (repo.root / "etc/db").exists()
    _no_leaks(run, [value])


def test_an_overlay_patch_may_add_a_reference(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    # `file` is relative to the patched document (base/resources.yaml), not to the
    # kustomization holding the patch: "../../secrets/..." from the overlay leaves the repo.
    cli, recipient = keyed
    file = "../secrets/o.sops.yaml"
    value = _plain("ovl")
    encrypt_values(cli, repo, "secrets/o.sops.yaml", {"k": value}, recipient)
    repo.write(
        "environments/dev/kustomization.yaml",
        "resources:\n  - ../../base\n"
        "patches:\n"
        "  - target: {kind: File, name: motd}\n"
        "    patch: |\n"
        "      - op: replace\n"
        "        path: /spec/content\n"
        f"        value: {{valueFrom: {{secretRef: {{file: {file}, key: k}}}}}}\n",
    )
    repo.commit("overlay")
    run = Run(cli, repo)
    assert "content: (sensitive value)" in run("render", "-e", "dev").stdout
    run("apply", "-e", "dev", "--yes")
    assert (repo.root / "etc/motd").read_text() == value
    # prod has no patch: plain text, no secret needed.
    assert "hello" in run("render", "-e", "prod").stdout
    _no_leaks(run, [value])


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("metadata", "only allowed under `spec`"),
        ("escape", "leaves the repository"),
        ("absolute", "must be a relative path"),
        ("extra", "takes `file` (required) and `key`"),
        ("missing file", "does not exist"),
        ("not sops", "not a SOPS-encrypted file"),
    ],
)
def test_bad_references_are_refused(
    where: str, expected: str, keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    cli, recipient = keyed
    value = _plain("bad")
    encrypt_values(cli, repo, "secrets/x.sops.yaml", {"k": value}, recipient)
    repo.write("secrets/plain.yaml", f"k: {value}\n")
    doc = _file("x", "etc/x", "x")
    ref = secret_ref("../secrets/x.sops.yaml", "k")
    if where == "metadata":
        doc["metadata"]["labels"] = {"a": ref}  # type: ignore[index]
    elif where == "escape":
        doc["spec"]["content"] = secret_ref("../../outside.sops.yaml", "k")  # type: ignore[index]
    elif where == "absolute":
        doc["spec"]["content"] = secret_ref("/etc/passwd", "k")  # type: ignore[index]
    elif where == "extra":
        doc["spec"]["content"] = {  # type: ignore[index]
            "valueFrom": {"secretRef": {"file": "../secrets/x.sops.yaml", "key": "k", "x": 1}}
        }
    elif where == "missing file":
        doc["spec"]["content"] = secret_ref("../secrets/nope.sops.yaml", "k")  # type: ignore[index]
    else:
        doc["spec"]["content"] = secret_ref("../secrets/plain.yaml", "k")  # type: ignore[index]
    repo.set_resources([doc])
    run = Run(cli, repo)
    for command in (("validate", "-e", "dev"), ("plan", "-e", "dev"), ("apply", "-e", "dev", "-y")):
        result = run(*command, expect=1)
        assert expected in result.stderr, result.stderr
    assert not repo.root.exists()
    _no_leaks(run, [value])


def test_cached_render_detects_a_changed_secret_and_caches_no_value(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    cli, recipient = keyed
    first, second = _plain("c1"), _plain("c2")
    encrypt_values(cli, repo, "secrets/c.sops.yaml", {"k": first}, recipient)
    repo.set_resources([_file("c", "etc/c", secret_ref("../secrets/c.sops.yaml", "k"))])
    run = Run(cli, repo)
    run("plan", "-e", "dev")
    run("plan", "-e", "dev")  # cached
    run("apply", "-e", "dev", "--yes")  # cached
    assert (repo.root / "etc/c").read_text() == first
    run("plan", "-e", "dev", "--detailed-exitcode")
    encrypt_values(cli, repo, "secrets/c.sops.yaml", {"k": second}, recipient)
    repo.commit("new secret")
    for _ in range(2):
        out = run("plan", "-e", "dev", "--detailed-exitcode", expect=2).stdout
        assert "content: (sensitive value changed)" in out
    run("apply", "-e", "dev", "--yes")
    assert (repo.root / "etc/c").read_text() == second
    # A cached desired set still needs the identity: no key, no plan.
    env = dict(cli.env)
    del env["SOPS_AGE_KEY_FILE"]
    run.results.append(Cli(env, cli.state)("plan", "-e", "dev", repo=repo.path, expect=1))
    assert (Path(cli.env["GITCOPS_CACHE_DIR"]) / "render").exists()
    _no_leaks(run, [first, second])


def test_prune_and_noop_of_a_secret_bearing_resource_hold_tokens(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    cli, recipient = keyed
    value = _plain("prn")
    encrypt_values(cli, repo, "secrets/p.sops.yaml", {"k": value}, recipient)
    repo.set_resources(
        [
            file_doc("motd", "etc/motd", "hello\n"),
            _file("p", "etc/p", secret_ref("../secrets/p.sops.yaml", "k")),
        ]
    )
    run = Run(cli, repo)
    run("apply", "-e", "dev", "--yes")
    noop = json.loads(run("plan", "-e", "dev", "-o", "json").stdout)
    [p] = [c for c in noop["changes"] if c["name"] == "p"]
    assert p["action"] == "no-op" and p["before"]["content"].startswith("(sensitive value")
    repo.set_resources([file_doc("motd", "etc/motd", "hello\n")])
    run("plan", "-e", "dev")
    pruned = json.loads(run("plan", "-e", "dev", "-o", "json").stdout)
    [p] = [c for c in pruned["changes"] if c["name"] == "p"]
    assert p["action"] == "delete" and p["sensitive"] == [["content"]]
    plan_file = tmp_path / "prune.json"
    run("plan", "-e", "dev", "--out", str(plan_file))
    run("apply", "-e", "dev", str(plan_file))
    assert not (repo.root / "etc/p").exists()
    run("rollback", "-e", "dev", "--yes")
    assert (repo.root / "etc/p").read_text() == value
    run("history", "-e", "dev", "-o", "json")
    run("audit", "log", "--state", str(cli.state))
    _no_leaks(run, [value], plan_file)


def test_worktree_plan_and_render_show_no_value(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    cli, recipient = keyed
    value = _plain("wt")
    encrypt_values(cli, repo, "secrets/w.sops.yaml", {"k": value}, recipient)
    repo.write(
        "base/resources.yaml",
        yaml.safe_dump_all([_file("w", "etc/w", secret_ref("../secrets/w.sops.yaml", "k"))]),
    )  # not committed
    run = Run(cli, repo)
    assert "(sensitive value)" in run("render", "-e", "dev", "--worktree").stdout
    run("plan", "-e", "dev", "--worktree")
    run("plan", "-e", "dev", "--worktree", "-o", "json")
    _no_leaks(run, [value])


def test_apply_failure_on_a_secret_resource_records_no_value(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    cli, recipient = keyed
    value = _plain("fail")
    encrypt_values(cli, repo, "secrets/f.sops.yaml", {"k": value}, recipient)
    repo.set_resources([_file("f", "etc/f", secret_ref("../secrets/f.sops.yaml", "k"))])
    (repo.root / "etc/f").mkdir(parents=True)  # a directory where the file goes
    run = Run(cli, repo)
    failed = run("apply", "-e", "dev", "--yes", expect=1)
    assert "is a directory" in failed.output
    run("apply", "-e", "dev", "--yes", "-o", "json", expect=1)
    run("history", "-e", "dev", "-o", "json")
    run("audit", "log", "--state", str(cli.state))
    _no_leaks(run, [value])


# -- the redaction key ------------------------------------------------------------------------


def test_a_lost_redaction_key_re_records_tokens_without_leaking(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    cli, recipient = keyed
    value = _plain("rk")
    encrypt_values(cli, repo, "secrets/r.sops.yaml", {"k": value}, recipient)
    repo.set_resources([_file("r", "etc/r", secret_ref("../secrets/r.sops.yaml", "k"))])
    run = Run(cli, repo)
    run("apply", "-e", "dev", "--yes")
    key_file = cli.state.with_name(cli.state.name + ".redaction-key")

    def token() -> str:
        with closing(sqlite3.connect(cli.state)) as db:
            [(spec,)] = db.execute("select spec from inventory").fetchall()
        return str(json.loads(spec)["content"])

    before = token()
    key_file.unlink()
    run("plan", "-e", "dev")
    run("drift", "-e", "dev", expect=None)
    run("apply", "-e", "dev", "--yes")
    assert key_file.exists()
    after = token()
    assert after != before and after.startswith("(sensitive value, hmac-sha256:")
    assert run("drift", "-e", "dev").code == 0
    assert run("plan", "-e", "dev", "--detailed-exitcode").code == 0
    _no_leaks(run, [value])


@pytest.mark.parametrize(
    ("key", "message"),
    [("zz-not-hex", "must be hex"), ("00" * 16, "at least 32 bytes")],
)
def test_a_bad_redaction_key_is_a_clear_error(
    key: str, message: str, keyed: tuple[Cli, str], repo: Repo
) -> None:
    cli, recipient = keyed
    value = _plain("bk")
    encrypt_values(cli, repo, "secrets/r.sops.yaml", {"k": value}, recipient)
    repo.set_resources([_file("r", "etc/r", secret_ref("../secrets/r.sops.yaml", "k"))])
    cli.env["GITCOPS_REDACTION_KEY"] = key
    run = Run(cli, repo)
    for command in (("plan", "-e", "dev"), ("apply", "-e", "dev", "--yes")):
        result = run(*command, expect=1)
        assert message in result.stderr
        assert "Traceback" not in result.stderr
    assert not (repo.root / "etc/r").exists()
    _no_leaks(run, [value])


# -- the secrets commands ---------------------------------------------------------------------


def test_secrets_commands_fail_cleanly(keyed: tuple[Cli, str], repo: Repo, tmp_path: Path) -> None:
    cli, recipient = keyed
    value = _plain("cmd")
    rel = "secrets/s.sops.yaml"
    path = repo.path / rel
    encrypt_values(cli, repo, rel, {"k": value}, recipient)
    original = path.read_bytes()
    results: list[Result] = []

    def sec(*args: str, expect: int | None = 0, env: dict[str, str] | None = None) -> Result:
        result = Cli(env or cli.env, cli.state)("secrets", *args, expect=expect)
        results.append(result)
        return result

    assert "already encrypted" in sec("encrypt", str(path), "--age", recipient, expect=1).stderr
    assert path.read_bytes() == original
    other = tmp_path / "keys" / "other.txt"
    age_identity(other)
    sec("decrypt", str(path), expect=1, env=dict(cli.env, SOPS_AGE_KEY_FILE=str(other)))
    # an editor that fails: the file is unchanged, no plaintext left in the temp dir
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    script = tmp_path / "bad-editor.py"
    script.write_text(
        "import sys\np = sys.argv[1]\nopen(p, 'a').write('extra: 1\\n')\nsys.exit(3)\n"
    )
    bad_env = dict(cli.env, EDITOR=f"{sys.executable} {script}", TMPDIR=str(tmpdir))
    sec("edit", str(path), expect=1, env=bad_env)
    assert path.read_bytes() == original
    assert files_under(tmpdir) == []
    assert list(tmpdir.iterdir()) == []
    # removing the only recipient must not produce a file nobody can decrypt
    removed = sec("rotate", str(path), "--rm-age", recipient, expect=None)
    assert removed.code == 1, "rotate removed the only recipient"
    assert path.read_bytes() == original
    for result in results:
        assert value not in result.output


# -- regressions: defects found by review, fixed ---------------------------------------------


def test_replacing_a_secret_by_a_literal_does_not_show_the_old_secret(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    # Regression: when a resource stops referring to a secret (content becomes a literal), the
    # desired resource has no sensitive fields, so the UPDATE's `before` (the live file, i.e.
    # the old secret) is shown in clear: plan text `content: "<secret>" -> "..."`, plan -o json
    # `before`/`diff[].old`, the saved plan file and the plan-policy input.
    # Cause: plan/planner.py _change()/_desired_change() take `sensitive` only from the
    # desired side; the inventory's token paths (as _removal uses) are ignored for updates.
    cli, recipient = keyed
    value = _plain("old")
    encrypt_values(cli, repo, "secrets/l.sops.yaml", {"k": value}, recipient)
    repo.set_resources([_file("l", "etc/l", secret_ref("../secrets/l.sops.yaml", "k"))])
    run = Run(cli, repo)
    run("apply", "-e", "dev", "--yes")
    repo.set_resources([_file("l", "etc/l", "now public\n")])
    plan_file = tmp_path / "plan.json"
    run("plan", "-e", "dev")
    run("plan", "-e", "dev", "-o", "json")
    run("plan", "-e", "dev", "--out", str(plan_file))
    run("apply", "-e", "dev", "--yes")
    _no_leaks(run, [value], plan_file)


def test_a_path_from_a_secret_is_refused(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    # Regression: a File's `path` from a secret ended up in the object's address (plan JSON,
    # saved plans, the inventory, the render cache) and broke drift and prune, which read the
    # object at its stored (tokenized) spec. A field the address depends on is now refused.
    cli, recipient = keyed
    secret_dir = _plain("dir")
    encrypt_values(cli, repo, "secrets/p.sops.yaml", {"path": f"{secret_dir}/f"}, recipient)
    doc = file_doc("hidden", "x")
    doc["spec"] = {"path": secret_ref("../secrets/p.sops.yaml", "path"), "content": "x\n"}
    repo.set_resources([doc])
    run = Run(cli, repo)
    for command in (("validate", "-e", "dev"), ("plan", "-e", "dev"), ("apply", "-e", "dev", "-y")):
        result = run(*command, expect=1)
        assert "field spec.path: cannot come from a secret" in result.stderr
    assert not repo.root.exists()
    _no_leaks(run, [secret_dir])


def test_a_symlink_target_secret_is_not_quoted_by_the_set_validator(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    # Regression: the local provider's validate_set message quotes the link target
    # ("symlink target '../<secret>' climbs out of a, which is the managed symlink ...").
    # prepare_document scrubs provider.validate() messages, but validate_set() messages are
    # reported unscrubbed by validate/resources.py _with_edges().
    cli, recipient = keyed
    value = _plain("tgt")
    encrypt_values(cli, repo, "secrets/t.sops.yaml", {"target": f"../{value}"}, recipient)
    inner = symlink_doc("inner", "a/b", "x")
    inner["spec"]["target"] = secret_ref("../secrets/t.sops.yaml", "target")  # type: ignore[index]
    repo.set_resources([symlink_doc("outer", "a", "real"), inner])
    run = Run(cli, repo)
    result = run("validate", "-e", "dev", expect=1)
    assert "climbs out of" in result.stderr
    run("plan", "-e", "dev", expect=1)
    _no_leaks(run, [value])


def test_a_failing_http_check_with_credentials_in_a_secret_url_does_not_leak(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    # Regression: a HealthCheck URL from a secret with user:password@ in it is shown by the probe
    # as `http://***@host/...?token=<secret part>`; the executor scrubs only exact copies of
    # the whole URL, which no longer occur, so the path and query (a token) reach stderr,
    # `apply -o json`, the run record (`history -o json`) and the audit log.
    # Cause: providers/local/health.py _shown() rewrites the URL before apply/executor.py
    # _perform() scrubs with texts_at(change.after, ...) (whole values only).
    import socket

    cli, recipient = keyed
    token = _plain("tok")
    password = _plain("pw")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: connection refused
    url = f"http://user:{password}@127.0.0.1:{port}/health?token={token}"
    encrypt_values(cli, repo, "secrets/u.sops.yaml", {"url": url}, recipient)
    check = _health("web", {"http": {"url": secret_ref("../secrets/u.sops.yaml", "url")}})
    check["spec"]["timeoutSeconds"] = 1  # type: ignore[index]
    repo.set_resources([file_doc("motd", "etc/motd", "hello\n"), check])
    run = Run(cli, repo)
    run("apply", "-e", "dev", "--yes", expect=1)
    run("apply", "-e", "dev", "--yes", "-o", "json", expect=1)
    run("history", "-e", "dev", "-o", "json")
    run("audit", "log", "--state", str(cli.state))
    _no_leaks(run, [token, password])


def test_a_secret_map_or_bool_rejected_by_the_schema_is_not_quoted(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    # Regression: a secret of the wrong type is reported as "(sensitive value) is not valid here:
    # {'user-<secret>': '(sensitive value)'} is not of type 'string'" and "True is not of type
    # 'string'": the scrubber removes string leaves (and json.dumps of scalars: "true"), but
    # not a map's keys nor Python's repr of a bool, which jsonschema quotes.
    # Cause: model/sensitive.py _texts() (used by validate/resources.py _Scrubber); safer:
    # when the path is sensitive, drop the validator's text entirely.
    cli, recipient = keyed
    key_name = _plain("user")
    values = {"m": {key_name: "x" * 20}, "b": True}
    encrypt_values(cli, repo, "secrets/t.sops.yaml", values, recipient)
    repo.set_resources(
        [
            _file("m", "etc/m", secret_ref("../secrets/t.sops.yaml", "m")),
            _file("b", "etc/b", secret_ref("../secrets/t.sops.yaml", "b")),
        ]
    )
    run = Run(cli, repo)
    result = run("validate", "-e", "dev", expect=1)
    assert result.stderr.count("(sensitive value) is not valid here") == 2
    _no_leaks(run, [key_name, "True"])


def test_two_resources_on_one_secret_path_do_not_quote_it(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    # Regression: the duplicate-object check quoted the address, which held the secret path.
    cli, recipient = keyed
    value = _plain("dup")
    encrypt_values(cli, repo, "secrets/p.sops.yaml", {"path": value}, recipient)
    docs = []
    for name in ("one", "two"):
        doc = file_doc(name, "x")
        doc["spec"] = {"path": secret_ref("../secrets/p.sops.yaml", "path"), "content": "x\n"}
        docs.append(doc)
    repo.set_resources(docs)
    run = Run(cli, repo)
    assert run("validate", "-e", "dev", expect=1).stderr.count("cannot come from a secret") == 2
    _no_leaks(run, [value])


def test_a_saved_plan_is_refused_under_another_redaction_key(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    cli, recipient = keyed
    value = _plain("sk")
    encrypt_values(cli, repo, "secrets/s.sops.yaml", {"k": value}, recipient)
    repo.set_resources([_file("s", "etc/s", secret_ref("../secrets/s.sops.yaml", "k"))])
    cli.env["GITCOPS_REDACTION_KEY"] = secrets.token_hex(32)
    run = Run(cli, repo)
    plan_file = tmp_path / "plan.json"
    run("plan", "-e", "dev", "--out", str(plan_file))
    cli.env["GITCOPS_REDACTION_KEY"] = secrets.token_hex(32)
    refused = run("apply", "-e", "dev", str(plan_file), expect=1)
    assert "make a new plan" in refused.stderr
    assert not (repo.root / "etc/s").exists()
    _no_leaks(run, [value], plan_file)


def test_binary_and_dotenv_secret_files_can_be_referenced(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    cli, recipient = keyed
    blob = _plain("bin")
    env_value = _plain("env")
    repo.write("secrets/cert.bin", blob)
    cli("secrets", "encrypt", str(repo.path / "secrets/cert.bin"), "--age", recipient)
    repo.write("secrets/app.sops.env", f"TOKEN={env_value}\n")
    cli("secrets", "encrypt", str(repo.path / "secrets/app.sops.env"), "--age", recipient)
    repo.set_resources(
        [
            _file("cert", "etc/cert", secret_ref("../secrets/cert.bin")),
            _file("env", "etc/env", secret_ref("../secrets/app.sops.env", "TOKEN")),
        ]
    )
    run = Run(cli, repo)
    run("apply", "-e", "dev", "--yes")
    assert (repo.root / "etc/cert").read_text() == blob
    assert (repo.root / "etc/env").read_text() == env_value
    run("plan", "-e", "dev", "--detailed-exitcode")
    _no_leaks(run, [blob, env_value])


def test_a_tampered_value_is_refused_without_plaintext(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    cli, recipient = keyed
    good, other = _plain("good"), _plain("other")
    rel = "secrets/v.sops.yaml"
    encrypt_values(cli, repo, rel, {"a": good, "b": other}, recipient)
    doc = yaml.safe_load((repo.path / rel).read_text())
    # swap two encrypted values: each GCM tag binds its key path, so both must fail
    doc["a"], doc["b"] = doc["b"], doc["a"]
    repo.write(rel, yaml.safe_dump(doc))
    repo.set_resources([_file("v", "etc/v", secret_ref("../secrets/v.sops.yaml", "a"))])
    run = Run(cli, repo)
    run("plan", "-e", "dev", expect=1)
    run.results.append(cli("secrets", "decrypt", str(repo.path / rel), expect=1))
    assert not repo.root.exists()
    _no_leaks(run, [good, other])
