"""The Rego policy engine: conftest-style policies compiled once into a rego-cpp bundle.

Policies follow conftest's conventions: in each namespace (Rego package) the rules `deny` and
`violation` report failures and `warn` warnings; a message is a string or an object with a
`msg` field (its other fields are kept as details).

How it runs (bench/policy_eval.py measures it):

- All policy files are compiled once into a bundle with one entry point per conftest rule
  ("main/deny"...). Each document is set as the input once, then each selected rule is
  queried. (One generated rule returning all three measured slower than three queries.)
- Documents go to rego-cpp through its C input API, not as JSON text (its JSON reader is
  slow), and only the parts of them that some policy reads: a lexical scan of the policies
  collects the paths under `input` they use, unless one uses `input` as a whole.
- Results are read as JSON text and their Output freed at once; an error Output is read
  through its nodes, never formatted as text (that can crash rego-cpp).
- Large batches are shared with worker processes forked from this one: they inherit the
  compiled bundle and the documents, take small chunks of work from a pipe, and send back
  only their findings. rego-cpp is never used from two threads: an engine is not
  thread-safe.

rego-cpp keeps strings in their JSON-escaped form (a policy's "a\\nb" literal is stored as
written), so document strings are handed to it escaped the same way: comparisons with policy
literals then hold, and the JSON it returns stays valid.

Compile-time checks rego-cpp does not make (scan.py): rego v0 rule syntax, which it silently
reads as objects; calls to unknown functions, which it only reports when reached. `with`,
which can abort the process inside rego-cpp's compiler, is first compiled in a forked child.
"""

import contextlib
import ctypes
import datetime as dt
import faulthandler
import gc
import json
import math
import os
import pickle
import re
import signal
import struct
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import regopy
from regopy import rego_shared

from gitcops.model.diagnostics import Diagnostic
from gitcops.model.errors import GitcopsError, InvalidInputError
from gitcops.validate.policy.scan import CONFTEST_RULES, ModuleScan, scan, unknown_calls

__all__ = ["PolicyEngine", "PolicyFile", "PolicyRuntimeError", "RawFinding"]


_EVAL_PACKAGE = "gitcops_internal_eval"
_EVAL_MODULE = "gitcops-internal-eval.rego"
_BUILTINS_ALSO = frozenset({"print"})  # supported by rego-cpp, yet not listed as a built-in


class PolicyFile(NamedTuple):
    path: str  # shown to users: "policies/labels.rego" or "<builtin>/labels.rego"
    text: str


class RawFinding(NamedTuple):
    position: int  # which input (its position in the `inputs` sequence)
    namespace: str  # Rego package, e.g. "main"
    rule: str  # "deny" | "violation" | "warn"
    message: str  # the string, or the object's "msg"
    details: dict[str, Any]  # other fields of an object message ({} for strings)
    policy_file: str | None  # best effort: the file defining that rule in that namespace


