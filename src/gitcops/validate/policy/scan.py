"""A light lexical scan of Rego source: what rego-cpp does not check, and where things are.

rego-cpp (through regopy) accepts some input it should reject and reports some problems only
when a rule happens to run. This scan finds, without a full parser:

- the package and imports of a module, and the heads of its rules and functions (so the
  engine knows which namespaces define `deny`, `violation` or `warn`);
- rego v0 rule heads (`deny[msg] { ... }`), which rego-cpp silently reads as objects;
- calls to functions that are neither built in nor defined by any module (rego-cpp only
  fails when such a call is reached, at run time);
- `with` keywords (some `with ... as <variable>` forms abort the whole process in rego-cpp);
- string literals, to tell which of several files defining a rule produced a message.

Comments and string literals are tokens of their own, so nothing inside them is mistaken
for code.
"""

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

CONFTEST_RULES = ("deny", "violation", "warn")

_TOKEN = re.compile(
    r"""
    (?P<nl>\n)
    |(?P<ws>[ \t\r\f\v]+)
    |(?P<comment>\#[^\n]*)
    |(?P<string>"(?:[^"\\\n]|\\.)*")
    |(?P<raw>`[^`]*`)
    |(?P<number>[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op>:=|==|!=|<=|>=|[-+*/%<>=:;,.|&\[\](){}])
    |(?P<other>.)
    """,
    re.VERBOSE,
)

KEYWORDS = frozenset(
    {
        "as",
        "contains",
        "default",
        "else",
        "every",
        "false",
        "if",
        "import",
        "in",
        "not",
        "null",
        "package",
        "some",
        "true",
        "with",
    }
)
_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = frozenset(_OPEN.values())


class Token(NamedTuple):
    kind: str  # ident, string, raw, number, op, other
    text: str
    line: int  # 1-based
    start: int  # character offset
    end: int
    depth: int  # bracket depth before the token
    line_start: bool  # first significant token of its line


class RuleHead(NamedTuple):
    name: str  # dotted head reference without brackets: "deny", "a.b.deny"
    line: int
    function: bool
    bracket: bool  # `name[...]` head
    body_start: int  # token index after the head, up to the next head
    body_end: int


class Call(NamedTuple):
    name: str  # as written: "sprintf", "lib.helper", "data.lib.helper"
    line: int


class Problem(NamedTuple):
    line: int
    message: str


@dataclass
class ModuleScan:
    package: str | None = None
    package_line: int = 1
    imports: dict[str, str] = field(default_factory=dict)  # alias -> "data.lib.x"
    heads: list[RuleHead] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    with_lines: list[int] = field(default_factory=list)
    strings: list[tuple[int, str]] = field(default_factory=list)  # (token index, value)
    problems: list[Problem] = field(default_factory=list)  # v0 syntax
    # The parts of `input` the module reads: static paths such as ("metadata", "labels"), or
    # None when it may read anything (`input` passed whole, indexed by a variable, `with`...).
    input_paths: list[tuple[str, ...]] | None = field(default_factory=list)

    def rule_heads(self, name: str) -> list[RuleHead]:
        return [h for h in self.heads if not h.function and h.name == name]

    def functions(self) -> set[str]:
        """Absolute names of the functions this module defines: "data.pkg.f"."""
        if self.package is None:
            return set()
        return {f"data.{self.package}.{h.name}" for h in self.heads if h.function}

    def namespaces(self) -> dict[str, set[str]]:
        """Namespace -> conftest rules (deny/violation/warn) this module defines there."""
        out: dict[str, set[str]] = {}
        if self.package is None:
            return out
        for head in self.heads:
            if head.function:
                continue
            *prefix, last = head.name.split(".")
            if last in CONFTEST_RULES:
                out.setdefault(".".join([self.package, *prefix]), set()).add(last)
        return out

    def strings_of(self, rule: str) -> list[str]:
        """String literals in the bodies of the rules named `rule` (for message matching)."""
        ranges = [(h.body_start, h.body_end) for h in self.heads if h.name == rule]
        return [text for index, text in self.strings if any(a <= index < b for a, b in ranges)]


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    line = 1
    depth = 0
    fresh_line = True
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "other"
        value = match.group()
        if kind == "nl":
            line += 1
            fresh_line = True
            continue
        if kind in ("ws", "comment"):
            continue
        if kind == "op" and value in _CLOSE:
            depth = max(depth - 1, 0)
        tokens.append(Token(kind, value, line, match.start(), match.end(), depth, fresh_line))
        if kind == "op" and value in _OPEN:
            depth += 1
        if kind == "raw":
            line += value.count("\n")
        fresh_line = False
    return tokens


