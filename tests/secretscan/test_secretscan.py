"""Secret scanning with the real detect-secrets: what it finds, where, what it skips, the cache."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gitcops.model.findings import Severity
from gitcops.source.tree import DictTree, WorkTree
from gitcops.validate.secretscan import SecretScanner

from .conftest import (
    AWS_KEY_ID,
    AWS_SECRET_KEY,
    GITHUB_TOKEN,
    JWT,
    PASSWORD,
    PRIVATE_KEY,
    SLACK_TOKEN,
    STRIPE_KEY,
    assert_no_secret_material,
    dump,
    spec_strings,
    where,
)


def scan_tree(tree: Any, *, cache_dir: Path | None = None, **kw: Any) -> Any:
    """A scan by a new scanner (as a new process would run it) on `cache_dir`."""
    return SecretScanner(cache_dir / "secretscan" if cache_dir else None).scan_tree(tree, **kw)


def scan_values(values: Any, *, cache_dir: Path | None = None) -> Any:
    return SecretScanner(cache_dir / "secretscan" if cache_dir else None).scan_values(values)


def scan(files: dict[str, str]) -> list[tuple[str | None, int | None, str]]:
    return where(scan_tree(DictTree({p: c.encode() for p, c in files.items()})))


def indented(text: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in text.splitlines())


# -- what is found ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "rule"),
    [
        (f"aws_access_key_id: {AWS_KEY_ID}\n", "secrets.AWSKeyDetector"),
        (f"aws_secret_access_key: {AWS_SECRET_KEY}\n", "secrets.AWSKeyDetector"),
        (f"token: {GITHUB_TOKEN}\n", "secrets.GitHubTokenDetector"),
        (f"webhook: {SLACK_TOKEN}\n", "secrets.SlackDetector"),
        (f"stripe: {STRIPE_KEY}\n", "secrets.StripeDetector"),
        (f"session: {JWT}\n", "secrets.JwtTokenDetector"),
        (f"db:\n  password: {PASSWORD}\n", "secrets.KeywordDetector"),
        (f"opaque: {'Zm9vYmFyYmF6cXV4' + 'dGhlLXF1aWNrLWJyb3duLWZveC0xMjM0NTY3ODkw'}\n", None),
    ],
    ids=["aws-key-id", "aws-secret", "github", "slack", "stripe", "jwt", "password", "base64"],
)
def test_each_kind_of_secret_in_yaml_is_found_once_on_its_line(
    content: str, rule: str | None
) -> None:
    found = scan({"app/config.yaml": "kind: Config\n" + content})
    expected_line = content.count("\n") + 1
    if rule is None:
        rule = "secrets.Base64HighEntropyString"
    assert found == [("app/config.yaml", expected_line, rule)]


def test_a_finding_fails_validation_with_file_line_and_a_message_without_the_secret() -> None:
    tree = DictTree({"env/prod.yaml": f"a: 1\nb:\n  aws_key: {AWS_KEY_ID}\n".encode()})
    [finding] = scan_tree(tree)
    assert finding.source == "secrets"
    assert finding.rule == "secrets.AWSKeyDetector"
    assert finding.severity is Severity.FAILURE and finding.blocking
    assert finding.file == "env/prod.yaml" and finding.line == 3
    assert finding.message.startswith("possible AWS Access Key")
    details = dict(finding.details)
    assert details["detector"] == "AWSKeyDetector"
    assert len(details["hashPrefix"]) == 8 and details["hashPrefix"] in finding.message
    assert_no_secret_material(dump([finding]))


def test_a_private_key_is_found_in_a_pem_file_and_in_a_yaml_block_scalar() -> None:
    secret_yaml = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: tls\nstringData:\n  tls.key: |\n"
        + indented(PRIVATE_KEY, 4)
        + "\n"
    )
    found = scan({"keys/id_rsa.pem": PRIVATE_KEY + "\n", "tls.yaml": secret_yaml})
    assert found == [
        ("keys/id_rsa.pem", 1, "secrets.PrivateKeyDetector"),
        ("tls.yaml", 7, "secrets.PrivateKeyDetector"),  # the BEGIN line, reported once
    ]


def test_line_numbers_across_documents_comments_flow_styles_and_crlf() -> None:
    manifest = "\n".join(
        [
            "# a comment",  # 1
            "apiVersion: v1",  # 2
            "kind: ConfigMap",  # 3
            "data:",  # 4
            "  clean: value",  # 5
            "---",  # 6
            "apiVersion: apps/v1",  # 7
            "kind: Deployment",  # 8
            "spec:",  # 9
            "  containers:",  # 10
            "    - name: app",  # 11
            f'      args: ["--verbose", "{GITHUB_TOKEN}"]',  # 12
            "      env:",  # 13
            "        - name: DB_PASSWORD",  # 14
            f"          value: {PASSWORD}",  # 15
            "---",  # 16
            f"# old: {AWS_KEY_ID}",  # 17: commented out is still in the repository
            "other: {a: 1, stripe: " + STRIPE_KEY + "}",  # 18
            "",
        ]
    )
    expected = [
        ("m.yaml", 12, "secrets.GitHubTokenDetector"),
        ("m.yaml", 15, "secrets.KeywordDetector"),  # env name/value: DB_PASSWORD=...
        ("m.yaml", 17, "secrets.AWSKeyDetector"),
        ("m.yaml", 18, "secrets.StripeDetector"),
    ]
    assert scan({"m.yaml": manifest}) == expected
    assert scan({"m.yaml": manifest.replace("\n", "\r\n")}) == expected


def test_yaml_types_decide_what_is_a_value_but_comments_are_always_scanned() -> None:
    manifest = (
        "secret: true\n"  # a boolean, not a password
        "password: 12345\n"  # YAML says int
        f"replicas: 3  # was {AWS_KEY_ID}\n"
        f'empty: ""  # {GITHUB_TOKEN}\n'
        f"blob: !!binary {'Zm9vYmFyYmF6cXV4' + 'dGhlLXF1aWNrLWJyb3duLWZveC0xMjM0NTY3ODkw'}\n"
    )
    assert scan({"a.yaml": manifest}) == [
        ("a.yaml", 3, "secrets.AWSKeyDetector"),
        ("a.yaml", 4, "secrets.GitHubTokenDetector"),
        ("a.yaml", 5, "secrets.Base64HighEntropyString"),
    ]


def test_other_file_types_and_unparsable_yaml_are_scanned_line_by_line() -> None:
    files = {
        ".env": f"LOG_LEVEL=info\nDB_PASSWORD={PASSWORD}\n",  # detect-secrets' dotenv transformer
        "settings.ini": f"[db]\nhost = db\npassword = {PASSWORD}\n",
        "app.json": json.dumps({"auth": {"user": "app", "apiKey": AWS_KEY_ID}}, indent=2),
        "deploy.py": f'TOKEN = "{GITHUB_TOKEN}"\n',
        "chart/templates/secret.yaml": (
            f"{{{{- if .Values.enabled }}}}\nstringData:\n  password: {PASSWORD}\n{{{{- end }}}}\n"
        ),
    }
    assert scan(files) == [
        (".env", 2, "secrets.KeywordDetector"),
        ("app.json", 4, "secrets.AWSKeyDetector"),
        ("chart/templates/secret.yaml", 3, "secrets.KeywordDetector"),
        ("deploy.py", 1, "secrets.GitHubTokenDetector"),
        ("settings.ini", 3, "secrets.KeywordDetector"),
    ]


def test_a_secret_deep_in_a_long_minified_line_is_found_in_reasonable_time() -> None:
    items = [
        {"name": f"svc-{i}", "url": f"https://svc-{i}.example.internal/api"} for i in range(9000)
    ]
    items.insert(6000, {"name": "ci", "token": GITHUB_TOKEN})
    started = time.perf_counter()
    found = scan({"dashboards/all.min.json": json.dumps(items) + "\n"})
    assert time.perf_counter() - started < 20
    assert found == [("dashboards/all.min.json", 1, "secrets.GitHubTokenDetector")]


def test_ordinary_gitops_manifests_raise_nothing() -> None:
    ca_bundle = (
        "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJrVENCK3dJSkFLSGhuNTFpN2tPV01BMEdDU3FHU0li"
    )
    manifest = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  uid: 123e4567-e89b-12d3-a456-426614174000
  annotations:
    checksum/config: 0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31
spec:
  template:
    spec:
      containers:
        - name: web
          image: registry.example.com/web:3f786850e387
          env:
            - name: DB_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: db
                  key: password
            - name: PASSWORD_FILE
              value: /run/secrets/db-password
      volumes:
        - name: tls
          secret:
            secretName: web-tls
      imagePullSecrets:
        - name: regcred
---
apiVersion: argoproj.io/v1alpha1
kind: Application
spec:
  source:
    repoURL: https://github.com/example/deploy.git
    targetRevision: 9fceb02d0ae598e95dc970b74767f19372d61af8
    helm:
      values: |
        auth:
          existingSecret: db-credentials
          password: "{{{{ .Values.password }}}}"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
webhooks:
  - name: check.example.com
    clientConfig:
      caBundle: {ca_bundle}
      service:
        name: webhook
        namespace: system
    sideEffects: None
"""
    values = """\
auth:
  existingSecret: db-credentials
  userPasswordKey: password
  passwordFile: /run/secrets/password
ssh:
  publicKey: AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl
image:
  tag: "3f786850e387"
"""
    files = {"apps/web.yaml": manifest, "values.yaml": values, "README.md": "# Deploy\n"}
    assert scan(files) == []


