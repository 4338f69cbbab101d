"""The text every match of a regular expression must contain.

Most detect-secrets patterns carry a fixed piece (`-us` in a Mailchimp key, `.cloudant.com`,
`AKC`), yet Python's engine tries them at every position of every value: on 200 characters of
hex a handful of them cost more than all the rest of a scan. `str.find` of the fixed piece
answers "no match" first, at memory-scan speed.

The pattern is read with CPython's own regular-expression parser (`re._parser`, the one
`re.compile` uses). It is private, so anything unexpected from it means no shortcut, never a
wrong one.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["Literal", "LiteralSet", "required_literal", "with_literal"]

Literal = tuple[str, bool]  # (text, ignore case: compare lowercased, on ASCII text only)


def required_literal(source: str, flags: int) -> Literal | None:
    """The longest run of characters that every match contains, or None if there is none
    (or the pattern uses something this reading does not follow)."""
    try:
        parser = importlib.import_module("re._parser")
        constants = importlib.import_module("re._constants")
        parsed = parser.parse(source, flags)
        runs: list[str] = []
        if not _runs(parsed, runs, constants):
            return None
        ignore_case = bool(parsed.state.flags & re.IGNORECASE)
    except Exception:  # a private module: any change in it only costs the shortcut
        return None
    best = max(runs, key=len, default="")
    if not best:
        return None
    if ignore_case:
        # Case-insensitive matching pairs some ASCII letters with other characters (k with
        # the Kelvin sign): only ASCII pieces, compared with ASCII texts, stay exact.
        return (best.lower(), True) if best.isascii() else None
    return best, False


def _runs(items: Any, out: list[str], c: Any) -> bool:
    """Collect the literal runs of a parsed sequence that no match can skip; False to give
    up (flags changed inside the pattern)."""
    run: list[str] = []
    for op, av in items:
        if op is c.LITERAL:
            run.append(chr(av))
            continue
        if run:
            out.append("".join(run))
            run = []
        if op is c.SUBPATTERN:
            _, added, removed, inner = av
            if added or removed:
                return False
            if not _runs(inner, out, c):
                return False
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT) and av[0] >= 1:
            if not _runs(av[2], out, c):
                return False
        elif op is c.ATOMIC_GROUP and not _runs(av, out, c):
            return False
        # Anything else (alternatives, classes, optional parts, assertions) ends a run.
    if run:
        out.append("".join(run))
    return True


def with_literal(
    pattern: re.Pattern[str] | str, literal: Literal | None, flags: int = 0
) -> Callable[[str], object | None]:
    """`pattern.search`, answering None at once for texts that lack the literal.

    A pattern given as source (with `flags`) is compiled the first time a text holds its
    literal: most texts hold none, and compiling every detector's patterns costs more than
    scanning a few values."""
    if isinstance(pattern, str):
        search = _compiled_on_use(pattern, flags) if literal else re.compile(pattern, flags).search
    else:
        search = pattern.search
    if literal is None:
        return search
    text, ignore_case = literal
    if not ignore_case:

        def exact(value: str) -> object | None:
            return search(value) if text in value else None

        return exact

    def folded(value: str) -> object | None:
        if value.isascii() and text not in value.lower():
            return None
        return search(value)

    return folded


def _compiled_on_use(source: str, flags: int) -> Callable[[str], object | None]:
    compiled: list[Callable[[str], object | None]] = []

    def search(value: str) -> object | None:
        if not compiled:
            try:
                compiled.append(re.compile(source, flags).search)  # twice at worst: the same
            except (re.error, TypeError, ValueError, OverflowError):
                # A pattern that cannot be compiled (read from a damaged cache file) cannot
                # rule a text out: it answers "maybe" to every text, so the real check runs.
                compiled.append(_maybe)
        return compiled[0](value)

    return search


def _maybe(value: str) -> object:
    return True


class LiteralSet:
    """Whether a text holds any of several literals, in one search instead of one each."""

    def __init__(self, literals: Iterable[Literal]) -> None:
        literals = list(literals)
        exact = sorted({text for text, fold in literals if not fold}, key=len, reverse=True)
        folded = sorted({text for text, fold in literals if fold}, key=len, reverse=True)
        self._exact = re.compile("|".join(map(re.escape, exact))) if exact else None
        self._folded = re.compile("|".join(map(re.escape, folded))) if folded else None

    def absent_from(self, text: str) -> bool:
        if self._exact is not None and self._exact.search(text):
            return False
        # Folded literals are ASCII; beyond ASCII, case folding pairs more than lower() does.
        return self._folded is None or (
            text.isascii() and self._folded.search(text.lower()) is None
        )