def _string_value(token: Token) -> str:
    if token.kind == "raw":
        return token.text[1:-1]
    try:
        value = json.loads(token.text)
    except ValueError:
        return token.text[1:-1]
    return value if isinstance(value, str) else token.text[1:-1]


def _skip_group(tokens: list[Token], i: int) -> int:
    """tokens[i] opens a bracket: the index after its matching close."""
    depth = tokens[i].depth
    i += 1
    while i < len(tokens):
        token = tokens[i]
        if token.kind == "op" and token.text in _CLOSE and token.depth == depth:
            return i + 1
        i += 1
    return i


def _ref(tokens: list[Token], i: int) -> tuple[list[str], int]:
    """A dotted reference `a.b.c` starting at tokens[i] (an ident): its parts, next index."""
    parts = [tokens[i].text]
    i += 1
    while (
        i + 1 < len(tokens)
        and tokens[i].text == "."
        and tokens[i + 1].kind == "ident"
        and tokens[i].start == tokens[i - 1].end
        and tokens[i + 1].start == tokens[i].end
    ):
        parts.append(tokens[i + 1].text)
        i += 2
    return parts, i


def _package(tokens: list[Token], i: int) -> tuple[str, int]:
    """`package a.b["c-d"]`: "a.b.c-d" (brackets with a string key become a segment)."""
    parts: list[str] = []
    while i < len(tokens):
        token = tokens[i]
        if token.kind == "ident" and (not parts or tokens[i - 1].text == "."):
            parts.append(token.text)
        elif token.text == "." and parts:
            pass
        elif (
            token.text == "["
            and i + 2 < len(tokens)
            and tokens[i + 1].kind == "string"
            and tokens[i + 2].text == "]"
        ):
            parts.append(_string_value(tokens[i + 1]))
            i += 2
        else:
            break
        i += 1
    return ".".join(parts), i


