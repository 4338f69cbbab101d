"""Identity sources (keys.py) and .sops.yaml creation rules (config.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitcops.model.errors import SecretError, SecretKeyError
from gitcops.secrets.config import CreationRule, find_config, rule_for
from gitcops.secrets.keys import default_key_file, load_identities, parse_recipients
from gitcops.secrets.sops import EncryptionRules, SopsFormat, decrypt, encrypt
from sops_format.helpers import AgeKey


def _recipients(identities: list[object]) -> list[str]:
    return [str(i.to_public()) for i in identities]  # type: ignore[attr-defined]


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg"), **values}


def test_sources_in_order_and_described(tmp_path: Path, key: AgeKey, other_key: AgeKey) -> None:
    third = AgeKey(tmp_path, "third")
    default = tmp_path / "xdg" / "sops" / "age" / "keys.txt"
    default.parent.mkdir(parents=True)
    fourth = AgeKey(default.parent, "keys")
    env = _env(
        tmp_path, SOPS_AGE_KEY=f"# comment\n{key.secret}\n", SOPS_AGE_KEY_FILE=str(other_key.path)
    )
    identities, tried = load_identities(env, [third.path])
    assert _recipients(identities) == [
        key.recipient,
        other_key.recipient,
        third.recipient,
        fourth.recipient,
    ]
    assert tried.startswith("SOPS_AGE_KEY (1 key), ")
    assert str(other_key.path) in tried and str(default) in tried
    for secret in (key.secret, other_key.secret, third.secret, fourth.secret):
        assert secret not in tried


def test_missing_default_file_is_not_an_error(tmp_path: Path) -> None:
    identities, tried = load_identities(_env(tmp_path))
    assert identities == [] and "not found" in tried


def test_default_path_without_xdg(tmp_path: Path) -> None:
    assert default_key_file({"HOME": "/h"}) == Path("/h/.config/sops/age/keys.txt")
    assert default_key_file({"XDG_CONFIG_HOME": "/x"}) == Path("/x/sops/age/keys.txt")


def test_named_missing_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(SecretKeyError, match=r"nope\.txt does not exist"):
        load_identities(_env(tmp_path, SOPS_AGE_KEY_FILE=str(missing)))
    with pytest.raises(SecretKeyError, match=r"nope\.txt does not exist"):
        load_identities(_env(tmp_path), [missing])


def test_bad_key_line_names_file_and_line_without_the_key(tmp_path: Path, key: AgeKey) -> None:
    broken = key.secret[:-3] + "QQQ"
    path = tmp_path / "bad.txt"
    path.write_text(f"# created\n{key.secret}\n\n{broken}\n")
    with pytest.raises(SecretKeyError, match=r"bad\.txt line 4 is not a valid age identity") as e:
        load_identities(_env(tmp_path, SOPS_AGE_KEY_FILE=str(path)))
    assert broken not in str(e.value) and key.secret not in str(e.value)
    with pytest.raises(SecretKeyError, match="SOPS_AGE_KEY line 1") as e:
        load_identities(_env(tmp_path, SOPS_AGE_KEY="not-a-key-at-all"))
    assert "not-a-key-at-all" not in str(e.value)


def test_post_quantum_identities_are_skipped(tmp_path: Path, key: AgeKey) -> None:
    env = _env(tmp_path, SOPS_AGE_KEY=f"AGE-SECRET-KEY-PQ-1QQQQ\n{key.secret}")
    identities, tried = load_identities(env)
    assert _recipients(identities) == [key.recipient]
    assert "1 unsupported skipped" in tried


def test_loaded_identities_decrypt(tmp_path: Path, key: AgeKey) -> None:
    sealed = encrypt(b"a: b\n", SopsFormat.YAML, [key.recipient], source="f")
    identities, tried = load_identities(_env(tmp_path, SOPS_AGE_KEY_FILE=str(key.path)))
    assert decrypt(sealed, SopsFormat.YAML, identities, source="f", tried=tried).lookup("a") == "b"


def test_parse_recipients(key: AgeKey, other_key: AgeKey) -> None:
    assert parse_recipients(f"{key.recipient}, {other_key.recipient}") == [
        key.recipient,
        other_key.recipient,
    ]
    assert parse_recipients([f"{key.recipient},", other_key.recipient]) == [
        key.recipient,
        other_key.recipient,
    ]
    with pytest.raises(SecretError, match="'age1nope' is not a valid age X25519 recipient"):
        parse_recipients("age1nope")
    with pytest.raises(SecretError, match="'ssh-ed25519' is not an age recipient"):
        parse_recipients(["ssh-ed25519"])


CONFIG = """\
creation_rules:
  - path_regex: (inside|pgp)\\.yaml$
    pgp: ABCDEF
  - path_regex: ^secrets/.*\\.json$
    age: {a}, {b}
    encrypted_suffix: _secret
  - path_regex: \\.yaml$
    encrypted_regex: ^(data|stringData)$
    mac_only_encrypted: true
    key_groups:
      - age:
          - {a}
  - path_regex: \\.env$
    key_groups: [{{age: [{a}]}}, {{pgp: [ABC]}}]
  - unencrypted_regex: ^public
    age: [{b}]