# -- what is skipped or waived ----------------------------------------------------------------

SOPS_METADATA = """\
sops:
    kms: []
    age:
        - recipient: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
          enc: |
            -----BEGIN AGE ENCRYPTED FILE-----
            YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBqZkFYSHFlSEJ2b0VDeXlC
            -----END AGE ENCRYPTED FILE-----
    lastmodified: "2024-05-01T10:00:00Z"
    mac: ENC[AES256_GCM,data:q8Yp0Xc1ZmHk,iv:bXlpdg==,tag:dGFnZw==,type:str]
    unencrypted_suffix: _unencrypted
    version: 3.8.1
"""


def test_sops_encrypted_files_are_skipped_and_look_alikes_are_not() -> None:
    encrypted = (
        "password: ENC[AES256_GCM,data:Ym9ndXM=,iv:aXY=,tag:dGFn,type:str]\n"
        f"aws_key_unencrypted: {AWS_KEY_ID}\n" + SOPS_METADATA
    )
    two_documents = encrypted + "---\n" + encrypted
    sops_json = json.dumps(
        {"token": GITHUB_TOKEN, "sops": {"mac": "ENC[x]", "version": "3.8.1"}}, indent=2
    )
    sops_dotenv = f"AWS={AWS_KEY_ID}\nsops_mac=ENC[AES256_GCM,data:a]\nsops_version=3.8.1\n"
    sops_ini = f"[db]\npassword = {PASSWORD}\n[sops]\nmac = ENC[x]\nversion = 3.8.1\n"
    no_mac = encrypted.replace("    mac:", "    notmac:")
    half = "aws_key: " + AWS_KEY_ID + "\n---\n" + encrypted
    found = scan(
        {
            "secrets/db.enc.yaml": encrypted,
            "secrets/two.yaml": two_documents,
            "secrets/app.json": sops_json,
            "secrets/app.env": sops_dotenv,
            "secrets/app.ini": sops_ini,
            "not-sops/no-mac.yaml": no_mac,
            "not-sops/half.yaml": half,
        }
    )
    assert ("not-sops/no-mac.yaml", 2, "secrets.AWSKeyDetector") in found
    assert ("not-sops/half.yaml", 1, "secrets.AWSKeyDetector") in found
    assert {f for f, _, _ in found} == {"not-sops/no-mac.yaml", "not-sops/half.yaml"}


