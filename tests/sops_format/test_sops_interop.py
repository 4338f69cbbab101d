"""Interoperability with the real sops binary, both ways, for every format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gitcops.secrets.dotenv import load_dotenv
from gitcops.secrets.ini import load_ini
from gitcops.secrets.sops import (
    EncryptionRules,
    SopsFormat,
    decrypt,
    encrypt,
    reencrypt,
    rotate,
)
from gitcops.secrets.yamlio import load_documents
from sops_format.helpers import AgeKey, SopsRunner

PLAIN: dict[SopsFormat, bytes] = {
    SopsFormat.YAML: (
        b"name: caf\xc3\xa9\ncount: 3\nratio: 0.5\nbig: 1234568000.0\nflag: true\nword: yes\n"
        b"when: '2024-01-02'\nempty: ''\nnone: null\nlines: |\n    a\n    b\n"
        b"nested:\n    list: [x, 2, {k: v}]\n    keep_unencrypted: clear\n---\nsecond: 2\n"
    ),
    SopsFormat.JSON: b'{"a": 1, "b": [1.5, true, null, "x\\u00e9"], "c": {"d": ""}}',
    SopsFormat.DOTENV: b"A=1\nB=two words\nC=line\\nbreak\n",
    SopsFormat.INI: b"[section]\nkey = value\nother = 25.4\n\n[more]\nx = y\n",
    SopsFormat.BINARY: b"raw \x00 bytes\n\xff and text\n",
}


def _parse(data: bytes, fmt: SopsFormat) -> Any:
    """Plaintext parsed for comparison, the way each side types it."""
    if fmt is SopsFormat.YAML:
        return load_documents(data)
    if fmt is SopsFormat.JSON:
        return json.loads(data, parse_int=float)
    if fmt is SopsFormat.DOTENV:
        return load_dotenv(data, "")
    if fmt is SopsFormat.INI:
        return load_ini(data, "")
    return data


def _sops_decrypt(run_sops: SopsRunner, path: Path, fmt: SopsFormat, key: AgeKey) -> bytes:
    kind = "binary" if fmt is SopsFormat.BINARY else fmt.value
    done = run_sops(
        "--decrypt", "--input-type", kind, "--output-type", kind, str(path), key_file=key.path
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


@pytest.mark.parametrize("fmt", list(PLAIN))
def test_sops_decrypts_what_gitcops_encrypts(
    fmt: SopsFormat, key: AgeKey, run_sops: SopsRunner, tmp_path: Path
) -> None:
    path = tmp_path / f"secret.{fmt.value}"
    path.write_bytes(encrypt(PLAIN[fmt], fmt, [key.recipient], source=str(path)))
    assert _parse(_sops_decrypt(run_sops, path, fmt, key), fmt) == _parse(PLAIN[fmt], fmt)


@pytest.mark.parametrize("fmt", list(PLAIN))
def test_gitcops_decrypts_what_sops_encrypts(
    fmt: SopsFormat, key: AgeKey, run_sops: SopsRunner, tmp_path: Path
) -> None:
    path = tmp_path / f"plain.{fmt.value}"
    path.write_bytes(PLAIN[fmt])
    kind = "binary" if fmt is SopsFormat.BINARY else fmt.value
    done = run_sops(
        "--encrypt", "--age", key.recipient, "--input-type", kind, "--output-type", kind, str(path)
    )
    assert done.returncode == 0, done.stderr.decode()
    result = decrypt(done.stdout, fmt, [key.identity], source=str(path))
    if fmt is SopsFormat.BINARY:
        assert result.documents[0].encode("utf-8", "surrogateescape") == PLAIN[fmt]
    elif fmt is SopsFormat.YAML:
        assert result.documents == _parse(PLAIN[fmt], fmt)
    else:
        assert result.documents == [_parse(PLAIN[fmt], fmt)]


@pytest.mark.parametrize("fmt", [SopsFormat.YAML, SopsFormat.JSON, SopsFormat.DOTENV])
def test_sops_decrypts_rotated_and_reencrypted_files(
    fmt: SopsFormat, key: AgeKey, other_key: AgeKey, run_sops: SopsRunner, tmp_path: Path
) -> None:
    sealed = encrypt(PLAIN[fmt], fmt, [key.recipient], source="f")
    path = tmp_path / f"rotated.{fmt.value}"
    path.write_bytes(
        rotate(
            sealed,
            fmt,
            [key.identity],
            add=[other_key.recipient],
            remove=[key.recipient],
            source="f",
        )
    )
    assert _parse(_sops_decrypt(run_sops, path, fmt, other_key), fmt) == _parse(PLAIN[fmt], fmt)

    edited_plain = PLAIN[fmt].replace(b"1", b"7")
    path.write_bytes(reencrypt(sealed, fmt, edited_plain, [key.identity], source="f"))
    assert _parse(_sops_decrypt(run_sops, path, fmt, key), fmt) == _parse(edited_plain, fmt)


@pytest.mark.parametrize(
    ("rules", "clear"),
    [
        (EncryptionRules(encrypted_regex="^(data|stringData)$"), ["kind", "metadata"]),
        (EncryptionRules(unencrypted_suffix="_plain"), ["note_plain"]),
        (EncryptionRules(mac_only_encrypted=True), []),
    ],
)
def test_sops_decrypts_gitcops_rules(
    rules: EncryptionRules, clear: list[str], key: AgeKey, run_sops: SopsRunner, tmp_path: Path
) -> None:
    plain = b"kind: Secret\nmetadata: {name: s}\nstringData: {password: pw}\nnote_plain: hello\n"
    sealed = encrypt(plain, SopsFormat.YAML, [key.recipient], rules, source="f")
    document = load_documents(sealed)[0]
    assert all("ENC[" not in json.dumps(document[name]) for name in clear)
    assert "ENC[" in json.dumps(document["stringData"])
    path = tmp_path / "rules.yaml"
    path.write_bytes(sealed)
    out = _sops_decrypt(run_sops, path, SopsFormat.YAML, key)
    assert load_documents(out) == load_documents(plain)


def test_sops_time_values_decrypt_to_rfc3339_text(
    key: AgeKey, run_sops: SopsRunner, tmp_path: Path
) -> None:
    # sops 3.10+ types unquoted YAML timestamps as "time"; older versions kept the text.
    path = tmp_path / "times.yaml"
    path.write_bytes(b"day: 2024-01-02\nday_unencrypted: 2024-01-02\nquoted: '2024-01-02'\n")
    done = run_sops("--encrypt", "--age", key.recipient, str(path))
    assert done.returncode == 0, done.stderr.decode()
    result = decrypt(done.stdout, SopsFormat.YAML, [key.identity], source="times.yaml")
    day = result.lookup("day")
    assert day in ("2024-01-02", "2024-01-02T00:00:00Z")
    assert result.lookup("day_unencrypted") in ("2024-01-02", "2024-01-02T00:00:00Z")
    assert result.lookup("quoted") == "2024-01-02"


def test_sops_vector_style_output_of_gitcops_file_decrypts_with_sops_age_key_env(
    key: AgeKey, run_sops: SopsRunner, tmp_path: Path
) -> None:
    # The binary reads the key from SOPS_AGE_KEY_FILE; here also from the default location.
    default = tmp_path / "xdg" / "sops" / "age" / "keys.txt"
    default.parent.mkdir(parents=True)
    default.write_text(key.secret + "\n")
    path = tmp_path / "d.yaml"
    path.write_bytes(encrypt(b"a: b\n", SopsFormat.YAML, [key.recipient], source="f"))
    done = run_sops("--decrypt", str(path))
    assert done.returncode == 0, done.stderr.decode()
    assert load_documents(done.stdout) == [{"a": "b"}]
