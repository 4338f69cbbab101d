"""Conformance: decrypt the upstream SOPS vectors (getsops/sops, fluxcd) one key at a time."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from gitcops.model.errors import SecretError, SecretKeyError
from gitcops.secrets.age import unwrap_data_key
from gitcops.secrets.cipher import decrypt_value, is_encrypted_value, parse_value, to_bytes
from gitcops.secrets.keys import parse_identities
from gitcops.secrets.sops import SopsFormat, decrypt, format_for, looks_encrypted
from gitcops.secrets.stores import load_encrypted

# Same place as the conftest fixture; needed here at collection time.
VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors"
KEY_FILES = {
    "sops": ["age/keys.txt"],
    "sops-flux": ["keys/age.txt", "keys/age-global.txt"],
}
PGP_ONLY = "PGP-only vector; gitcops supports age recipients"
PQ = "post-quantum age (ML-KEM-768 + X25519) vector; pyrage has no post-quantum identities"


def _kind(entry: dict[str, Any]) -> str:
    age = entry["encrypted_for"].get("age", [])
    if not age:
        return "pgp"
    return "pq" if any(r.startswith("age1pq1") for r in age) else "age"


def _cases(kind: str) -> list[Any]:
    """(collection, file) of every encrypted vector of one kind: age, pgp or pq."""
    if not (VECTORS / "sops" / "expected.json").is_file():
        return [pytest.param(None, None, marks=pytest.mark.skip(reason="vectors not found"))]
    cases = []
    for collection in KEY_FILES:
        expected = json.loads((VECTORS / collection / "expected.json").read_text())
        for name, entry in expected.items():
            if name == "_about" or entry.get("encrypted") is False:
                continue
            marks = []
            if _kind(entry) != kind and kind == "age":
                reason = PGP_ONLY if _kind(entry) == "pgp" else PQ
                marks.append(pytest.mark.skip(reason=reason))
            elif _kind(entry) != kind:
                continue
            cases.append(pytest.param(collection, name, id=f"{collection}/{name}", marks=marks))
    return cases


def _entry(collection: str, name: str) -> dict[str, Any]:
    expected = json.loads((VECTORS / collection / "expected.json").read_text())
    entry: dict[str, Any] = expected[name]
    return entry


def _identities(vectors: Path, collection: str) -> dict[str, Any]:
    """Recipient -> identity for every age key of a collection."""
    found = {}
    for key_file in KEY_FILES[collection]:
        identities, _ = parse_identities((vectors / collection / key_file).read_text(), key_file)
        for identity in identities:
            found[str(identity.to_public())] = identity
    return found


def _vector_bytes(path: Path, name: str) -> tuple[bytes, SopsFormat]:
    if name == "inside/secret.yaml":
        # A plain Secret whose data.key is base64 of a binary-format SOPS document.
        inner = re.search(rb"^  key: (\S+)$", path.read_bytes(), re.MULTILINE)
        assert inner is not None
        return base64.b64decode(inner[1]), SopsFormat.BINARY
    return path.read_bytes(), format_for(name)


def _leaves(tree: Any, path: tuple[str, ...] = ()) -> list[tuple[list[str], str]]:
    """(map-key path, ENC string) for every encrypted leaf, in document order."""
    if isinstance(tree, dict):
        return [leaf for k, v in tree.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(tree, list):
        return [leaf for v in tree for leaf in _leaves(v, path)]
    if isinstance(tree, str) and is_encrypted_value(tree):
        return [(list(path), tree)]
    return []


@pytest.mark.parametrize(("collection", "name"), _cases("age"))
def test_vector_decrypts_with_each_listed_key(vectors: Path, collection: str, name: str) -> None:
    entry = _entry(collection, name)
    age_recipients = entry["encrypted_for"]["age"]
    data, fmt = _vector_bytes(vectors / collection / name, name)
    assert looks_encrypted(data, fmt)
    identities = _identities(vectors, collection)
    listed = [re.search(r"\((age1[0-9a-z]+)\)", text) for text in entry["decrypts_with"]]
    recipients = [m[1] for m in listed if m is not None]
    assert recipients, "every age vector names the keys that decrypt it"
    for recipient in recipients:
        result = decrypt(data, fmt, [identities[recipient]], source=name)
        expected = entry["plaintext"]
        if fmt is SopsFormat.BINARY:
            assert result.documents == [expected["data"]]
            assert result.lookup(None) == expected["data"]
        else:
            assert result.documents[0] == expected
        assert set(result.recipients) == set(age_recipients)
    for recipient, identity in identities.items():
        if recipient not in recipients:
            with pytest.raises(SecretKeyError):
                decrypt(data, fmt, [identity], source=name)


@pytest.mark.parametrize(("collection", "name"), _cases("age"))
def test_vector_leaves_match_aad_type_and_raw_bytes(
    vectors: Path, collection: str, name: str
) -> None:
    entry = _entry(collection, name)
    data, fmt = _vector_bytes(vectors / collection / name, name)
    trees, metadata = load_encrypted(data, fmt, name)
    data_key = unwrap_data_key(metadata.age, list(_identities(vectors, collection).values()))
    assert data_key is not None
    found = [leaf for tree in trees for leaf in _leaves(tree)]
    expected = entry["encrypted_leaves"]
    assert [path for path, _ in found] == [leaf["path"] for leaf in expected]
    for (path, text), leaf in zip(found, expected, strict=True):
        aad = ":".join(path) + ":"
        assert aad == leaf["aad"]
        value = parse_value(text)
        assert value.type == leaf["type"]
        assert to_bytes(decrypt_value(value, data_key, aad)) == leaf["raw"].encode()


@pytest.mark.parametrize(("collection", "name"), _cases("pgp"))
def test_pgp_only_vectors_say_only_age_is_supported(
    vectors: Path, collection: str, name: str
) -> None:
    data, fmt = _vector_bytes(vectors / collection / name, name)
    assert looks_encrypted(data, fmt)
    with pytest.raises(SecretError, match=r"only for \d+ pgp keys; gitcops supports only age") as e:
        decrypt(data, fmt, list(_identities(vectors, collection).values()), source=name)
    assert name in str(e.value)


def test_plain_vector_files_are_not_encrypted(vectors: Path) -> None:
    for name in ("plainfile.yaml", "comments.yaml", "comments_list.yaml"):
        data = (vectors / "sops" / "functional-tests" / "res" / name).read_bytes()
        assert not looks_encrypted(data, SopsFormat.YAML)
    assert not looks_encrypted((vectors / "sops-flux/inside/secret.yaml").read_bytes(), "yaml")


def test_post_quantum_vector_reports_missing_identity(vectors: Path) -> None:
    data = (vectors / "sops-flux" / "algorithms" / "age-pq.yaml").read_bytes()
    identities = list(_identities(vectors, "sops-flux").values())
    with pytest.raises(SecretKeyError, match=r"age-pq\.yaml: no configured age identity"):
        decrypt(data, SopsFormat.YAML, identities, source="age-pq.yaml", tried="keys/age.txt")