# Public keys: they name who may decrypt, and are meant to be committed.
AGE_ONE = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
AGE_TWO = "age1zqxw47tj30jz3nra0sv9dfxe54qh5gahzn25kzuttr2vm0dweadswh908v"
PGP_FP = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"
SSH_ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
SSH_RSA = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7vbqajDhA7mWtoBmBv6P3NzN1Z4Q5b0Vmk9Lk2Vn8Zl0f"
    "Kp1hQ3yJ7yTqQ6bWcW2bq5w8Ag0S4iN6m9mE4Y1z0cA7lB8dVv5nQp3xR2vL1sT9kH6jF4gD3aS2w"
)
SOPS_CONFIG = f"""\
creation_rules:
  - path_regex: secrets/prod/.*
    age: {AGE_ONE},{AGE_TWO}
    encrypted_regex: ^(data|stringData|password)$
  - path_regex: secrets/ops/.*
    age:
      - {AGE_ONE}
      - {SSH_ED25519} ops@example
      - {SSH_RSA}
    pgp: {PGP_FP}
  - key_groups:
      - age: [{AGE_TWO}]
        pgp:
          - {PGP_FP}
  - path_regex: secrets/dev/.*
    age: >-
      {AGE_ONE},
      {AGE_TWO}
  - age: {AGE_ONE}
"""


