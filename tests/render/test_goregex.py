"""Patch target patterns in Go's syntax (RE2): gitcops and kubectl select the same names."""

from __future__ import annotations

import re
import subprocess
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from gitcops.render.goregex import GoRegexError, compile_go, translate
from gitcops.render.yamldocs import iter_documents

NAMES = ["abc", "a1", "ABC", "a_b", "a.b", "a-b", "x9", "aé", "b{2}"]

# pattern -> the names Go's regexp matches, anchored as kustomize anchors it.
SELECTS: dict[str, set[str]] = {
    "[[:alpha:]]+": {"abc", "ABC"},
    "[[:alnum:]]+": {"abc", "a1", "ABC", "x9"},
    "[^[:digit:]]+": {"abc", "ABC", "a_b", "a.b", "a-b", "aé"},
    r"\w+": {"abc", "a1", "ABC", "a_b", "x9"},  # ASCII: not "aé"
    r"a\.b": {"a.b"},
    "(?i)abc": {"abc", "ABC"},
    "a(?i)BC": {"abc"},  # the flag holds from where it stands
    "A(?i:bc)|x9": {"ABC", "x9"},
    "a{1,2}b?c": {"abc"},
    r"\Qa.b\E": {"a.b"},
    "a[-_.]b": {"a_b", "a.b", "a-b"},
    r"x\d": {"x9"},
    "a)|(b": {"abc", "a1", "a_b", "a.b", "a-b", "aé"},  # ^(?:a)|(b)$ in kustomize
    "b{2}": set(),  # a repetition: "bb"
    r"b\{2}": {"b{2}"},
    "b{2": set(),  # not a repetition: a literal "{", no such name
    "[]a]bc": {"abc"},
    r"\x61b\143|\101\x{42}C": {"abc", "ABC"},  # hexadecimal and octal escapes
    "(?P<n>a)bc|(?<m>x)9": {"abc", "x9"},
}
# Refused by kubectl and gitcops alike.
REFUSED = ["(?=a)abc", "(?!x)abc", "(?<=a)bc", "a++", r"(a)\1", r"(a)\1x", "(?P<n>a)(?P=n)",
           "a{1001}", "[[:foo:]]", r"\y", "(?#c)abc", "(?>a)bc", "(a", "[a"]  # fmt: skip
# Go accepts these, gitcops refuses them (docs/kustomize.md): it cannot give them Go's meaning.
GITCOPS_REFUSES = [r"\pL+", "(?U)ab+c", "[[:^digit:]]+"]


def matched(pattern: str) -> set[str]:
    compiled = compile_go(f"^(?:{pattern})$")
    return {name for name in NAMES if compiled.search(name)}


@pytest.mark.parametrize("pattern", SELECTS)
def test_selects_what_go_selects(pattern: str) -> None:
    assert matched(pattern) == SELECTS[pattern]


@pytest.mark.parametrize("pattern", REFUSED + GITCOPS_REFUSES)
def test_refuses_what_is_not_re2(pattern: str) -> None:
    with pytest.raises(GoRegexError):
        compile_go(pattern)


def test_translations_compile_without_warnings() -> None:
    """Python warns of nested sets ("[[") and set operations: the translation avoids them."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for pattern in SELECTS:
            re.compile(translate(f"^(?:{pattern})$"), re.ASCII)


def _overlay(pattern: str) -> dict[str, str]:
    docs = "".join(
        f"---\napiVersion: local.gitcops.io/v1\nkind: File\nmetadata: {{name: '{name}'}}\n"
        "spec: {}\n"
        for name in NAMES
    )
    quoted = pattern.replace("'", "''")
    return {
        "r.yaml": docs,
        "kustomization.yaml": f"resources: [r.yaml]\npatches:\n- target: {{name: '{quoted}'}}\n"
        "  patch: |\n    - {op: add, path: /spec/hit, value: true}\n",
    }


@pytest.mark.parametrize("pattern", [p for p in SELECTS if SELECTS[p]] + REFUSED + GITCOPS_REFUSES)
def test_kubectl_agrees(
    pattern: str,
    write_tree: Callable[[Mapping[str, str]], Path],
    run_kubectl: Callable[[Path], subprocess.CompletedProcess[str]],
) -> None:
    result = run_kubectl(write_tree(_overlay(pattern)))
    if pattern in REFUSED:
        assert result.returncode != 0, result.stdout
        return
    assert result.returncode == 0, result.stderr[-800:]
    hit = {d["metadata"]["name"] for _, d in iter_documents(result.stdout) if d["spec"]}
    if pattern in GITCOPS_REFUSES:
        assert hit, "kubectl accepts it and selects something"
    else:
        assert hit == SELECTS[pattern]