"""


@pytest.fixture
def config(tmp_path: Path, key: AgeKey, other_key: AgeKey) -> Path:
    path = tmp_path / "repo" / ".sops.yaml"
    (tmp_path / "repo" / "secrets" / "deep").mkdir(parents=True)
    path.write_text(CONFIG.format(a=key.recipient, b=other_key.recipient))
    return path


def test_find_config_walks_up(config: Path, tmp_path: Path) -> None:
    assert find_config(config.parent / "secrets" / "deep") == config.resolve()
    assert find_config(config.parent / "secrets" / "deep" / "x.yaml") == config.resolve()
    assert find_config(tmp_path) is None or find_config(tmp_path) != config.resolve()


def test_rule_matching(config: Path, key: AgeKey, other_key: AgeKey) -> None:
    repo = config.parent
    assert rule_for(config, repo / "secrets" / "db.json") == CreationRule(
        [key.recipient, other_key.recipient], EncryptionRules(encrypted_suffix="_secret")
    )
    assert rule_for(config, Path("app/secret.yaml")) == CreationRule(
        [key.recipient],
        EncryptionRules(encrypted_regex="^(data|stringData)$", mac_only_encrypted=True),
    )
    assert rule_for(config, repo / "other.txt") == CreationRule(
        [other_key.recipient], EncryptionRules(unencrypted_regex="^public")
    )


def test_pgp_only_rule_is_an_error_naming_file_and_index(config: Path) -> None:
    with pytest.raises(SecretError, match=r"\.sops\.yaml: creation_rules\[0\] lists pgp keys"):
        rule_for(config, config.parent / "x" / "pgp.yaml")


def test_shamir_rule_is_unsupported(config: Path) -> None:
    with pytest.raises(SecretError, match=r"creation_rules\[3\]\.key_groups: only one key group"):
        rule_for(config, config.parent / "a.env")


def test_no_matching_rule(tmp_path: Path, key: AgeKey) -> None:
    path = tmp_path / ".sops.yaml"
    path.write_text(f"creation_rules:\n  - path_regex: \\.yaml$\n    age: {key.recipient}\n")
    with pytest.raises(SecretError, match=r"no creation rule matches a\.json"):
        rule_for(path, tmp_path / "a.json")


def test_flux_vector_config(vectors: Path) -> None:
    config = vectors / "sops-flux" / ".sops.yaml"
    rule = rule_for(config, config.parent / "algorithms" / "age.yaml")
    assert rule.recipients == ["age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29"]
    assert rule.rules == EncryptionRules(encrypted_regex="^(data|stringData)$")
    assert rule_for(config, config.parent / "envs" / "env.env").rules == EncryptionRules()
    with pytest.raises(SecretError, match="pgp"):
        rule_for(config, config.parent / "algorithms" / "pgp.yaml")