def test_sops_recipients_and_fingerprints_are_not_secrets() -> None:
    metadata = SOPS_METADATA + "    pgp:\n        - created_at: '2024-05-01T10:00:00Z'\n"
    metadata += f"          enc: x\n          fp: {PGP_FP}\n"
    no_mac = "image: nginx\n" + metadata.replace("    mac:", "    notmac:")  # not SOPS output
    found = scan(
        {
            ".sops.yaml": SOPS_CONFIG,
            "nested/.sops.yml": SOPS_CONFIG,
            "not-sops/app.yaml": no_mac,
        }
    )
    assert found == []


def test_a_real_secret_next_to_sops_recipients_is_still_found() -> None:
    config = SOPS_CONFIG.replace(
        "    encrypted_regex:",
        f"    # token: {GITHUB_TOKEN}\n    aws_key: {AWS_KEY_ID}\n    encrypted_regex:",
    )
    config += f"  - age: {GITHUB_TOKEN}\n    pgp: {AGE_ONE},{AWS_KEY_ID}\n"
    config += f"  - age: {SSH_ED25519} {AWS_KEY_ID}\n"
    metadata = SOPS_METADATA.replace("    mac:", "    notmac:").replace(
        "    kms: []", f"    kms: []\n    password: {PASSWORD}"
    )
    found = scan({".sops.yaml": config, "not-sops/app.yaml": metadata, "other.yaml": SOPS_CONFIG})
    assert (".sops.yaml", 4, "secrets.GitHubTokenDetector") in found
    assert (".sops.yaml", 5, "secrets.AWSKeyDetector") in found
    rules_end = len(config.splitlines())
    assert (".sops.yaml", rules_end - 2, "secrets.GitHubTokenDetector") in found  # not a key
    assert (".sops.yaml", rules_end - 1, "secrets.AWSKeyDetector") in found  # among recipients
    assert (".sops.yaml", rules_end, "secrets.AWSKeyDetector") in found  # as a key's comment
    assert ("not-sops/app.yaml", 3, "secrets.KeywordDetector") in found
    # Only .sops.yaml files hold creation rules: the same text elsewhere is scanned as any.
    assert any(f == "other.yaml" for f, _, _ in found)


def test_binary_files_git_directories_symlinks_and_excluded_paths_are_skipped(
    tmp_path: Path,
) -> None:
    root = tmp_path / "repo"
    (root / "sub" / ".git").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text(f"token = {GITHUB_TOKEN}\n")
    (root / "sub" / ".git" / "config").write_text(f"token = {GITHUB_TOKEN}\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0" + AWS_KEY_ID.encode())
    (root / "blob.dat").write_bytes(b"\0\1\2" + AWS_KEY_ID.encode())
    (root / "latin1.txt").write_bytes(b"caf\xe9 " + AWS_KEY_ID.encode())
    (root / "waived").mkdir()
    (root / "waived" / "fixture.yaml").write_text(f"key: {AWS_KEY_ID}\n")
    (root / "real.yaml").write_text(f"key: {AWS_KEY_ID}\n")
    (root / "link.yaml").symlink_to("real.yaml")

    found = where(scan_tree(WorkTree(root), exclude=lambda p: p.startswith("waived/")))
    assert found == [("real.yaml", 1, "secrets.AWSKeyDetector")]
    in_memory = {".git/config": f"token = {GITHUB_TOKEN}\n", "a/.git/HEAD": GITHUB_TOKEN}
    assert scan(in_memory) == []


def test_sealed_secrets_encrypted_data_is_not_a_plaintext_secret() -> None:
    sealed = """\
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: db
spec:
  encryptedData:
    password: AgBy3i4OJSWK+PiTySYZZA9rO43cGDEq8j5kZk8AqNFX1hdOvbnPuHf8Nj7KuAfd9BqkE6kJhN0G
  template:
    metadata:
      name: db
"""
    plain = sealed.replace("SealedSecret", "ConfigMap")
    assert scan({"sealed.yaml": sealed}) == []
    assert scan({"plain.yaml": plain}) == [("plain.yaml", 7, "secrets.KeywordDetector")]