def scan(text: str) -> ModuleScan:
    tokens = tokenize(text)
    out = ModuleScan()
    head_starts: list[tuple[int, RuleHead]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.kind in ("string", "raw"):
            out.strings.append((i, _string_value(token)))
        if token.kind != "ident":
            i += 1
            continue
        if token.text == "with":
            out.with_lines.append(token.line)
        statement = token.line_start and token.depth == 0
        if statement and token.text == "package":
            out.package, i = _package(tokens, i + 1)
            out.package_line = token.line
            continue
        if statement and token.text == "import":
            if i + 1 < len(tokens) and tokens[i + 1].kind == "ident":
                parts, i = _ref(tokens, i + 1)
                alias = parts[-1]
                if i + 1 < len(tokens) and tokens[i].text == "as":
                    alias = tokens[i + 1].text
                    i += 2
                if parts[0] in ("data", "input") and len(parts) > 1:
                    out.imports[alias] = ".".join(parts)
                continue
            i += 1
            continue
        if statement and (token.text == "default" or token.text not in KEYWORDS):
            start = i + 1 if token.text == "default" else i
            if start < len(tokens) and tokens[start].kind == "ident":
                head, i = _head(text, tokens, start, out)
                head_starts.append((i, head))
                continue
        if token.text not in KEYWORDS and not (i > 0 and tokens[i - 1].text == "."):
            parts, j = _ref(tokens, i)
            if j < len(tokens) and tokens[j].text == "(" and tokens[j].start == tokens[j - 1].end:
                out.calls.append(Call(".".join(parts), token.line))
            i = j
            continue
        i += 1
    if out.package is None:
        out.problems.append(
            Problem(
                tokens[0].line if tokens else 1,
                "no `package` declaration: a policy file starts with `package <namespace>` "
                "(`package main` for conftest's default namespace)",
            )
        )
    out.input_paths = None if out.with_lines else _input_paths(tokens)
    # Each head's body runs up to the next head.
    for n, (start, head) in enumerate(head_starts):
        end = head_starts[n + 1][0] if n + 1 < len(head_starts) else len(tokens)
        out.heads.append(RuleHead(head.name, head.line, head.function, head.bracket, start, end))
    return out


def _input_paths(tokens: list[Token]) -> list[tuple[str, ...]] | None:
    """The static paths under `input` that these tokens read, or None for "maybe anything"."""
    paths: list[tuple[str, ...]] = []
    for i, token in enumerate(tokens):
        if token.kind != "ident" or token.text != "input":
            continue
        if i > 0 and tokens[i - 1].text == ".":
            continue  # a field named input, as in x.input
        if i > 0 and tokens[i - 1].text == "import":
            return None
        texts = [t.text for t in tokens[max(i - 4, 0) : i]]
        if (
            texts == ["object", ".", "get", "("]
            and i + 2 < len(tokens)
            and tokens[i + 1].text == ","
        ):
            path = _literal_path(tokens, i + 2)
            if path is None:
                return None
            paths.append(path)
            continue
        path_parts: list[str] = []
        j = i + 1
        while j < len(tokens):
            if (
                tokens[j].text == "."
                and j + 1 < len(tokens)
                and tokens[j + 1].kind == "ident"
                and tokens[j].start == tokens[j - 1].end
                and tokens[j + 1].start == tokens[j].end
            ):
                path_parts.append(tokens[j + 1].text)
                j += 2
            elif (
                tokens[j].text == "["
                and tokens[j].start == tokens[j - 1].end
                and j + 2 < len(tokens)
                and tokens[j + 1].kind in ("string", "raw")
                and tokens[j + 2].text == "]"
            ):
                path_parts.append(_string_value(tokens[j + 1]))
                j += 3
            else:
                break
        if not path_parts:
            return None
        paths.append(tuple(path_parts))
    return paths


def _literal_path(tokens: list[Token], i: int) -> tuple[str, ...] | None:
    """object.get's key argument at tokens[i]: "key" or ["a", "b"] (else None)."""
    if tokens[i].kind in ("string", "raw"):
        return (_string_value(tokens[i]),)
    if tokens[i].text != "[":
        return None
    parts: list[str] = []
    j = i + 1
    while j < len(tokens) and tokens[j].kind in ("string", "raw"):
        parts.append(_string_value(tokens[j]))
        if tokens[j + 1].text == ",":
            j += 2
        elif tokens[j + 1].text == "]":
            return tuple(parts) if parts else None
        else:
            return None
    return None


def _head(text: str, tokens: list[Token], i: int, out: ModuleScan) -> tuple[RuleHead, int]:
    """A rule or function head at tokens[i]; records v0 syntax problems in `out`."""
    first = tokens[i]
    parts, i = _ref(tokens, i)
    name = ".".join(parts)
    bracket = False
    function = False
    key = ""
    if i < len(tokens) and tokens[i].text == "(" and tokens[i].start == tokens[i - 1].end:
        function = True
        i = _skip_group(tokens, i)
    else:
        while i < len(tokens) and tokens[i].text == "[" and tokens[i].depth == 0:
            bracket = True
            inner = tokens[i + 1 : _skip_group(tokens, i) - 1]
            i = _skip_group(tokens, i)
            if i < len(tokens) and tokens[i].text == "." and i + 1 < len(tokens):
                more, i = _ref(tokens, i + 1)
                parts += more
            key = text[inner[0].start : inner[-1].end] if inner else ""
    nxt = tokens[i].text if i < len(tokens) else ""
    last = parts[-1]
    if nxt == "{":
        if bracket:
            if last in CONFTEST_RULES:
                out.problems.append(_v0_problem(first.line, name, key, last))
            else:
                out.problems.append(
                    Problem(
                        first.line,
                        f"rego v0 rule syntax `{name}[{key}] {{ ... }}`: rego-cpp reads it as an "
                        f"object; write `{name} contains {key} if {{ ... }}` (rego v1)",
                    )
                )
        elif function:
            out.problems.append(
                Problem(
                    first.line,
                    f"rego v0 function syntax `{name}(...) {{ ... }}`: write "
                    f"`{name}(...) if {{ ... }}` (rego v1)",
                )
            )
        else:
            out.problems.append(
                Problem(
                    first.line,
                    f"rego v0 rule syntax `{name} {{ ... }}`: write `{name} if {{ ... }}` "
                    "(rego v1)",
                )
            )
    elif nxt == "if" and bracket and last in CONFTEST_RULES:
        out.problems.append(_v0_problem(first.line, name, key, last))
    return RuleHead(name, first.line, function, bracket, i, i), i


def _v0_problem(line: int, name: str, key: str, rule: str) -> Problem:
    return Problem(
        line,
        f"rego v0 rule syntax `{name}[{key}] {{ ... }}`: rego-cpp silently evaluates it to an "
        f"object, so this {rule} rule would never report anything; write it in rego v1 as "
        f"`{name} contains {key} if {{ ... }}`",
    )


def unknown_calls(
    module: ModuleScan, functions: set[str], is_builtin: Callable[[str], bool]
) -> Iterable[Call]:
    """Calls in `module` to functions that are neither built in nor defined anywhere."""
    if module.package is None:
        return
    for call in module.calls:
        head, *rest = call.name.split(".")
        if head == "data":
            absolute = call.name
        elif head in module.imports:
            absolute = ".".join([module.imports[head], *rest])
        else:
            absolute = f"data.{module.package}.{call.name}"
        if absolute in functions:
            continue
        if head not in module.imports and is_builtin(call.name):
            continue
        yield call
