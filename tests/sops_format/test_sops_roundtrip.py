"""encrypt -> decrypt round trips for every format, value type and encryption rule."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gitcops.secrets.sops import (
    Decrypted,
    EncryptionRules,
    SopsFormat,
    decrypt,
    decrypt_to_text,
    encrypt,
    format_for,
    looks_encrypted,
    reencrypt,
    rotate,
)
from gitcops.secrets.yamlio import load_documents
from sops_format.helpers import AgeKey

YAML_PLAIN = """\
name: ünïcode ✓
count: 42
negative: -7
ratio: 25.4
big: 1234568000.0
enabled: true
disabled: false
word: yes
octal: 0644
date: 2024-01-02
empty: ""
nothing: null
multi: |
    line one
    line two
nested:
    db:
        password: s3cr3t
        port: 5432
    list:
        - a
        - 1
        - {inner: x}
        - [deep, 2.5]
plain_unencrypted: visible
---
second: doc
"""


def _roundtrip(plain: bytes, fmt: SopsFormat, key: AgeKey, **rules: Any) -> Decrypted:
    sealed = encrypt(plain, fmt, [key.recipient], EncryptionRules(**rules), source="f")
    assert looks_encrypted(sealed, fmt)
    assert not looks_encrypted(plain, fmt)
    return decrypt(sealed, fmt, [key.identity], source="f")


def test_yaml_round_trip_keeps_types_documents_and_order(key: AgeKey) -> None:
    result = _roundtrip(YAML_PLAIN.encode(), SopsFormat.YAML, key)
    assert result.documents == load_documents(YAML_PLAIN.encode())
    first = result.documents[0]
    assert list(first) == list(load_documents(YAML_PLAIN.encode())[0])
    assert first["word"] == "yes" and first["octal"] == 420 and first["date"] == "2024-01-02"
    assert result.lookup("nested.db.password") == "s3cr3t"
    assert result.lookup("count") == 42
    assert result.recipients == (key.recipient,)


def test_yaml_values_are_encrypted_except_unencrypted_suffix(key: AgeKey) -> None:
    sealed = encrypt(YAML_PLAIN.encode(), SopsFormat.YAML, [key.recipient], source="f")
    for secret in (b"s3cr3t", b"5432", "ünïcode".encode(), b"line two", b"25.4"):
        assert secret not in sealed
    doc = load_documents(sealed)[0]
    assert doc["plain_unencrypted"] == "visible"
    assert doc["empty"] == "" and doc["nothing"] is None
    assert doc["count"].endswith(",type:int]") and doc["ratio"].endswith(",type:float]")
    assert doc["enabled"].endswith(",type:bool]")
    assert doc["sops"]["unencrypted_suffix"] == "_unencrypted"
    assert doc["sops"]["version"] == "3.9.0"
    assert load_documents(sealed)[1]["sops"] == doc["sops"]  # metadata in every document


def test_json_numbers_are_floats_and_output_is_tab_indented(key: AgeKey) -> None:
    plain = b'{"a": 1, "b": [1.5, true, null, "x"], "c": {"d": ""}, "e": []}'
    result = _roundtrip(plain, SopsFormat.JSON, key)
    assert result.documents == [{"a": 1.0, "b": [1.5, True, None, "x"], "c": {"d": ""}, "e": []}]
    assert isinstance(result.documents[0]["a"], float)
    sealed = encrypt(plain, SopsFormat.JSON, [key.recipient], source="f")
    assert sealed.startswith(b'{\n\t"a": "ENC[') and sealed.endswith(b"}\n")
    assert list(json.loads(sealed))[-1] == "sops"
    text = decrypt_to_text(sealed, SopsFormat.JSON, [key.identity], source="f")
    assert (
        text == b'{\n\t"a": 1,\n\t"b": [\n\t\t1.5,\n\t\ttrue,\n\t\tnull,\n\t\t"x"\n\t],'
        b'\n\t"c": {\n\t\t"d": ""\n\t},\n\t"e": []\n}\n'
    )


def test_dotenv_round_trip_with_newlines_and_flat_metadata(key: AgeKey) -> None:
    plain = b"# comment\nA=1\nB=two words\nC=line\\nbreak\n\nD=\nE =spaced \n"
    result = _roundtrip(plain, SopsFormat.DOTENV, key)
    assert result.documents == [
        {"A": "1", "B": "two words", "C": "line\nbreak", "D": "", "E ": "spaced "}
    ]
    sealed = encrypt(plain, SopsFormat.DOTENV, [key.recipient], source="f")
    keys = [line.split("=", 1)[0] for line in sealed.decode().splitlines()]
    metadata = [k for k in keys if k.startswith("sops_")]
    assert metadata == sorted(metadata)
    assert "sops_age__list_0__map_recipient" in metadata and "sops_mac" in metadata
    assert "sops_kms" not in metadata  # empty lists vanish
    text = decrypt_to_text(sealed, SopsFormat.DOTENV, [key.identity], source="f")
    assert text == b"A=1\nB=two words\nC=line\\nbreak\nD=\nE =spaced \n"


def test_ini_round_trip_sections_and_quoting(key: AgeKey) -> None:
    plain = (
        b"; comment\n[name]\nfirst = John\nage: 25.4\n\n[odd values]\nhash = `a#b`\n"
        b'space = " padded "\nmulti = """one\ntwo"""\nnotsecret_unencrypted = hi\n'
    )
    result = _roundtrip(plain, SopsFormat.INI, key)
    expected = {
        "name": {"first": "John", "age": "25.4"},
        "odd values": {
            "hash": "a#b",
            "space": " padded ",
            "multi": "one\ntwo",
            "notsecret_unencrypted": "hi",
        },
    }
    assert result.documents == [expected]
    sealed = encrypt(plain, SopsFormat.INI, [key.recipient], source="f")
    assert b"notsecret_unencrypted = hi\n" in sealed and b"\n[sops]\n" in sealed
    text = decrypt_to_text(sealed, SopsFormat.INI, [key.identity], source="f")
    assert decrypt(
        encrypt(text, SopsFormat.INI, [key.recipient], source="g"),
        SopsFormat.INI,
        [key.identity],
        source="g",
    ).documents == [expected]


def test_binary_round_trip_is_byte_exact_even_for_non_utf8(key: AgeKey) -> None:
    plain = b"\x00\xff\xfe binary \xc3\x28 data\n" + bytes(range(256))
    sealed = encrypt(plain, SopsFormat.BINARY, [key.recipient], source="f")
    assert set(json.loads(sealed)) == {"data", "sops"}
    assert decrypt_to_text(sealed, SopsFormat.BINARY, [key.identity], source="f") == plain
    text = "hello ✓\n"
    result = _roundtrip(text.encode(), SopsFormat.BINARY, key)
    assert result.documents == [text] and result.lookup(None) == text


@pytest.mark.parametrize(
    ("rules", "encrypted", "clear"),
    [
        ({}, ["a", "b_x"], ["c_unencrypted"]),
        ({"unencrypted_suffix": "_x"}, ["a", "c_unencrypted"], ["b_x"]),
        ({"encrypted_suffix": "_x"}, ["b_x"], ["a", "c_unencrypted"]),
        ({"unencrypted_regex": "^(a|b)"}, ["c_unencrypted"], ["a", "b_x"]),
        ({"encrypted_regex": "^a$"}, ["a"], ["b_x", "c_unencrypted"]),
    ],
)
def test_each_encryption_rule(
    key: AgeKey, rules: dict[str, str], encrypted: list[str], clear: list[str]
) -> None:
    plain = b"a: {n: 1}\nb_x: two\nc_unencrypted: [3]\n"
    sealed = encrypt(plain, SopsFormat.YAML, [key.recipient], EncryptionRules(**rules), source="f")
    doc = load_documents(sealed)[0]
    text = json.dumps({k: doc[k] for k in encrypted})
    assert "ENC[" in text and all("ENC[" not in json.dumps(doc[k]) for k in clear)
    for name, value in (rules or {"unencrypted_suffix": "_unencrypted"}).items():
        assert doc["sops"][name] == value
    assert decrypt(sealed, SopsFormat.YAML, [key.identity], source="f").documents == [
        {"a": {"n": 1}, "b_x": "two", "c_unencrypted": [3]}
    ]


def test_mac_only_encrypted_ignores_clear_values_in_the_mac(key: AgeKey) -> None:
    plain = b"secret: s\nnote_unencrypted: v1\n"
    rules = EncryptionRules(mac_only_encrypted=True)
    sealed = encrypt(plain, SopsFormat.YAML, [key.recipient], rules, source="f")
    assert load_documents(sealed)[0]["sops"]["mac_only_encrypted"] is True
    edited = sealed.replace(b"note_unencrypted: v1", b"note_unencrypted: v2")
    assert (
        decrypt(edited, SopsFormat.YAML, [key.identity], source="f").lookup("note_unencrypted")
        == "v2"
    )


def test_reencrypt_keeps_unchanged_ciphertexts_key_and_rules(key: AgeKey) -> None:
    rules = EncryptionRules(encrypted_regex="^(data|stringData)$")
    plain = b"kind: Secret\nstringData:\n    a: one\n    b: two\n"
    sealed = encrypt(plain, SopsFormat.YAML, [key.recipient], rules, source="f")
    edited = reencrypt(
        sealed, SopsFormat.YAML, plain.replace(b"two", b"TWO"), [key.identity], source="f"
    )
    before, after = load_documents(sealed)[0], load_documents(edited)[0]
    assert after["stringData"]["a"] == before["stringData"]["a"]
    assert after["stringData"]["b"] != before["stringData"]["b"]
    assert after["sops"]["age"] == before["sops"]["age"]
    assert after["sops"]["encrypted_regex"] == "^(data|stringData)$"
    assert (
        decrypt(edited, SopsFormat.YAML, [key.identity], source="f").lookup("stringData.b") == "TWO"
    )


def test_rotate_changes_data_key_and_recipients(key: AgeKey, other_key: AgeKey) -> None:
    sealed = encrypt(b"a: 1\n", SopsFormat.YAML, [key.recipient], source="f")
    rotated = rotate(
        sealed,
        SopsFormat.YAML,
        [key.identity],
        add=[other_key.recipient],
        remove=[key.recipient],
        source="f",
    )
    assert decrypt(rotated, SopsFormat.YAML, [other_key.identity], source="f").documents == [
        {"a": 1}
    ]
    before, after = load_documents(sealed)[0], load_documents(rotated)[0]
    assert after["a"] != before["a"]
    assert [s["recipient"] for s in after["sops"]["age"]] == [other_key.recipient]


def test_format_for_matches_sops() -> None:
    assert [
        format_for(p)
        for p in (
            "a.yaml",
            "b.yml",
            "c.json",
            "d.env",
            "e.ini",
            "f.txt",
            "secret.sops.yaml",
            "noext",
        )
    ] == ["yaml", "yaml", "json", "dotenv", "ini", "binary", "yaml", "binary"]