def test_inline_allowlist_pragmas_waive_a_line() -> None:
    files = {
        "values.yaml": (
            f"aws_key: {AWS_KEY_ID}  # pragma: allowlist secret\n"
            "# pragma: allowlist nextline secret\n"
            f"token: {GITHUB_TOKEN}\n"
            f"password: {PASSWORD}\n"  # not waived
            "tls.key: |  # pragma: allowlist secret\n" + indented(PRIVATE_KEY, 2) + "\n"
        ),
        "deploy.py": (
            f'TOKEN = "{GITHUB_TOKEN}"  # pragma: allowlist secret\n'
            f'KEY = "{AWS_KEY_ID}"  // pragma: allowlist secret\n'
            f'OTHER = "{STRIPE_KEY}"\n'
        ),
    }
    assert scan(files) == [
        ("deploy.py", 3, "secrets.StripeDetector"),
        ("values.yaml", 4, "secrets.KeywordDetector"),
    ]


# -- the cache ----------------------------------------------------------------------------------


def test_results_are_cached_per_file_content_without_secret_material(cache_dir: Path) -> None:
    content = f"aws_key: {AWS_KEY_ID}\npassword: {PASSWORD}\ntoken: {GITHUB_TOKEN}\n"
    files = {
        "a/config.yaml": content,
        "b/config.yaml": content,  # same name and bytes: one cache entry
        "clean.yaml": "kind: Config\n",
        "jwt.txt": f"Authorization: Bearer {JWT}\n",
    }
    tree = DictTree({p: c.encode() for p, c in files.items()})
    cold = scan_tree(tree, cache_dir=cache_dir)
    entries = sorted((cache_dir / "secretscan").glob("*.json"))
    assert len(entries) == 3
    assert where(cold) == [
        ("a/config.yaml", 1, "secrets.AWSKeyDetector"),
        ("a/config.yaml", 2, "secrets.KeywordDetector"),
        ("a/config.yaml", 3, "secrets.GitHubTokenDetector"),
        ("b/config.yaml", 1, "secrets.AWSKeyDetector"),
        ("b/config.yaml", 2, "secrets.KeywordDetector"),
        ("b/config.yaml", 3, "secrets.GitHubTokenDetector"),
        ("jwt.txt", 1, "secrets.JwtTokenDetector"),
    ]
    assert_no_secret_material(dump(cold))
    for entry in entries:
        assert_no_secret_material(entry.read_text())

    warm = scan_tree(tree, cache_dir=cache_dir)
    assert warm == cold

    # The warm scan really reads the cache: an edited entry shows through, a broken one is redone.
    jwt_entry = next(e for e in entries if "JwtTokenDetector" in e.read_text())
    jwt_entry.write_text(jwt_entry.read_text().replace("[1,", "[42,"))
    assert ("jwt.txt", 42, "secrets.JwtTokenDetector") in where(
        scan_tree(tree, cache_dir=cache_dir)
    )
    jwt_entry.write_text("{not json")
    assert scan_tree(tree, cache_dir=cache_dir) == cold
    # A changed file is a new entry.
    changed = DictTree({"jwt.txt": b"nothing here\n"})
    assert scan_tree(changed, cache_dir=cache_dir) == []
    assert len(list((cache_dir / "secretscan").glob("*.json"))) == 4


