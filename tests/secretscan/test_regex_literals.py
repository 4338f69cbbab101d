"""The fixed-text shortcut in front of detector patterns: it may skip work, never a match."""

from __future__ import annotations

import random
import re
import string

import pytest

from gitcops.validate.regex_literals import LiteralSet, required_literal, with_literal

from .conftest import AWS_KEY_ID, GITHUB_TOKEN, JWT, PRIVATE_KEY, SLACK_TOKEN, STRIPE_KEY


@pytest.mark.parametrize(
    ("source", "flags", "expected"),
    [
        (r"[0-9a-z]{32}-us[0-9]{1,2}", 0, ("-us", False)),
        (r"(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)[0-9A-Z]{16}", 0, ("A", False)),
        (r"https?://hooks\.slack\.com/x", re.IGNORECASE, ("://hooks.slack.com/x", True)),
        (r"(?:abc)+defg", 0, ("defg", False)),  # both required: the longer wins
        (r"(?:abc)+def", 0, ("abc", False)),  # a tie: the first
        (r"(?:abcd)+de", 0, ("abcd", False)),
        (r"(?:abcd)*de", 0, ("de", False)),  # an optional group requires nothing
        (r"(?:abcd)?", 0, None),
        (r"a|b", 0, None),
        (r"[ab]c", 0, ("c", False)),
        (r"x(?i:KEY)y", 0, None),  # flags changed inside: not followed
        (r"(?x) a b  c ", 0, ("abc", False)),  # verbose: the parser drops the blanks
        ("\u212aey", re.IGNORECASE, None),  # a non-ASCII letter that folds to ASCII
        (r"(", 0, None),  # not a pattern at all
    ],
)
def test_required_literal(source: str, flags: int, expected: tuple[str, bool] | None) -> None:
    assert required_literal(source, flags) == expected


def _texts(rng: random.Random, needles: list[str]) -> list[str]:
    """Random texts, half of them with a known secret or a needle planted somewhere."""
    alphabet = string.ascii_letters + string.digits + "-_:./=\"' \u212a\u017f"
    planted = [AWS_KEY_ID, GITHUB_TOKEN, JWT, SLACK_TOKEN, STRIPE_KEY, *PRIVATE_KEY.splitlines()]
    out = []
    for _ in range(400):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 120)))
        if rng.random() < 0.5:
            at = rng.randrange(len(text) + 1)
            piece = rng.choice(planted + needles)
            if rng.random() < 0.3:
                piece = piece.upper() if rng.random() < 0.5 else piece.lower()
            text = text[:at] + piece + text[at:]
        out.append(text)
    return out


def _detector_patterns() -> list[re.Pattern[str]]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins.base import RegexBasedDetector

    patterns = []
    for cls in get_mapping_from_secret_type_to_class().values():
        if issubclass(cls, RegexBasedDetector):
            patterns.extend(cls.denylist)
    return patterns


def test_shortcut_agrees_with_the_pattern_on_every_detector() -> None:
    """For each detect-secrets pattern, on random texts with real secrets planted (also in
    other cases, and next to letters that fold to ASCII), the shortcut answers like search."""
    patterns = _detector_patterns()
    assert len(patterns) > 30
    rng = random.Random(20261126)
    skipped = 0
    for pattern in patterns:
        literal = required_literal(pattern.pattern, pattern.flags)
        needles = [literal[0]] if literal else []
        guarded = with_literal(pattern, literal)
        for text in _texts(rng, needles):
            expected = pattern.search(text)
            got = guarded(text)
            assert (got is None) == (expected is None), (pattern.pattern, text)
            if expected is not None:
                assert isinstance(got, re.Match)
                assert got.span() == expected.span()
            skipped += got is None
    assert skipped > 0  # the shortcut did answer on its own


