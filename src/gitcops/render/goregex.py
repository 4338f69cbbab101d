"""Go regular expressions (RE2 syntax), as kustomize compiles patch targets, for Python's re.

kustomize compiles a target's fields with Go's regexp. Its syntax and Python's overlap but
differ: `[[:alpha:]]` is a class in Go and a set of the characters ':', 'a', 'l'... in
Python; lookaround, backreferences and possessive quantifiers are Python only; `\\d` and
`\\w` are ASCII in Go; `(?i)` may stand anywhere in Go and only at the start in Python.
`translate` turns a Go pattern into an equivalent Python one, or refuses it (GoRegexError)
where Go refuses it, or where gitcops cannot give it Go's meaning (Unicode classes such as
`\\pL`, the ungreedy flag `U`, negated POSIX classes): documented in docs/kustomize.md.

(google-re2 would compile Go's syntax itself, but its native library corrupts the heap
once regopy's has run in the same process, and gitcops runs both.)
"""

import re
from typing import Final

__all__ = ["GoRegexError", "compile_go", "translate"]


class GoRegexError(ValueError):
    """A pattern Go refuses, or one whose Go meaning gitcops cannot give."""


_POSIX: Final = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_SIMPLE_ESCAPES: Final = frozenset("afnrtvdDsSwWbBA")
_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")
_FLAGS = re.compile(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])")
_MAX_REPEAT: Final = 1000  # Go's limit on {n,m}


def compile_go(pattern: str) -> re.Pattern[str]:
    """`pattern` (Go syntax) compiled for Python; raises GoRegexError."""
    try:
        return re.compile(translate(pattern), re.ASCII)
    except re.error as exc:
        raise GoRegexError(str(exc)) from None


def translate(pattern: str) -> str:
    out: list[str] = []
    # One entry per open group: how many "(?flags:" opened inside it are still open.
    scopes = [0]
    pos = 0
    after_repeat = False
    while pos < len(pattern):
        char = pattern[pos]
        if after_repeat and char == "+":
            raise GoRegexError("a repetition of a repetition ('*+', '++', ...) is not RE2")
        after_repeat = False
        if char == "\\":
            text, pos = _escape(pattern, pos, in_class=False)
            out.append(text)
            continue
        if char == "[":
            text, pos = _class(pattern, pos)
            out.append(text)
            continue
        if char == "(":
            text, pos, scoped = _group(pattern, pos)
            out.append(text)
            if scoped:
                scopes[-1] += 1
            else:
                scopes.append(0)
            continue
        if char == ")":
            if len(scopes) > 1:
                out.append(")" * scopes.pop())
            out.append(")")
            pos += 1
            continue
        if char in "*+?":
            out.append(char)
            pos += 1
            if pos < len(pattern) and pattern[pos] == "?":
                out.append("?")  # lazy, in both
                pos += 1
            after_repeat = True
            continue
        if char == "{":
            found = _REPEAT.match(pattern, pos)
            if found is None:
                out.append("\\{")  # not a repetition: Go reads it as a literal brace
                pos += 1
                continue
            bounds = [int(n) for n in (found[1], found[3]) if n]
            if any(n > _MAX_REPEAT for n in bounds):
                raise GoRegexError(f"a repetition count above {_MAX_REPEAT} is not RE2")
            out.append(found[0])
            pos = found.end()
            if pos < len(pattern) and pattern[pos] == "?":
                out.append("?")
                pos += 1
            after_repeat = True
            continue
        out.append(char)
        pos += 1
    out.append(")" * scopes[0])
    return "".join(out)