def test_a_cache_hit_loads_neither_detect_secrets_nor_a_yaml_parser(
    tmp_path: Path, cache_dir: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.yaml").write_text(f"aws_key: {AWS_KEY_ID}\n")
    code = (
        "import sys; from pathlib import Path;"
        "from gitcops.source.tree import WorkTree;"
        "from gitcops.validate.secretscan import SecretScanner;"
        f"f = SecretScanner(Path({str(cache_dir)!r}) / 'secretscan')"
        f".scan_tree(WorkTree(Path({str(repo)!r})));"
        "print(len(f), sorted(m for m in ('detect_secrets', 'yaml') if m in sys.modules))"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    ]
    assert runs == ["1 ['detect_secrets', 'yaml']", "1 []"]


def test_ten_thousand_documents_scan_fast_and_faster_from_the_cache(cache_dir: Path) -> None:
    documents = []
    for i in range(10_000):
        extra = f"  DB_PASSWORD: {PASSWORD}{i}\n" if i % 2500 == 1 else ""
        documents.append(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: svc-{i}\n"
            f"  namespace: team-{i % 40}\ndata:\n  LOG_LEVEL: info\n"
            f"  URL: https://svc-{i}.example.internal:8443/api\n{extra}"
        )
    content = "---\n".join(documents).encode()
    tree = DictTree({"all.yaml": content})

    started = time.perf_counter()
    cold = scan_tree(tree, cache_dir=cache_dir)
    cold_seconds = time.perf_counter() - started
    started = time.perf_counter()
    warm = scan_tree(tree, cache_dir=cache_dir)
    warm_seconds = time.perf_counter() - started

    lines = [n for n, line in enumerate(content.decode().splitlines(), 1) if "DB_PASSWORD" in line]
    assert where(cold) == [("all.yaml", n, "secrets.KeywordDetector") for n in lines]
    assert len(lines) == 4 and warm == cold
    assert cold_seconds < 20, cold_seconds  # about 1 s on a laptop; generous for busy CI
    assert warm_seconds < min(1.0, cold_seconds), warm_seconds


# -- resource specs ---------------------------------------------------------------------------


def test_scan_values_finds_secret_material_in_nested_specs() -> None:
    spec = {
        "containers": [
            {
                "name": "app",
                "image": "registry.example.com/app:3f786850e387",
                "args": ["--verbose", f"--token={GITHUB_TOKEN}"],
                "env": [
                    {"name": "DB_PASSWORD", "value": PASSWORD},
                    {"name": "LOG_LEVEL", "value": "info"},
                ],
            }
        ],
        "tls": {"secretName": "web-tls"},
        "auth": {"password": PASSWORD, "username": "app"},
        "cloud": {"credentials": {"accessKeyId": AWS_KEY_ID}},
        "files": {
            "config.ini": f"[db]\nuser = app\npassword = {PASSWORD}\n",
            "waived.ini": f"# pragma: allowlist nextline secret\npassword = {PASSWORD}\n",
            "key.pem": PRIVATE_KEY,
        },
        "checksum": "9fceb02d0ae598e95dc970b74767f19372d61af8",
    }
    found = scan_values(spec_strings(spec))
    assert [(path, what.split(" (")[0]) for path, what in found] == [
        (("spec", "containers", 0, "args", 1), "a possible GitHub Token"),
        (("spec", "containers", 0, "env", 0, "value"), "a possible password or secret"),
        (("spec", "auth", "password"), "a possible password or secret"),
        (("spec", "cloud", "credentials", "accessKeyId"), "a possible AWS Access Key"),
        (("spec", "files", "config.ini"), "a possible password or secret"),
        (("spec", "files", "key.pem"), "a possible Private Key"),
    ]
    for _, what in found:
        assert_no_secret_material(what)
    assert scan_values([]) == []
    assert scan_values([(("spec", "name"), "name", "web")]) == []


def test_scan_each_equals_each_spec_scanned_alone_and_analyses_a_repeated_text_once() -> None:
    specs = [
        list(spec_strings(spec))
        for spec in [
            {"auth": {"password": PASSWORD}, "mode": "0644"},
            {},
            {"env": [{"name": "DB_PASSWORD", "value": PASSWORD}], "mode": "0644"},
            {"token": GITHUB_TOKEN, "mode": "0644"},
            {"mode": "0644", "note": "hello"},
        ]
    ]
    alone = [scan_values(values) for values in specs]
    scanner = SecretScanner(None)
    assert scanner.scan_each(specs) == alone
    assert alone[0] and alone[2] and alone[3] and not alone[1] and not alone[4]
    once = scanner.analysed
    # The same specs again, five times over, in one session: nothing more is analysed.
    again = SecretScanner(None)
    assert again.scan_each(specs * 5) == alone * 5
    assert again.analysed == once
    # Each spec in a session of its own analyses `mode: "0644"` each time.
    separate = SecretScanner(None)
    for values in specs:
        separate.scan_each([values])
    assert separate.analysed > once


_SCREEN_SPEC = {
    "containers": [
        {
            "image": "registry.example.com/app:3f786850e387",
            "args": ["--verbose", f"--token={GITHUB_TOKEN}", f"--slack={SLACK_TOKEN}"],
            "env": [
                {"name": "DB_PASSWORD", "value": PASSWORD},
                {"name": "LOG_LEVEL", "value": "info"},
            ],
        }
    ],
    "auth": {"password": PASSWORD, "jwt": JWT, "stripe": STRIPE_KEY},
    "cloud": {"accessKeyId": AWS_KEY_ID, "secretAccessKey": AWS_SECRET_KEY},
    "files": {
        "config.ini": f"[db]\nuser = app\npassword = {PASSWORD}\n",
        "waived.ini": f"# pragma: allowlist nextline secret\npassword = {PASSWORD}\n",
        "key.pem": PRIVATE_KEY,
        "long.json": json.dumps({"k": "v" * 9000, "token": GITHUB_TOKEN}),
    },
    "checksum": "9fceb02d0ae598e95dc970b74767f19372d61af8",
    "content": "0123456789abcdef" * 12,
    "motd": "hello\nworld\n",
}


def test_the_saved_screen_finds_what_the_engine_finds(tmp_path: Path) -> None:
    expected = scan_values(spec_strings(_SCREEN_SPEC))
    assert len(expected) >= 8
    assert scan_values(spec_strings(_SCREEN_SPEC), cache_dir=tmp_path) == expected
    [saved] = (tmp_path / "secretscan").glob("screen-*.json")
    # A new scanner (a new process): no detectors yet; the screen decides which values need
    # them, and finds what a scanner with them loaded finds, value by value.
    loaded = SecretScanner(None)
    loaded.load_detectors()
    for path, key, value in spec_strings(_SCREEN_SPEC):
        alone = loaded.scan_values([(path, key, value)])
        assert scan_values([(path, key, value)], cache_dir=tmp_path) == alone
    assert scan_values(spec_strings(_SCREEN_SPEC), cache_dir=tmp_path) == expected
    saved.write_text("not json")
    assert scan_values(spec_strings(_SCREEN_SPEC), cache_dir=tmp_path) == expected


def test_a_screen_with_a_pattern_that_does_not_compile_still_finds_secrets(
    tmp_path: Path,
) -> None:
    """A damaged cache file: its broken gate rules nothing out, so the detectors run."""
    import json

    expected = scan_values(spec_strings(_SCREEN_SPEC))
    scan_values(spec_strings(_SCREEN_SPEC), cache_dir=tmp_path)  # saves the screen
    [saved] = (tmp_path / "secretscan").glob("screen-*.json")
    specs = json.loads(saved.read_text())
    broken = 0
    for spec, _whole in specs:
        if spec[0] == "any":
            for pattern in spec[1]:
                if pattern[2] is not None:
                    pattern[0] += "[("  # no longer a regular expression
                    broken += 1
    assert broken > 5
    saved.write_text(json.dumps(specs))
    assert scan_values(spec_strings(_SCREEN_SPEC), cache_dir=tmp_path) == expected


def test_values_the_screen_clears_never_load_detect_secrets(tmp_path: Path) -> None:
    benign = {"path": "d000/f00001.txt", "content": "1:0:" + "ab12" * 40, "mode": "0644"}
    first = SecretScanner(tmp_path / "secretscan")
    assert first.needs_detectors()
    assert first.scan_values(spec_strings(benign)) == []  # saves the screen
    assert first.detectors_loaded and not first.needs_detectors()

    scanner = SecretScanner(tmp_path / "secretscan")
    assert scanner.scan_values(spec_strings(benign)) == []
    assert not scanner.detectors_loaded
    assert scanner.scan_values(spec_strings({"password": PASSWORD}))
    assert scanner.detectors_loaded


def test_a_scanner_saves_the_screen_once(tmp_path: Path) -> None:
    scanner = SecretScanner(tmp_path / "secretscan")
    assert scanner.scan_values(spec_strings({"password": PASSWORD}))
    [saved] = (tmp_path / "secretscan").glob("screen-*.json")
    saved.unlink()
    assert scanner.scan_values(spec_strings({"password": PASSWORD}))
    assert not saved.exists()  # written once per scanner (per Runtime)