def test_a_pattern_given_as_source_answers_alike_and_compiles_only_when_needed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compiled: list[str] = []
    real_compile = re.compile

    def counting(source: str, flags: int = 0) -> re.Pattern[str]:
        compiled.append(source)
        return real_compile(source, flags)

    source = r"AKIA[0-9A-Z]{16}"
    monkeypatch.setattr(re, "compile", counting)
    guarded = with_literal(source, ("AKIA", False))
    assert guarded("nothing to see") is None
    assert compiled == []  # no text held the literal: never compiled
    found = guarded("key AKIAABCDEFGHIJKLMNOP here")
    assert isinstance(found, re.Match) and found.group() == "AKIAABCDEFGHIJKLMNOP"
    assert guarded("AKIA too short") is None
    assert compiled == [source]  # once
    folded = with_literal("pass(word)?", ("pass", True), re.IGNORECASE)
    assert folded("PASSWORD") is not None and folded("nothing") is None
    assert with_literal(source, None)("x AKIAABCDEFGHIJKLMNOP") is not None


def test_a_pattern_that_does_not_compile_rules_nothing_out() -> None:
    # As read from a damaged cache file: the gate must let the real check decide.
    broken = with_literal("AKIA[0-9A-Z{16", ("AKIA", False))
    assert broken("nothing here") is None  # no literal: still ruled out without compiling
    assert broken("key AKIAABCDEFGHIJKLMNOP")
    assert with_literal("pass", ("pass", True), "0")("password")  # type: ignore[arg-type]


def test_case_folding_outside_ascii_still_runs_the_pattern() -> None:
    # re.IGNORECASE matches "k" with the Kelvin sign and "s" with the long s.
    pattern = re.compile("key|pass", re.IGNORECASE)
    guarded = with_literal(re.compile("secret_key", re.IGNORECASE), ("secret_key", True))
    assert guarded("SECRET_\u212aEY") is not None
    assert pattern.search("pa\u017fs") is not None
    assert with_literal(re.compile("pass", re.IGNORECASE), ("pass", True))("pa\u017fs")


def test_the_scan_still_finds_what_the_guarded_detectors_find() -> None:
    from gitcops.validate.secretscan import SecretScanner

    scan_values = SecretScanner(None).scan_values
    values = [
        (("spec", "a"), "a", f"prefix {GITHUB_TOKEN} suffix"),
        (("spec", "b"), "b", f"x={STRIPE_KEY}"),
        (("spec", "c"), "c", "0123456789abcdef0123456789abcdef-us12"),  # Mailchimp-shaped
        (("spec", "d"), "d", "nothing to see here"),
    ]
    found = dict(scan_values(values))
    assert "GitHub" in found[("spec", "a")]
    assert "Stripe" in found[("spec", "b")]
    assert "Mailchimp" in found[("spec", "c")]
    assert ("spec", "d") not in found


def test_a_literal_set_answers_like_each_literal_alone() -> None:
    marks = LiteralSet([("AKC", False), ("-us", False), ("secret", True), ("xox", True)])
    for text, absent in [
        ("path/to/file.txt", True),
        ("a AKC b", False),
        ("akc", True),  # exact: case matters
        ("MY_SECRET_KEY", False),  # folded
        ("XoXb-1", False),
        ("0123-us1", False),
        ("\u212aey", False),  # not ASCII: cannot be ruled out
    ]:
        assert marks.absent_from(text) is absent, text
    assert LiteralSet([]).absent_from("anything")
    assert not LiteralSet(iter([("a", False), ("b", True)])).absent_from("B")  # any iterable


def test_the_scan_with_and_without_the_literal_set_agrees() -> None:
    """The same findings whether the engine skips plugins by the literal set or not."""
    from gitcops.validate.secretscan import SecretScanner

    scanner = SecretScanner(None)
    values = [
        (("spec", f"v{i}"), "value", text)
        for i, text in enumerate(
            [
                f"prefix {GITHUB_TOKEN} suffix",
                f"x={STRIPE_KEY}",
                AWS_KEY_ID,
                JWT,
                SLACK_TOKEN,
                "0123456789abcdef0123456789abcdef-us12",
                "plain text",
                "d000/f00001.txt",
                PRIVATE_KEY,
            ]
        )
    ]
    with_marks = scanner.scan_values(values)
    engine = scanner.engine()
    original = engine.marks
    try:
        object.__setattr__(engine, "marks", _NeverAbsent())
        without = SecretScanner(None).scan_values(values)
    finally:
        object.__setattr__(engine, "marks", original)
    assert with_marks == without
    assert len({path for path, _ in with_marks}) >= 6


class _NeverAbsent:
    def absent_from(self, text: str) -> bool:
        return False