class PolicyRuntimeError(GitcopsError):
    """A policy rule failed while evaluating one input (division by zero, a built-in error...)."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        index: int | None = None,
        namespace: str | None = None,
        rule: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.index = index
        self.namespace = namespace
        self.rule = rule
        self.detail = message
        where = f"{file}:{line}" if file and line else file
        super().__init__(f"{where}: {message}" if where else message)

    def diagnostic(self) -> Diagnostic:
        return Diagnostic(self.detail, self.file, line=self.line)


# ---------------------------------------------------------------------------------------------
# Low-level access to rego-cpp (through regopy's ctypes bindings)

# Our own handle on regopy's shared library, with the C signatures declared here, so that
# nothing depends on how regopy's Python wrappers happen to be written.
_lib: Any = ctypes.CDLL(rego_shared.rego._name)
_KIND_ERROR = int(regopy.NodeKind.Error)
_KIND_ERROR_MESSAGE = int(regopy.NodeKind.ErrorMessage)
_KIND_ERROR_CODE = int(regopy.NodeKind.ErrorCode)
_KIND_ERROR_SEQ = int(regopy.NodeKind.ErrorSeq)
_LOG_NONE = regopy.LogLevel.NONE

_P = ctypes.c_void_p
_U32 = ctypes.c_uint32
_BUF = ctypes.POINTER(ctypes.c_char)


def _declare(name: str, restype: Any, *argtypes: Any) -> Any:
    function = getattr(_lib, name)
    function.restype = restype
    function.argtypes = list(argtypes)
    return function


_query_entrypoint = _declare("regoBundleQueryEntrypoint", _P, _P, _P, ctypes.c_char_p)
_bundle_node = _declare("regoBundleNode", _P, _P)
_output_ok = _declare("regoOutputOk", ctypes.c_bool, _P)
_output_size = _declare("regoOutputJSONSize", _U32, _P)
_output_json = _declare("regoOutputJSON", _U32, _P, _BUF, _U32)
_output_node = _declare("regoOutputNode", _P, _P)
_free_output = _declare("regoFreeOutput", None, _P)
_node_type = _declare("regoNodeType", _U32, _P)
_node_size = _declare("regoNodeSize", _U32, _P)
_node_get = _declare("regoNodeGet", _P, _P, _U32)
_node_value_size = _declare("regoNodeValueSize", _U32, _P)
_node_value_read = _declare("regoNodeValue", _U32, _P, _BUF, _U32)
_set_input = _declare("regoSetInput", _U32, _P, _P)
_new_input = _declare("regoNewInput", _P)
_free_input = _declare("regoFreeInput", None, _P)
_in_int = _declare("regoInputInt", _U32, _P, ctypes.c_int64)
_in_float = _declare("regoInputFloat", _U32, _P, ctypes.c_double)
_in_str = _declare("regoInputString", _U32, _P, ctypes.c_char_p)
_in_bool = _declare("regoInputBoolean", _U32, _P, ctypes.c_bool)
_in_null = _declare("regoInputNull", _U32, _P)
_in_item = _declare("regoInputObjectItem", _U32, _P)
_in_object = _declare("regoInputObject", _U32, _P, _U32)
_in_array = _declare("regoInputArray", _U32, _P, _U32)
_escape = json.encoder.encode_basestring
_INT64 = 2**63


def _sized_text(size: Callable[[Any], int], read: Callable[..., int], handle: Any) -> str:
    # The size functions of some rego-cpp objects leave out the terminating NUL: add room.
    n = int(size(handle)) + 1
    buf = ctypes.create_string_buffer(n)
    if read(handle, buf, n) != 0:
        return ""
    return buf.value.decode("utf-8", "replace")


def _node_value(node: Any) -> str:
    return _sized_text(_node_value_size, _node_value_read, node)


def _node_errors(node: Any) -> list[tuple[str, str]]:
    """(message, code) of every error under an ErrorSeq/Error node."""
    if not node:
        return []
    kind = int(_node_type(node))
    children = [_node_get(node, i) for i in range(int(_node_size(node)))]
    if kind == _KIND_ERROR:
        message = code = ""
        for child in children:
            child_kind = int(_node_type(child))
            if child_kind == _KIND_ERROR_MESSAGE:
                message = _node_value(child)
            elif child_kind == _KIND_ERROR_CODE:
                code = _node_value(child)
        return [(message or "unknown error", code)]
    if kind == _KIND_ERROR_SEQ:
        return [error for child in children for error in _node_errors(child)]
    return []


_ERROR_HEAD = re.compile(rb"\(error(?: (\d+):|(?=\s))")
_ERROR_LOCATION = re.compile(rb"\|(\d+)\|(\d+)")
_ERROR_MESSAGE = re.compile(rb"\(errormsg (\d+):")


def _parse_error_text(text: str) -> list[tuple[str | None, int | None, str]]:
    """rego-cpp's error S-expressions: [(module name, byte offset, message)]."""
    raw = text.encode("utf-8", "replace")
    out: list[tuple[str | None, int | None, str]] = []
    pos = 0
    while (head := _ERROR_HEAD.search(raw, pos)) is not None:
        pos = head.end()
        name: str | None = None
        offset: int | None = None
        if head.group(1) is not None:
            length = int(head.group(1))
            name = raw[pos : pos + length].decode("utf-8", "replace")
            pos += length
            location = _ERROR_LOCATION.match(raw, pos)
            if location is not None:
                offset = int(location.group(1))
                pos = location.end()
        found = _ERROR_MESSAGE.search(raw, pos)
        if found is None:
            break
        length = int(found.group(1))
        message = raw[found.end() : found.end() + length].decode("utf-8", "replace")
        pos = found.end() + length
        out.append((name, offset, message))
    if not out and text.strip():
        out.append((None, None, text.strip()))
    return out