def _group(pattern: str, pos: int) -> tuple[str, int, bool]:
    """A group opening at `pos`: its Python text, the next position, and whether it is a
    flag setting `(?i)` (which Go applies to the rest of the group, and is written here as
    a scoped `(?i:` closed with the group)."""
    rest = pattern[pos:]
    if not rest.startswith("(?"):
        return "(", pos + 1, False
    for refused, what in (
        ("(?=", "lookahead"),
        ("(?!", "lookahead"),
        ("(?<=", "lookbehind"),
        ("(?<!", "lookbehind"),
        ("(?P=", "a backreference"),
        ("(?P>", "a recursion"),
        ("(?(", "a conditional"),
        ("(?>", "an atomic group"),
        ("(?#", "a comment"),
    ):
        if rest.startswith(refused):
            raise GoRegexError(f"{what} ({refused}) is not RE2")
    if rest.startswith("(?P<"):
        return "(?P<", pos + 4, False
    if rest.startswith("(?<"):
        return "(?P<", pos + 3, False  # Go's other spelling of a named group
    if rest.startswith("(?:"):
        return "(?:", pos + 3, False
    found = _FLAGS.match(pattern, pos)
    if found is None:
        raise GoRegexError(f"invalid group syntax {rest[:4]!r}")
    on, off, end = found[1], found[2] or "", found[3]
    for flag in on + off:
        if flag == "U":
            raise GoRegexError("the ungreedy flag U is not supported by gitcops")
        if flag not in "ims":
            raise GoRegexError(f"unknown flag {flag!r}")
    if found[2] is not None and not off:
        raise GoRegexError("a flag group ends with '-'")
    text = "(?" + on + (f"-{off}" if off else "") + ":"
    return text, found.end(), end == ")"


def _escape(pattern: str, pos: int, *, in_class: bool) -> tuple[str, int]:
    if pos + 1 >= len(pattern):
        raise GoRegexError("a trailing backslash")
    char = pattern[pos + 1]
    if char == "Q" and not in_class:
        end = pattern.find("\\E", pos + 2)
        literal = pattern[pos + 2 :] if end < 0 else pattern[pos + 2 : end]
        return re.escape(literal), len(pattern) if end < 0 else end + 2
    if char == "z" and not in_class:
        return "\\Z", pos + 2
    if char in "01234567":
        digits = re.match(r"[0-7]{1,3}", pattern[pos + 1 :])
        assert digits is not None
        if len(digits[0]) == 1 and char != "0":
            raise GoRegexError(f"\\{char} is a backreference, which RE2 does not have")
        return f"\\U{int(digits[0], 8):08x}", pos + 1 + len(digits[0])
    if char == "x":
        braced = re.match(r"\{([0-9A-Fa-f]+)\}", pattern[pos + 2 :])
        if braced:
            return f"\\U{int(braced[1], 16):08x}", pos + 2 + len(braced[0])
        pair = re.match(r"[0-9A-Fa-f]{2}", pattern[pos + 2 :])
        if pair is None:
            raise GoRegexError("an invalid \\x escape")
        return f"\\x{pair[0]}", pos + 4
    if char in "pP":
        raise GoRegexError("Unicode classes (\\p, \\P) are not supported by gitcops")
    if char.isalnum():
        if char in _SIMPLE_ESCAPES and not (in_class and char in "bBA"):
            return f"\\{char}", pos + 2
        raise GoRegexError(f"the escape \\{char} is not RE2")
    return re.escape(char), pos + 2


def _class(pattern: str, pos: int) -> tuple[str, int]:
    out = ["["]
    pos += 1
    if pos < len(pattern) and pattern[pos] == "^":
        out.append("^")
        pos += 1
    first = True
    while True:
        if pos >= len(pattern):
            raise GoRegexError("a character class is not closed")
        char = pattern[pos]
        if char == "]" and not first:
            out.append("]")
            return "".join(out), pos + 1
        first = False
        if pattern.startswith("[:", pos):
            end = pattern.find(":]", pos + 2)
            name = pattern[pos + 2 : end] if end > 0 else ""
            if name.startswith("^"):
                raise GoRegexError("negated POSIX classes are not supported by gitcops")
            if name not in _POSIX:
                raise GoRegexError(f"unknown character class {pattern[pos : end + 2]!r}")
            out.append(_POSIX[name])
            pos = end + 2
            continue
        if char == "\\":
            text, pos = _escape(pattern, pos, in_class=True)
            out.append(text)
            continue
        # Escaped, these mean in Python what they mean in Go ('[' is literal in a Go
        # class; Python warns of set operations on '&&', '~~', '||', '--' and '[').
        out.append("\\" + char if char in "[]&~|" else char)
        pos += 1
