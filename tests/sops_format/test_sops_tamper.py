"""Tampering, wrong keys and malformed files fail loudly, and errors never leak plaintext."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from gitcops.model.errors import SecretError, SecretIntegrityError, SecretKeyError
from gitcops.secrets.sops import SopsFormat, decrypt, encrypt, rotate
from sops_format.helpers import AgeKey

SECRET = "hunter2-very-secret"
PLAIN = f"app2:\n    db:\n        password: {SECRET}\n    user: eve\n".encode()


@pytest.fixture
def sealed(key: AgeKey) -> bytes:
    return encrypt(PLAIN, SopsFormat.YAML, [key.recipient], source="secrets/app.sops.yaml")


def _fails(
    data: bytes, identities: list[object], error: type[SecretError], match: str
) -> SecretError:
    with pytest.raises(error, match=match) as caught:
        decrypt(data, SopsFormat.YAML, identities, source="secrets/app.sops.yaml", tried="env")
    message = str(caught.value)
    assert SECRET not in message and "secrets/app.sops.yaml" in message
    return caught.value


def _edit_value(data: bytes, key: str, edit: Callable[[str], str]) -> bytes:
    pattern = re.compile(rf"({key}: ENC\[AES256_GCM,data:)([^,]+)".encode())
    return pattern.sub(lambda m: m[1] + edit(m[2].decode()).encode(), data, count=1)


def _flip(b64: str) -> str:
    """Another valid base64 string of the same length."""
    return ("B" if b64[0] == "A" else "A") + b64[1:]


def test_flipped_ciphertext_names_file_and_path(key: AgeKey, sealed: bytes) -> None:
    tampered = _edit_value(sealed, "password", _flip)
    _fails(tampered, [key.identity], SecretIntegrityError, r"value app2\.db\.password")


def test_value_moved_to_another_key_fails_its_tag(key: AgeKey, sealed: bytes) -> None:
    swapped = sealed.replace(b"password:", b"passw0rd:")
    _fails(swapped, [key.identity], SecretIntegrityError, r"app2\.db\.passw0rd")


def test_changed_mac_fails(key: AgeKey, sealed: bytes) -> None:
    tampered = _edit_value(sealed, "mac", _flip)
    _fails(tampered, [key.identity], SecretIntegrityError, "sops.mac does not authenticate")


def test_changed_lastmodified_fails_the_mac(key: AgeKey, sealed: bytes) -> None:
    tampered = re.sub(rb"(lastmodified: [\"']?)\d{4}", rb"\g<1>1999", sealed)
    _fails(tampered, [key.identity], SecretIntegrityError, "sops.mac")


def test_missing_mac_fails(key: AgeKey, sealed: bytes) -> None:
    tampered = re.sub(rb"\n    mac: ENC\[[^\]]+\]", b"", sealed)
    _fails(tampered, [key.identity], SecretIntegrityError, r"no MAC \(sops\.mac\)")


def test_mac_from_another_file_is_a_mismatch(key: AgeKey, sealed: bytes) -> None:
    # Same data key, but the values differ: only the MAC can notice a removed value.
    without_user = re.sub(rb"\n    user: ENC\[[^\]]+\]", b"", sealed)
    _fails(without_user, [key.identity], SecretIntegrityError, "MAC mismatch")


def test_wrong_identity(sealed: bytes, key: AgeKey, other_key: AgeKey) -> None:
    error = _fails(sealed, [other_key.identity], SecretKeyError, "no configured age identity")
    assert key.recipient in str(error) and "tried env" in str(error)


def test_no_identity(sealed: bytes, key: AgeKey) -> None:
    error = _fails(sealed, [], SecretKeyError, "no age identity is configured")
    assert key.recipient in str(error)


def test_unknown_value_type(key: AgeKey, sealed: bytes) -> None:
    tampered = sealed.replace(b"type:str]", b"type:blob]", 1)
    _fails(tampered, [key.identity], SecretError, "unknown type 'blob'")


def test_unsupported_version(key: AgeKey, sealed: bytes) -> None:
    tampered = re.sub(rb"version: 3\.9\.0", b"version: 4.0.0", sealed)
    _fails(tampered, [key.identity], SecretError, r"sops\.version '4\.0\.0' is not supported")


def test_plain_value_where_encrypted_expected(key: AgeKey, sealed: bytes) -> None:
    tampered = re.sub(rb"user: ENC\[[^\]]+\]", b"user: 7", sealed)
    _fails(tampered, [key.identity], SecretError, r"app2\.user should be encrypted")


def test_garbled_enc_syntax_does_not_echo_the_value(key: AgeKey, sealed: bytes) -> None:
    tampered = re.sub(rb"user: ENC\[[^\]]+\]", f"user: not-enc-{SECRET}".encode(), sealed)
    _fails(tampered, [key.identity], SecretError, r"app2\.user is not in the SOPS ENC")


def test_two_encryption_rules_are_rejected(key: AgeKey, sealed: bytes) -> None:
    tampered = sealed.replace(b"    version:", b"    encrypted_regex: x\n    version:")
    _fails(tampered, [key.identity], SecretError, "only one of encrypted_suffix")


def test_shamir_key_groups_are_unsupported(key: AgeKey, sealed: bytes) -> None:
    group = (
        b"    key_groups:\n        - age: [{recipient: a, enc: b}]\n"
        b"        - age: [{recipient: c, enc: d}]\n    age: []\n"
    )
    tampered = re.sub(rb"    age:\n(        .*\n|          .*\n)+", group, sealed)
    _fails(tampered, [key.identity], SecretError, "2 key groups \\(Shamir")


def test_pgp_only_metadata_names_the_key_types(key: AgeKey, sealed: bytes) -> None:
    tampered = re.sub(rb"    age:\n(        .*\n|          .*\n)+", b"    age: []\n", sealed)
    tampered = tampered.replace(b"    pgp: []", b"    pgp: [{fp: X, enc: Y, created_at: Z}]")
    _fails(tampered, [key.identity], SecretError, "only for 1 pgp keys; gitcops supports only age")


def test_not_a_sops_file(key: AgeKey) -> None:
    _fails(PLAIN, [key.identity], SecretError, "not a SOPS-encrypted file")


def test_comment_rules_are_unsupported(key: AgeKey, sealed: bytes) -> None:
    tampered = sealed.replace(b"    version:", b"    encrypted_comment_regex: x\n    version:")
    _fails(tampered, [key.identity], SecretError, "encrypted_comment_regex is not supported")


def test_rotate_refuses_to_remove_every_recipient(key: AgeKey, sealed: bytes) -> None:
    with pytest.raises(SecretError, match="would leave none"):
        rotate(sealed, SopsFormat.YAML, [key.identity], remove=[key.recipient], source="f")


def test_errors_for_each_format_never_contain_plaintext(key: AgeKey) -> None:
    cases = {
        SopsFormat.JSON: f'{{"password": "{SECRET}"}}',
        SopsFormat.DOTENV: f"PASSWORD={SECRET}\n",
        SopsFormat.INI: f"[db]\npassword = {SECRET}\n",
        SopsFormat.BINARY: SECRET,
    }
    for fmt, plain in cases.items():
        sealed = encrypt(plain.encode(), fmt, [key.recipient], source="f")
        mac = re.search(rb"mac[\"=: ]+\"?ENC\[AES256_GCM,data:([^,]+)", sealed)
        assert mac is not None
        tampered = sealed.replace(mac[1], _flip(mac[1].decode()).encode())
        with pytest.raises(SecretIntegrityError) as caught:
            decrypt(tampered, fmt, [key.identity], source="f")
        assert SECRET not in str(caught.value)


def test_dotenv_line_without_equals_is_not_echoed(key: AgeKey) -> None:
    with pytest.raises(SecretError, match="line 2 is not KEY=VALUE") as caught:
        encrypt(f"A=1\n{SECRET}\n".encode(), SopsFormat.DOTENV, [key.recipient], source="f")
    assert SECRET not in str(caught.value)