class _BuildError(Exception):
    def __init__(self, errors: list[tuple[str | None, int | None, str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def _build(
    modules: Sequence[tuple[str, str]],
    data_json: str | None,
    entrypoints: Sequence[str],
) -> tuple[Any, Any]:
    """Compile modules into a bundle: (bundle, the interpreter that built it)."""
    interpreter = regopy.Interpreter()
    interpreter.log_level = _LOG_NONE  # rego-cpp prints compile errors on stdout otherwise
    try:
        if data_json is not None:
            interpreter.add_data_json(data_json)
        for name, text in modules:
            interpreter.add_module(name, text)
        if entrypoints:
            bundle = interpreter.build(None, list(entrypoints))
        else:
            bundle = interpreter.build("true", [])
    except regopy.RegoError as error:
        raise _BuildError(_parse_error_text(str(error))) from None
    if not bundle.ok():
        errors = _node_errors(_bundle_node(bundle._impl))
        raise _BuildError([(None, None, message) for message, _ in errors] or [(None, None, "")])
    return bundle, interpreter


def _crashes(
    modules: Sequence[tuple[str, str]], data_json: str | None, entrypoints: Sequence[str]
) -> bool:
    """Whether compiling these modules kills the process: tried in a forked child, or, where
    this process runs other threads (which a fork would copy mid-flight) or cannot fork, in a
    new interpreter."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return _crashes_in_new_process(modules, data_json, entrypoints)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            faulthandler.disable()  # an abort here is the expected answer, not news
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            with contextlib.suppress(BaseException):
                _build(modules, data_json, entrypoints)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) or os.WEXITSTATUS(status) != 0


_PROBE = (
    "import json, sys\n"
    "from gitcops.validate.policy.engine import _build\n"
    "modules, data, entrypoints = json.load(sys.stdin)\n"
    "try:\n"
    "    _build([tuple(m) for m in modules], data, entrypoints)\n"
    "except BaseException:\n"
    "    pass\n"
)


def _crashes_in_new_process(
    modules: Sequence[tuple[str, str]], data_json: str | None, entrypoints: Sequence[str]
) -> bool:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        input=json.dumps([list(modules), data_json, list(entrypoints)]),
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode != 0


# ---------------------------------------------------------------------------------------------
# Documents into rego-cpp


_ENCODED_MAX = 1 << 16


class _Writer:
    """Pushes JSON-like values onto rego-cpp inputs. It remembers the encoded form of recent
    short strings (keys, kinds, labels...): most repeat across documents. One per engine,
    like the engine itself used by one thread at a time."""

    def __init__(self) -> None:
        self.encoded: dict[str, bytes] = {}

    def encode(self, text: str) -> bytes:
        encoded = bytes(_escape(text)[1:-1], "utf-8")
        if len(text) <= 64:
            if len(self.encoded) >= _ENCODED_MAX:
                self.encoded.clear()
            self.encoded[text] = encoded
        return encoded

    def key(self, key: Any) -> bytes:
        if isinstance(key, str):
            return self.encoded.get(key) or self.encode(key)
        if key is True or key is False:
            return b"true" if key else b"false"
        if key is None:
            return b"null"
        return self.encode(str(key))

    def add(self, handle: Any, value: Any) -> int:
        """Push a value onto a rego-cpp input; non-zero if rego-cpp refused it."""
        kind = type(value)
        encoded = self.encoded
        if kind is str:
            return int(_in_str(handle, encoded.get(value) or self.encode(value)))
        if kind is dict:
            rc = 0
            for key, item in value.items():
                rc |= _in_str(handle, encoded.get(key) or self.key(key))
                rc |= self.add(handle, item)
                rc |= _in_item(handle)
            return rc | int(_in_object(handle, len(value)))
        if kind is list or kind is tuple:
            rc = 0
            for item in value:
                rc |= self.add(handle, item)
            return rc | int(_in_array(handle, len(value)))
        if kind is bool:
            return int(_in_bool(handle, value))
        if kind is int:
            if -_INT64 <= value < _INT64:
                return int(_in_int(handle, value))
            return int(_in_float(handle, float(value)))
        if kind is float:
            if math.isfinite(value):
                return int(_in_float(handle, value))
            return self.add(handle, str(value))
        if value is None:
            return int(_in_null(handle))
        return self.add(handle, _plain(value))

    def add_kept(self, handle: Any, value: Any, keep: "_Keep") -> int:
        """Like add, but of an object only the keys (recursively) in `keep`."""
        if type(value) is not dict:
            return self.add(handle, value)
        if any(key not in value for key in keep) and any(type(k) is not str for k in value):
            value = {self.key(k).decode(): v for k, v in value.items()}  # {1: x} reads as {"1": x}
        rc = 0
        count = 0
        for key, deeper in keep.items():
            if key in value:
                rc |= _in_str(handle, self.encoded.get(key) or self.key(key))
                item = value[key]
                rc |= (
                    self.add(handle, item)
                    if deeper is None
                    else self.add_kept(handle, item, deeper)
                )
                rc |= _in_item(handle)
                count += 1
        return rc | int(_in_object(handle, count))


# What of the input the policies read: key -> deeper selection, or None for the whole value.
_Keep = dict[str, "_Keep | None"]


def _keep_tree(paths: Sequence[tuple[str, ...]]) -> _Keep:
    tree: _Keep = {}
    for path in sorted(set(paths), key=len):
        node = tree
        for n, part in enumerate(path):
            if part in node and node[part] is None:
                break  # a shorter path already keeps all of it
            if n == len(path) - 1:
                node[part] = None
            else:
                node = node.setdefault(part, {})  # type: ignore[assignment]
    return tree


def _plain(value: Any) -> Any:
    """Anything else a YAML loader or a caller may produce, as JSON would carry it."""
    if isinstance(value, Mapping):
        return {k: v for k, v in value.items()}
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, Sequence):
        return list(value)
    return str(value)


def _json_default(value: Any) -> Any:
    return _plain(value)


_NOTHING = frozenset({"", "undefined", '{"expressions":[[]]}', '{"expressions":[{}]}'})


class _Reader:
    """Reads rego-cpp outputs as text through one buffer, grown when an output needs it."""

    def __init__(self) -> None:
        self.buffer = ctypes.create_string_buffer(1 << 16)

    def read(self, output: Any) -> tuple[bool, str]:
        if not _output_ok(output):
            return False, ""
        size = int(_output_size(output)) + 1
        if size > len(self.buffer):
            self.buffer = ctypes.create_string_buffer(size)
        if _output_json(output, self.buffer, size) != 0:
            return True, ""
        return True, self.buffer.value.decode("utf-8", "replace")


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        # rego-cpp may print control characters raw, or upper-case an escape (upper()).
        fixed = re.sub(r"\\U([0-9A-Fa-f]{4})", r"\\u\1", text)
        return json.loads(fixed, strict=False)


# ---------------------------------------------------------------------------------------------
# Which file a finding came from


_VERB = re.compile(r"%[-+# 0]*(?:\d+|\*)?(?:\.(?:\d+|\*))?([a-zA-Z%])")


def _format_pattern(literal: str) -> str | None:
    """A sprintf format (or any literal) as a pattern matching what it can produce."""
    pieces: list[str] = []
    last = 0
    verbs = 0
    for match in _VERB.finditer(literal):
        pieces.append(re.escape(literal[last : match.start()]))
        if match.group(1) == "%":
            pieces.append("%")
        else:
            pieces.append("(?s:.*?)")
            verbs += 1
        last = match.end()
    pieces.append(re.escape(literal[last:]))
    if not verbs and len(literal) < 4:
        return None
    return "".join(pieces)


class _Attribution:
    """Best effort: which of the files defining (namespace, rule) produced a message."""

    def __init__(self, candidates: dict[tuple[str, str], list[tuple[str, list[str]]]]) -> None:
        self._candidates = candidates
        self._patterns: dict[tuple[str, str], list[tuple[str, re.Pattern[str], list[str]]]] = {}
        self._memo: dict[tuple[str, str, str], str | None] = {}

    def file_for(self, namespace: str, rule: str, message: str) -> str | None:
        files = self._candidates.get((namespace, rule), [])
        if len(files) <= 1:
            return files[0][0] if files else None
        key = (namespace, rule, message)
        if key not in self._memo:
            self._memo[key] = self._match(namespace, rule, message)
        return self._memo[key]

    def _match(self, namespace: str, rule: str, message: str) -> str | None:
        patterns = self._patterns.get((namespace, rule))
        if patterns is None:
            patterns = []
            for path, literals in self._candidates[(namespace, rule)]:
                found = {p for p in map(_format_pattern, literals) if p is not None}
                union = "|".join(f"(?:{p})" for p in sorted(found)) or "(?!)"
                pieces = {
                    piece.strip()
                    for literal in literals
                    for piece in _VERB.split(literal)
                    if len(piece.strip()) >= 6
                }
                patterns.append((path, re.compile(union, re.DOTALL), sorted(pieces)))
            self._patterns[(namespace, rule)] = patterns
        # A format string (or literal) of exactly one file produces the whole message...
        matching = [path for path, pattern, _ in patterns if pattern.fullmatch(message)]
        if len(matching) == 1:
            return matching[0]
        # ... or, failing that, one file's literals make up more of it than any other's.
        scores = sorted(
            ((sum(piece in message for piece in pieces), path) for path, _, pieces in patterns),
            reverse=True,
        )
        if scores and scores[0][0] > 0 and (len(scores) == 1 or scores[1][0] < scores[0][0]):
            return scores[0][1]
        return None


# ---------------------------------------------------------------------------------------------
# The engine


class _Namespace(NamedTuple):
    name: str
    # (rule, bundle entry point) of each conftest rule the namespace defines: "main/deny".
    # (Querying the rules one by one measured faster than one generated rule returning all
    # three, and it tells which rule failed.)
    rules: tuple[tuple[str, bytes], ...]


# (index, namespace, rule, message, details, policy file): a RawFinding's fields
_Row = tuple[int, str, str, str, dict[str, Any], str | None]


class _Failure(NamedTuple):
    position: int  # of the input
    namespace: str
    rule: str | None
    message: str


class PolicyEngine:
    def __init__(self, files: Sequence[PolicyFile], data: Mapping[str, Any] | None = None) -> None:
        """Compile once (a bundle). Raise InvalidInputError listing every bad file, each
        Diagnostic naming the file and line: syntax errors, unknown functions, and rego v0
        rule syntax (`deny[msg] { ... }`, which rego-cpp silently evaluates to an object)."""
        self._files = tuple(files)
        self._writer = _Writer()
        self._reader = _Reader()
        self._scans = [scan(f.text) for f in self._files]
        self._names = [f"policy-{i}.rego" for i in range(len(self._files))]
        self._data_json = (
            None if data is None else json.dumps(data, ensure_ascii=False, default=_json_default)
        )
        rules: dict[str, set[str]] = {}
        for module in self._scans:
            for namespace, found in module.namespaces().items():
                rules.setdefault(namespace, set()).update(found)
        self._rules = {ns: tuple(r for r in CONFTEST_RULES if r in rules[ns]) for ns in rules}
        # Only what some policy reads of the input is handed to rego-cpp (less to copy).
        paths = [m.input_paths for m in self._scans]
        self._keep: _Keep | None = (
            None
            if any(p is None for p in paths)
            else _keep_tree([x for p in paths if p for x in p])
        )
        self._namespaces = {
            name: _namespace(i, name, self._rules[name]) for i, name in enumerate(sorted(rules))
        }
        modules = [*zip(self._names, (f.text for f in self._files), strict=True)]
        aliases = _eval_module(self._namespaces)
        if aliases:
            modules.append((_EVAL_MODULE, aliases))
        entrypoints = [e.decode() for ns in self._namespaces.values() for _, e in ns.rules]

        diagnostics: dict[int, list[Diagnostic]] = {}
        for i, module in enumerate(self._scans):
            for problem in module.problems:
                diagnostics.setdefault(i, []).append(
                    Diagnostic(problem.message, self._files[i].path, line=problem.line)
                )
        if any(m.with_lines for m in self._scans) and _crashes(
            modules, self._data_json, entrypoints
        ):
            self._raise([*diagnostics.items(), *self._crash_diagnostics().items()])

        try:
            self._bundle, self._builder = _build(modules, self._data_json, entrypoints)
            broken: set[int] = set()
        except _BuildError as error:
            broken = self._compile_diagnostics(error.errors, diagnostics)
        self._check_calls(diagnostics, broken)
        if diagnostics:
            self._raise(list(diagnostics.items()))
        self._attribution = _Attribution(
            {
                (ns, rule): [
                    (self._files[i].path, self._scans[i].strings_of(_local(ns, module, rule)))
                    for i, module in enumerate(self._scans)
                    if rule in module.namespaces().get(ns, set())
                ]
                for ns, found in self._rules.items()
                for rule in found
            }
        )

    @property
    def namespaces(self) -> frozenset[str]:
        """The namespaces (Rego packages) that define deny, violation or warn."""
        return frozenset(self._namespaces)

    def evaluate(
        self,
        inputs: Sequence[Mapping[str, Any]],
        namespaces: Sequence[str],
        workers: Callable[[int], int] | int = 1,
    ) -> list[RawFinding]:
        """Evaluate deny, violation and warn of each namespace against each input.

        A namespace no policy defines yields nothing (as with conftest); `namespaces` tells
        which exist. Raises PolicyRuntimeError when a rule fails on an input. `workers`: how
        many processes to evaluate in (forked from this one, which must then run no other
        thread), or a function of the number of evaluations that says so."""
        if isinstance(namespaces, str):
            namespaces = [namespaces]
        selected = [self._namespaces[ns] for ns in dict.fromkeys(namespaces) if ns in self._rules]
        if not selected or not inputs:
            return []
        workers = max(1, workers(len(inputs) * len(selected)) if callable(workers) else workers)
        collecting = gc.isenabled()
        gc.disable()  # the rows are plain data: no cycles to collect, only time to lose
        try:
            if workers > 1:
                rows, failures = self._evaluate_parallel(inputs, selected, workers)
            else:
                rows, failures = self._evaluate_range(inputs, selected, 0, len(inputs))
        finally:
            if collecting:
                gc.enable()
        if failures:
            failure = min(failures, key=lambda f: f.position)
            raise self._runtime_error(failure, inputs[failure.position])
        return [RawFinding(*row) for row in rows]

    # -- evaluation --------------------------------------------------------------------------

    def _evaluate_range(
        self,
        inputs: Sequence[Mapping[str, Any]],
        selected: Sequence[_Namespace],
        start: int,
        stop: int,
        runner: Any = None,
    ) -> tuple[list[_Row], list[_Failure]]:
        """Evaluate inputs[start:stop]; stops at the first failing input."""
        if runner is None:
            runner = _runner()
        run = runner._impl
        bundle = self._bundle._impl
        keep = self._keep
        rows: list[_Row] = []
        for index in range(start, stop):
            handle = _new_input()
            try:
                value = inputs[index]
                pushed = (
                    self._writer.add(handle, value)
                    if keep is None
                    else self._writer.add_kept(handle, value, keep)
                )
                if pushed != 0 or _set_input(run, handle) != 0:
                    message = "the input could not be passed to rego-cpp"
                    return rows, [_Failure(index, selected[0].name, None, message)]
            finally:
                _free_input(handle)
            for namespace in selected:
                for rule, entrypoint in namespace.rules:
                    output = _query_entrypoint(run, bundle, entrypoint)
                    try:
                        ok, text = self._reader.read(output)
                        errors = [] if ok else _node_errors(_output_node(output))
                    finally:
                        _free_output(output)
                    failure = self._collect(index, namespace.name, rule, ok, text, errors, rows)
                    if failure is not None:
                        return rows, [failure]
        return rows, []

    def _collect(
        self,
        index: int,
        namespace: str,
        rule: str,
        ok: bool,
        text: str,
        errors: list[tuple[str, str]],
        rows: list[_Row],
    ) -> _Failure | None:
        """Turn one rule's output into rows; a _Failure if the rule failed."""
        if not ok:
            message = "; ".join(f"{m} ({c})" if c else m for m, c in errors) or "unknown error"
            return _Failure(index, namespace, rule, message)
        if text.startswith("(error"):  # e.g. an unknown function reached, recursion
            parsed = _parse_error_text(text)
            return _Failure(index, namespace, rule, "; ".join(m for _, _, m in parsed))
        if text in _NOTHING:
            return None
        try:
            value = _loads(text)["expressions"][0]
        except (ValueError, KeyError, IndexError, TypeError):
            return _Failure(index, namespace, rule, f"unreadable result: {text[:200]}")
        for item in _messages(value):
            if isinstance(item, str):
                return _Failure(index, namespace, rule, item)
            message, details = item
            policy_file = self._attribution.file_for(namespace, rule, message)
            rows.append((index, namespace, rule, message, details, policy_file))
        return None

    def _evaluate_parallel(
        self, inputs: Sequence[Mapping[str, Any]], selected: Sequence[_Namespace], workers: int
    ) -> tuple[list[_Row], list[_Failure]]:
        """Evaluate in this process and workers-1 forked children.

        The children inherit the compiled bundle and the inputs. Work is handed out in small
        chunks through a pipe preloaded with chunk numbers (4-byte reads from a pipe are
        atomic), so a process slowed down by other load simply takes fewer chunks; each child
        sends its rows back pickled through its own pipe when the chunks run out."""
        size = max(16, min(64, len(inputs) // (workers * 16) or 1))
        size = max(size, math.ceil(len(inputs) / _MAX_CHUNKS))
        chunks = [(lo, min(lo + size, len(inputs))) for lo in range(0, len(inputs), size)]
        work_read, work_write = os.pipe()
        try:
            _write_all(work_write, b"".join(struct.pack("<I", n) for n in range(len(chunks))))
        finally:
            os.close(work_write)
        children: list[tuple[int, int]] = []
        results: dict[int, tuple[list[_Row], list[_Failure]]] = {}
        _flush_c_stdio()  # or a child would write out this process's pending output again
        try:
            for _ in range(workers - 1):
                result_read, result_write = os.pipe()
                pid = os.fork()
                if pid == 0:  # pragma: no cover - runs in the child, which never returns
                    os.close(result_read)
                    self._child(inputs, selected, chunks, work_read, result_write)
                os.close(result_write)
                children.append((pid, result_read))
            results.update(self._run_chunks(inputs, selected, chunks, work_read))
            for pid, result_read in children:
                payload = _read_all(result_read)
                os.close(result_read)
                _, status = os.waitpid(pid, 0)
                try:
                    got = pickle.loads(payload)  # noqa: S301 - from the child forked above
                except Exception:
                    got = None
                if not isinstance(got, dict):
                    why = "crashed" if os.WIFSIGNALED(status) else f"failed: {got!r}"
                    raise PolicyRuntimeError(
                        f"the policy engine (rego-cpp) {why} while evaluating the inputs"
                    )
                results.update(got)
            children = []
        finally:
            os.close(work_read)
            for pid, result_read in children:
                with contextlib.suppress(OSError):
                    os.close(result_read)
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                with contextlib.suppress(OSError):
                    os.waitpid(pid, 0)
        rows: list[_Row] = []
        failures: list[_Failure] = []
        for n in sorted(results):
            rows.extend(results[n][0])
            failures.extend(results[n][1])
        return rows, failures

    def _run_chunks(
        self,
        inputs: Sequence[Mapping[str, Any]],
        selected: Sequence[_Namespace],
        chunks: Sequence[tuple[int, int]],
        work: int,
    ) -> dict[int, tuple[list[_Row], list[_Failure]]]:
        """Take chunk numbers from the work pipe until it is empty (or an input fails)."""
        runner = _runner()
        done: dict[int, tuple[list[_Row], list[_Failure]]] = {}
        while len(raw := os.read(work, 4)) == 4:
            (n,) = struct.unpack("<I", raw)
            lo, hi = chunks[n]
            done[n] = self._evaluate_range(inputs, selected, lo, hi, runner=runner)
            if done[n][1]:
                break
        return done

    def _child(
        self,
        inputs: Sequence[Mapping[str, Any]],
        selected: Sequence[_Namespace],
        chunks: Sequence[tuple[int, int]],
        work: int,
        out: int,
    ) -> None:  # pragma: no cover - runs in a forked child
        status = 0
        try:
            gc.disable()  # a collection would touch (and so copy) every inherited object
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides
            try:
                payload = pickle.dumps(self._run_chunks(inputs, selected, chunks, work))
            except BaseException as error:
                payload = pickle.dumps(f"{type(error).__name__}: {error}")
            _write_all(out, payload)
            _flush_c_stdio()  # what policies print()ed
        except BaseException:
            status = 1
        finally:
            os._exit(status)

    # -- errors --------------------------------------------------------------------------------

    def _raise(self, items: list[tuple[int, list[Diagnostic]]]) -> None:
        merged: dict[int, list[Diagnostic]] = {}
        for i, found in items:
            merged.setdefault(i, []).extend(found)
        ordered: list[Diagnostic] = []
        for i in sorted(merged):
            seen: set[tuple[int | None, str]] = set()
            for d in sorted(merged[i], key=lambda d: d.line or 0):
                if (d.line, d.message) not in seen:
                    seen.add((d.line, d.message))
                    ordered.append(d)
        raise InvalidInputError(ordered)

    def _crash_diagnostics(self) -> dict[int, list[Diagnostic]]:
        suspects = [i for i, m in enumerate(self._scans) if m.with_lines]
        crashing = [
            i for i in suspects if _crashes([(self._names[i], self._files[i].text)], None, [])
        ]
        message = (
            "rego-cpp (regopy) aborts compiling the `with` in this file (it supports `with` "
            "only in simple cases, and never `with input as <variable>`): rewrite the rule "
            "without `with`"
        )
        return {
            i: [Diagnostic(message, self._files[i].path, line=self._scans[i].with_lines[0])]
            for i in (crashing or suspects)
        }

    def _compile_diagnostics(
        self,
        errors: list[tuple[str | None, int | None, str]],
        diagnostics: dict[int, list[Diagnostic]],
    ) -> set[int]:
        """Report a failed build, file by file; returns the files that do not compile."""
        broken: set[int] = set()
        by_name = {name: i for i, name in enumerate(self._names)}
        located = False
        for name, offset, message in errors:
            if name in by_name:
                i = by_name[name]
                broken.add(i)
                located = True
                diagnostics.setdefault(i, []).append(self._diagnostic(i, offset, message))
        # rego-cpp stops at the first module with errors: compile every file on its own too.
        for i, name in enumerate(self._names):
            if i in broken:
                continue
            alone = [(name, self._files[i].text)]
            if self._scans[i].with_lines and _crashes(alone, None, []):
                diagnostics.update(self._crash_diagnostics())
                broken.add(i)
                continue
            try:
                _build(alone, None, [])
            except _BuildError as error:
                broken.add(i)
                for _, offset, message in error.errors:
                    diagnostics.setdefault(i, []).append(self._diagnostic(i, offset, message))
        if not broken and not located:
            # Each file compiles alone: name those without which the rest compiles.
            text = "; ".join(m for _, _, m in errors)
            modules = [*zip(self._names, (f.text for f in self._files), strict=True)]
            involved = []
            for i in range(len(modules)):
                try:
                    _build(modules[:i] + modules[i + 1 :], self._data_json, [])
                except _BuildError:
                    continue
                involved.append(i)
            for i in involved:
                diagnostics.setdefault(i, []).append(
                    Diagnostic(
                        f"does not compile together with the other policies: {text}",
                        self._files[i].path,
                    )
                )
            if not involved:
                diagnostics.setdefault(len(self._files), []).append(
                    Diagnostic(f"the policies do not compile together: {text}")
                )
        return broken

    def _diagnostic(self, i: int, offset: int | None, message: str) -> Diagnostic:
        text = self._files[i].text
        line = None
        if offset is not None:
            line = text.encode("utf-8", "replace")[:offset].count(b"\n") + 1
        return Diagnostic(f"does not compile: {message}", self._files[i].path, line=line)

    def _check_calls(self, diagnostics: dict[int, list[Diagnostic]], broken: set[int]) -> None:
        functions = set().union(*(m.functions() for m in self._scans))
        checker = regopy.Interpreter()
        memo: dict[str, bool] = {}

        def is_builtin(name: str) -> bool:
            if name not in memo:
                memo[name] = name in _BUILTINS_ALSO or bool(checker.is_builtin(name))
            return memo[name]

        for i, module in enumerate(self._scans):
            if i in broken:
                continue
            for call in unknown_calls(module, functions, is_builtin):
                diagnostics.setdefault(i, []).append(
                    Diagnostic(
                        f"unknown function {call.name}(): neither a built-in that rego-cpp "
                        "supports nor a function defined by a policy",
                        self._files[i].path,
                        line=call.line,
                    )
                )

    def _runtime_error(self, failure: _Failure, value: Mapping[str, Any]) -> PolicyRuntimeError:
        rule = failure.rule
        candidates = [
            i
            for i, module in enumerate(self._scans)
            if (rule is None and failure.namespace in module.namespaces())
            or (rule is not None and rule in module.namespaces().get(failure.namespace, set()))
        ]
        file = line = None
        missing = re.search(r"Function not found: ([\w.]+)", failure.message)
        if missing is not None:
            full = missing.group(1)
            last = full.rsplit(".", 1)[-1]
            for i, module in enumerate(self._scans):
                call = next(
                    (c for c in module.calls if c.name in (full, last) or full.endswith(c.name)),
                    None,
                )
                if call is not None:
                    file, line = self._files[i].path, call.line
                    break
        if file is None and candidates:
            i = candidates[0]
            if len(candidates) > 1 and rule is not None:
                i = self._culprit(failure.namespace, rule, candidates, value) or i
            file = self._files[i].path
            heads = [
                h
                for r in ([rule] if rule else CONFTEST_RULES)
                for h in self._scans[i].rule_heads(_local(failure.namespace, self._scans[i], r))
            ]
            line = min((h.line for h in heads), default=None)
        what = f"rule {failure.namespace}.{rule}" if rule else f"namespace {failure.namespace}"
        return PolicyRuntimeError(
            f"{what} failed on input {failure.position}: {failure.message}",
            file=file,
            line=line,
            index=failure.position,
            namespace=failure.namespace,
            rule=rule,
        )

    def _culprit(
        self, namespace: str, rule: str, candidates: list[int], value: Mapping[str, Any]
    ) -> int | None:
        """Of several files defining the failing rule, the one that fails on its own."""
        entrypoint = dict(self._namespaces[namespace].rules)[rule]
        aliases = _eval_module(self._namespaces)
        failing = []
        for culprit in candidates:
            modules = [
                (self._names[i], self._files[i].text)
                for i in range(len(self._files))
                if i == culprit or i not in candidates
            ]
            if aliases:
                modules.append((_EVAL_MODULE, aliases))
            try:
                bundle, _ = _build(modules, self._data_json, [entrypoint.decode()])
            except _BuildError:
                continue
            runner = _runner()
            handle = _new_input()
            try:
                if self._writer.add(handle, value) != 0 or _set_input(runner._impl, handle) != 0:
                    return None
            finally:
                _free_input(handle)
            output = _query_entrypoint(runner._impl, bundle._impl, entrypoint)
            try:
                ok, text = self._reader.read(output)
            finally:
                _free_output(output)
            if not ok or text.startswith("(error"):
                failing.append(culprit)
        return failing[0] if len(failing) == 1 else None


def _local(namespace: str, module: ModuleScan, rule: str) -> str:
    """The head name of `rule` of `namespace` inside a module ("deny", or "sub.deny")."""
    package = module.package or ""
    prefix = namespace[len(package) + 1 :] if namespace != package else ""
    return f"{prefix}.{rule}" if prefix else rule


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _namespace(number: int, name: str, rules: Sequence[str]) -> _Namespace:
    if all(_IDENT.match(part) for part in name.split(".")):
        base = name.replace(".", "/")
        return _Namespace(name, tuple((rule, f"{base}/{rule}".encode()) for rule in rules))
    # A package path an entry point cannot spell (package a["b-c"]): aliased by a rule.
    return _Namespace(
        name, tuple((rule, f"{_EVAL_PACKAGE}/n{number}_{rule}".encode()) for rule in rules)
    )


def _eval_module(namespaces: Mapping[str, _Namespace]) -> str:
    """Rules aliasing the conftest rules of packages whose path is not plain identifiers."""
    lines = []
    for name, namespace in namespaces.items():
        ref = "data" + "".join(f"[{json.dumps(part)}]" for part in name.split("."))
        for rule, entrypoint in namespace.rules:
            alias = entrypoint.decode()
            if alias.startswith(f"{_EVAL_PACKAGE}/"):
                lines.append(f"{alias.split('/', 1)[1]} := {ref}[{json.dumps(rule)}]")
    return "\n".join([f"package {_EVAL_PACKAGE}", "", *lines, ""]) if lines else ""


def _messages(value: Any) -> Iterator[tuple[str, dict[str, Any]] | str]:
    """A rule's value as conftest messages; a plain string says why it cannot be one."""
    if value is None or value is False:
        return
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                yield item, {}
            elif isinstance(item, dict):
                message = item.get("msg")
                if not isinstance(message, str):
                    yield f'a message object has no string "msg" field: {json.dumps(item)}'
                    return
                yield message, {k: v for k, v in item.items() if k != "msg"}
            else:
                yield json.dumps(item), {}
    elif isinstance(value, str):
        yield value, {}
    elif isinstance(value, dict):
        if isinstance(value.get("msg"), str):
            yield value["msg"], {k: v for k, v in value.items() if k != "msg"}
        elif value and all(v is True for v in value.values()):
            yield (
                "the rule evaluated to an object: rego v0 syntax such as `deny[msg] { ... }`? "
                "Write `deny contains msg if { ... }`"
            )
        elif value:
            yield f'the rule evaluated to an object without a "msg" field: {json.dumps(value)}'
    elif value is True:
        yield "the rule is true (it gave no message)", {}
    else:
        yield json.dumps(value), {}


# ---------------------------------------------------------------------------------------------
# Worker processes

# The chunk numbers are written into the pipe before anyone reads it: they must fit in the
# smallest pipe buffer Linux may give (one page), or the write would block for ever.
_MAX_CHUNKS = 1024


def _runner() -> Any:
    runner = regopy.Interpreter()
    runner.log_level = _LOG_NONE
    runner.strict_built_in_errors = True  # else rego-cpp returns wrong values on errors
    return runner


def _flush_c_stdio() -> None:
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).fflush(None)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_all(fd: int) -> bytes:
    parts = []
    while chunk := os.read(fd, 1 << 20):
        parts.append(chunk)
    return b"".join(parts)
