"""Plaintext secrets in a revision's files and in resource specs, found with detect-secrets.

detect-secrets (https://github.com/Yelp/detect-secrets) supplies the detectors (its plugins), the
false-positive heuristics (its filters), the inline waiver (`pragma: allowlist secret`, on the line
or as `pragma: allowlist nextline secret` on the line before) and its INI/dotenv transformers. Its
file entry point, `scan_file`, reads paths from disk and scans one line at a time through a slow
dependency-injection layer, and its YAML transformer rejects multi-document streams (the common
case in a GitOps repository), so this module drives the plugins itself:

* bytes come from `SourceTree.read` (a Git tree is never checked out);
* YAML is parsed once with libyaml into "units" shaped like detect-secrets' YAML transformer
  output (`key: "value"`), one per string value - mapping values, sequence items, and a
  Kubernetes-style `name: X` / `value: Y` pair as `X: "Y"` - so KeywordDetector and the entropy
  plugins see every value quoted and next to its key; lines holding no value (comments, block
  scalar bodies) are scanned as they are;
* other files are scanned line by line and, when they parse as INI or dotenv, also through
  detect-secrets' config transformers;
* identical units are analysed once per scan, and each plugin is only called when a cheap
  necessary condition (its own regular expressions) holds.

SOPS-encrypted files, binary files and `.git/` are skipped. Results are cached per file content
and hold no secret material: only line, detector, type and a short prefix of detect-secrets'
SHA-1 of the secret, which also appears in messages so findings can be told apart.
"""

import contextlib
import hashlib
import json
import os
import posixpath
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from gitcops.model.findings import Finding, Severity
from gitcops.source.tree import SourceTree, walk_files
from gitcops.validate import regex_literals
from gitcops.validate.regex_literals import Literal, LiteralSet, required_literal, with_literal

# ---------------------------------------------------------------------------------------------
# Configuration: detect-secrets' default plugin and filter sets, with these changes.

# Public IPv4 addresses are not credentials, and infrastructure repositories are full of them.
_DISABLED_PLUGINS = ("IPPublicDetector",)
_PLUGIN_OPTIONS: dict[str, dict[str, Any]] = {
    "Base64HighEntropyString": {"limit": 4.5},  # detect-secrets' defaults
    "HexHighEntropyString": {"limit": 3.0},
    # KeywordDetector flags any value of a password/secret-like key; these keys hold the *name*,
    # reference or file path of a secret (secretName, existingSecret, passwordFile, secretRef,
    # userPasswordKey: the key of a Kubernetes Secret that holds the password).
    "KeywordDetector": {
        "keyword_exclude": (
            r"^\s*(?:-\s+)?[\"']?[\w.-]*"
            r"(?:name|refs?|file|path|dir|existing_?secret|password_?key)[\"']?\s*[:=]"
        )
    },
}
_DISABLED_FILTERS = (
    # the scan never looks at the disk: files come from the tree
    "detect_secrets.filters.common.is_invalid_file",
    # skips every path containing "swagger": too broad to hide secrets behind
    "detect_secrets.filters.heuristic.is_swagger_file",
)
_ALLOWLIST_FILTER = "detect_secrets.filters.allowlist.is_line_allowlisted"
# Findings of these detectors on a line that a more specific detector also flagged are dropped:
# one secret, one finding.
_GENERIC = {"KeywordDetector": 1, "Base64HighEntropyString": 2, "HexHighEntropyString": 2}
# Hex strings under these keys are checksums, Git revisions, image tags and fingerprints.
_DIGEST_KEY = re.compile(
    r"(?:sha|digest|checksum|hash|rev|commit|etag|fingerprint|tag|version)[\w./-]*[\"']?\s*[:=]",
    re.IGNORECASE,
)
# Base64 that decodes to a certificate or public key (caBundle, tls.crt, an SSH public key
# blob) is not a secret.
_PUBLIC_KEY = re.compile(
    rb"^\s*-----BEGIN (?:CERTIFICATE|PUBLIC KEY|X509 CRL|TRUSTED CERTIFICATE)"
    rb"|^\0\0\0.(?:ssh-(?:rsa|dss|ed25519|ed448)|ecdsa-sha2-|sk-)",
    re.DOTALL,
)
# Public keys name who may decrypt a SOPS file and are meant to be committed: age recipients
# (plugin ones too), SSH public keys (age accepts them) and PGP fingerprints. Only taken out of
# values in .sops.yaml creation rules and in a document's top-level `sops:` metadata.
_RECIPIENT = re.compile(
    r"\bage1[0-9a-z]{58,}\b"
    r"|\b(?:ssh-(?:ed25519|rsa|dss)|ecdsa-sha2-nistp(?:256|384|521)"
    r"|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) AAAA[0-9A-Za-z+/]+=*"
    r"|\b(?:[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})\b"
)
_SOPS_CONFIGS = (".sops.yaml", ".sops.yml")  # the names sops looks for
_LABELS = {
    "KeywordDetector": "password or secret",
    "Base64HighEntropyString": "high-entropy string",
    "HexHighEntropyString": "high-entropy hex string",
}
_HASH_CHARS = 8
_PIECE, _OVERLAP = 4000, 1000

_LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
_YAML_COMMENT = re.compile(r"(\s+#[\S ]*)")  # as detect-secrets' YAML transformer
_YAML_EXTENSIONS = (".yaml", ".yml", ".eyaml")
_STR_TAG = "tag:yaml.org,2002:str"
_BINARY_TAG = "tag:yaml.org,2002:binary"


class _Hit(NamedTuple):
    line: int
    detector: str  # plugin class name, e.g. AWSKeyDetector
    secret_type: str  # e.g. "AWS Access Key"
    hash_prefix: str

    def as_json(self) -> list[Any]:
        return [self.line, self.detector, self.secret_type, self.hash_prefix]


class _Unit(NamedTuple):
    line: int  # reported line, 1-based
    text: str  # what the plugins see
    start: int = 0  # for the body lines of a multi-line scalar: its first line (waivers, dedupe)
    end: int = 0  # for a multi-line scalar folded into one unit: its last line


# ---------------------------------------------------------------------------------------------
# Public API


class SecretScanner:
    """Scans trees and spec values; one per Runtime. `cache` (a directory, or None for no
    cache) keeps results per file content, and the detectors' fixed patterns (the "screen"),
    which clear most values without loading detect-secrets at all. detect-secrets' detectors
    are configured once per process (its settings are process-wide) and shared."""

    def __init__(self, cache: Path | None) -> None:
        self.cache = cache
        self._lock = threading.Lock()
        self._screen: _Screen | None = None
        self._screen_loaded = False
        self._saved = False
        self._engine: _Engine | None = None
        self.analysed = 0  # texts the detectors ran on (repeats and cleared texts are not)

    @property
    def detectors_loaded(self) -> bool:
        """Whether this scanner needed detect-secrets' detectors (~0.2 s to load) so far."""
        return self._engine is not None

    def scan_tree(
        self, tree: SourceTree, *, exclude: Callable[[str], bool] | None = None
    ) -> list[Finding]:
        """Scan every file of the revision for plaintext secrets."""
        session: _Session | None = None
        findings: list[Finding] = []
        for path in walk_files(tree):
            if exclude is not None and exclude(path):
                continue
            try:
                data = tree.read(path)
            except FileNotFoundError:
                continue
            target = None if self.cache is None else self.cache / f"{_content_key(path, data)}.json"
            hits = None if target is None else _load(target)
            if hits is None:
                if session is None:
                    session = _Session(self)
                hits = session.scan_file(path, data)
                if target is not None:
                    _store(target, hits)
            findings.extend(_finding(path, hit) for hit in hits)
        findings.sort(key=lambda f: (f.file or "", f.line or 0, f.rule))
        return findings

    def scan_values(
        self, values: Iterable[tuple[tuple[str | int, ...], str | None, str]]
    ) -> list[tuple[tuple[str | int, ...], str]]:
        """For resource specs: each item is (field path, key name or None, string value);
        return (field path, what was found) for values that look like secret material. Used
        by the built-in policy 'no plaintext secret material in resource specs'. Values that
        no detector's necessary condition matches are cleared by the saved screen, without
        loading detect-secrets."""
        return self.scan_each([values])[0]

    def scan_each(
        self, specs: Iterable[Iterable[tuple[tuple[str | int, ...], str | None, str]]]
    ) -> list[list[tuple[tuple[str | int, ...], str]]]:
        """scan_values of each spec's values, in one session: a text found in several specs
        (a mode, a common label) is analysed once."""
        session: _Session | None = None
        results: list[list[tuple[tuple[str | int, ...], str]]] = []
        for values in specs:
            items = list(values)
            if not items:
                results.append([])
                continue
            if session is None:
                session = _Session(self, screen=self._screen_now())
            results.append(_scan_items(session, items))
        built = session.built if session is not None else None
        if built is not None:
            self._save_screen(built)
        return results

    def needs_detectors(self) -> bool:
        """Whether scanning values would load detect-secrets: true until a process that
        loaded it saved the detectors' fixed patterns in this cache."""
        return self.cache is None or not _screen_path(self.cache).exists()

    def load_detectors(self) -> None:
        """Import and configure detect-secrets now (~0.2 s), e.g. in a process forked for it."""
        self.engine()

    def engine(self) -> "_Engine":
        with self._lock:
            if self._engine is None:
                self._engine = _shared_engine()
            return self._engine

    def _screen_now(self) -> "_Screen | None":
        with self._lock:
            if self._engine is not None or self.cache is None:
                return None  # the engine is loaded: its own gates are at hand
            if not self._screen_loaded:
                self._screen = _load_screen(self.cache)
                self._screen_loaded = True
            return self._screen

    def _save_screen(self, engine: "_Engine") -> None:
        """Once, by a scanner that had to load the engine because no screen was saved."""
        with self._lock:
            if self.cache is None or self._saved or self._screen is not None:
                return
            self._saved = True
        _save_screen(self.cache, engine)


def _scan_items(
    session: "_Session", items: list[tuple[tuple[str | int, ...], str | None, str]]
) -> list[tuple[tuple[str | int, ...], str]]:
    # A Kubernetes-style {name: DB_PASSWORD, value: hunter2} is scanned as `DB_PASSWORD: hunter2`.
    names = {p[:-1]: v for p, k, v in items if p and p[-1] == "name" and k == "name"}
    out: list[tuple[tuple[str | int, ...], str]] = []
    for path, key, value in items:
        found = session.scan_value(key, value)
        alias = names.get(path[:-1]) if path and path[-1] == "value" else None
        if alias and _SIMPLE_KEY.match(alias):
            found.extend(session.scan_value(alias, value))
        whats = (f"a possible {_label(hit)} (hash {hit.hash_prefix})" for hit in _dedupe(found))
        out.extend((path, what) for what in dict.fromkeys(whats))
    return out


_SIMPLE_KEY = re.compile(r"^[\w.-]{1,253}$")


# ---------------------------------------------------------------------------------------------
# Walking the tree, caching, findings


@lru_cache(maxsize=1)
def settings_key() -> str:
    """What the results of a scan depend on besides the file: versions and configuration."""
    material = json.dumps(
        {
            "detect-secrets": _detect_secrets_version(),
            # this module and the gates' literals: any change to the scan logic invalidates it
            "scanner": hashlib.sha256(
                Path(__file__).read_bytes() + Path(regex_literals.__file__ or "").read_bytes()
            ).hexdigest(),
            "plugins": [_DISABLED_PLUGINS, _PLUGIN_OPTIONS],
            "filters": _DISABLED_FILTERS,
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()


def _detect_secrets_version() -> str:
    """Its version module's text, read without importing the package (whose import loads
    every plugin, ~0.1 s) or importlib.metadata (~20 ms); the metadata when that fails."""
    import importlib.util

    spec = importlib.util.find_spec("detect_secrets")
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        with contextlib.suppress(OSError):
            return (Path(location) / "__version__.py").read_text()
    from importlib.metadata import version

    return version("detect-secrets")


def _content_key(path: str, data: bytes) -> str:
    # The file name matters too: detect-secrets picks rules by extension (and skips lock files).
    digest = hashlib.sha256()
    digest.update(settings_key().encode())
    digest.update(b"\0" + posixpath.basename(path).encode("utf-8", "surrogateescape") + b"\0")
    digest.update(data)
    return digest.hexdigest()


def _load(target: Path) -> list[_Hit] | None:
    try:
        raw = json.loads(target.read_text())
        return [_Hit(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in raw["hits"]]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


def _store(target: Path, hits: list[_Hit]) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
        temp.write_text(json.dumps({"hits": [h.as_json() for h in hits]}))
        temp.replace(target)
    except OSError:
        return


def _label(hit: _Hit) -> str:
    return _LABELS.get(hit.detector, hit.secret_type)


def _finding(path: str, hit: _Hit) -> Finding:
    return Finding(
        source="secrets",
        rule=f"secrets.{hit.detector}",
        severity=Severity.FAILURE,
        message=(
            f"possible {_label(hit)} in plain text (secret hash {hit.hash_prefix}); encrypt it "
            "with SOPS, or if it is not a secret, mark the line with a "
            "'pragma: allowlist secret' comment or add a policy exception"
        ),
        file=path,
        line=hit.line,
        details=(
            ("detector", hit.detector),
            ("secretType", hit.secret_type),
            ("hashPrefix", hit.hash_prefix),
        ),
    )


# ---------------------------------------------------------------------------------------------
# Files that are not scanned


def _text(data: bytes) -> str | None:
    """The file's text, or None for binary files (NUL bytes, not UTF-8)."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


_SOPS_DOTENV = re.compile(r"^sops_mac=", re.MULTILINE)
_SOPS_DOTENV_VERSION = re.compile(r"^sops_(?:version|lastmodified)=", re.MULTILINE)
_SOPS_INI = re.compile(r"^\[sops\][ \t]*$", re.MULTILINE)
_SOPS_INI_MAC = re.compile(r"^mac[ \t]*=", re.MULTILINE)
_SOPS_INI_VERSION = re.compile(r"^(?:version|lastmodified)[ \t]*=", re.MULTILINE)


def _is_sops(text: str) -> bool:
    """SOPS output: YAML/JSON with top-level `sops: {mac, version|lastmodified, ...}` (in every
    document), or dotenv/INI with its sops_mac/sops_version lines or [sops] section."""
    if "sops" not in text:
        return False
    if _SOPS_DOTENV.search(text) and _SOPS_DOTENV_VERSION.search(text):
        return True
    if _SOPS_INI.search(text) and _SOPS_INI_MAC.search(text) and _SOPS_INI_VERSION.search(text):
        return True
    if "mac" not in text:
        return False
    documents: list[Any]
    try:
        documents = [json.loads(text)]
    except ValueError:
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            documents = [d for d in yaml.load_all(text, Loader=loader) if d is not None]
        except Exception:  # not YAML (or values it cannot construct): not SOPS output
            return False
    return bool(documents) and all(_has_sops_metadata(d) for d in documents)


def _has_sops_metadata(document: Any) -> bool:
    meta = document.get("sops") if isinstance(document, dict) else None
    return (
        isinstance(meta, dict) and "mac" in meta and ("version" in meta or "lastmodified" in meta)
    )


# ---------------------------------------------------------------------------------------------
# The detect-secrets engine: plugins and filters configured once per process


class _Plugin(NamedTuple):
    instance: Any
    name: str
    secret_type: str
    gate: Callable[[str], Any] | None  # a cheap necessary condition for any result
    whole: bool  # sees long lines whole (linear); others see them in overlapping pieces
    gate_spec: "_GateSpec | None"  # what `gate` was built from
    skippable: bool  # its gate needs one of the engine's `marks` in the text


# A dataclass still: a test swaps its `marks` in place (object.__setattr__).
@dataclass(frozen=True, slots=True)
class _Engine:
    plugins: tuple[_Plugin, ...]
    marks: LiteralSet  # a text with none of them passes no skippable plugin's gate
    file_filters: tuple[Callable[..., Any], ...]  # (filename)
    line_filters: tuple[tuple[Callable[..., Any], frozenset[str]], ...]  # (filename, line)
    secret_filters: tuple[tuple[Callable[..., Any], frozenset[str]], ...]  # (+ secret, plugin)
    place_filters: tuple[tuple[Callable[..., Any], frozenset[str], bool], ...]  # (+ context)
    unmarked: tuple[_Plugin, ...]  # the plugins to try on a text holding none of the marks


@lru_cache(maxsize=1)
def _shared_engine() -> _Engine:
    """detect-secrets' settings are process-wide: its detectors are configured once, the same
    way for every scanner (a function of this module's constants alone)."""
    return _build_engine()


def _build_engine() -> _Engine:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins.base import RegexBasedDetector
    from detect_secrets.plugins.high_entropy_strings import (
        HexHighEntropyString,
        HighEntropyStringsPlugin,
    )
    from detect_secrets.plugins.keyword import DENYLIST_REGEX, KeywordDetector
    from detect_secrets.settings import Settings, get_filters, get_plugins, transient_settings

    classes: list[type[Any]] = list(get_mapping_from_secret_type_to_class().values())
    names = sorted(c.__name__ for c in classes)
    config = {
        "plugins_used": [
            {"name": n, **_PLUGIN_OPTIONS.get(n, {})} for n in names if n not in _DISABLED_PLUGINS
        ],
        "filters_used": [
            {"path": p} for p in sorted(Settings().filters) if p not in _DISABLED_FILTERS
        ],
    }
    # detect-secrets' own configuration path (as from a baseline's plugins_used/filters_used);
    # the plugin instances and filter functions stay usable after the settings are restored.
    with transient_settings(config) as settings:
        settings.disable_filters(*_DISABLED_FILTERS)
        instances = list(get_plugins())
        filters = list(get_filters())

    plugins = []
    for instance in instances:
        spec: _GateSpec | None = None
        if isinstance(instance, RegexBasedDetector):
            spec = ("any", tuple(_spell_any(p) for p in instance.denylist))
        elif isinstance(instance, HighEntropyStringsPlugin) and instance.regex.groups == 3:
            hex_only = isinstance(instance, HexHighEntropyString)
            spec = ("entropy", _spell(instance.regex), instance.entropy_limit, hex_only)
        elif isinstance(instance, KeywordDetector):
            spec = ("lowered", _spell(re.compile(DENYLIST_REGEX)))
        whole = isinstance(instance, HighEntropyStringsPlugin)
        gate = None if spec is None else _gate(spec)
        skippable = _marks(spec) is not None
        name = type(instance).__name__
        plugins.append(_Plugin(instance, name, instance.secret_type, gate, whole, spec, skippable))

    file_filters = []
    line_filters = []
    secret_filters = []
    place_filters = []
    for fn in filters:
        wants = frozenset(fn.injectable_variables)
        if wants == {"filename"}:
            file_filters.append(fn)
        elif "context" in wants and wants <= {"filename", "line", "context"}:
            place_filters.append((fn, wants, fn.path == _ALLOWLIST_FILTER))
        elif "secret" in wants and wants <= {"filename", "line", "secret", "plugin"}:
            secret_filters.append((fn, wants))
        elif "line" in wants and wants <= {"filename", "line"}:
            line_filters.append((fn, wants))
        # Anything else (e.g. verification against live services) is not configured.
    return _Engine(
        tuple(plugins),
        _mark_set(p.gate_spec for p in plugins),
        tuple(file_filters),
        tuple(line_filters),
        tuple(secret_filters),
        tuple(place_filters),
        tuple(p for p in plugins if not p.skippable),
    )


# How a gate is built, as data, so it can be saved and rebuilt without detect-secrets:
# ("any", patterns) | ("entropy", pattern, limit, hex_only) | ("lowered", pattern), where a
# pattern is (source, flags), and in "any" (source, flags, the text each match contains).
_GateSpec = tuple[Any, ...]


def _spell(pattern: re.Pattern[str]) -> tuple[str, int]:
    return (pattern.pattern, pattern.flags)


def _spell_any(pattern: re.Pattern[str]) -> tuple[str, int, Literal | None]:
    return (pattern.pattern, pattern.flags, required_literal(pattern.pattern, pattern.flags))


def _gate(spec: _GateSpec) -> Callable[[str], Any]:
    kind = spec[0]
    if kind == "any":
        return _any_search(
            tuple(
                with_literal(p, None if lit is None else (lit[0], bool(lit[1])), f)
                for p, f, lit in spec[1]
            )
        )
    if kind == "entropy":
        (source, flags), limit, hex_only = spec[1], spec[2], spec[3]
        return _entropy_gate(re.compile(source, flags), float(limit), bool(hex_only))
    if kind == "lowered":
        return _lowered(re.compile(*spec[1]))
    raise ValueError(f"unknown gate {kind!r}")


# Literals this short are in most texts (".", ":", "A"): their plugins are always gated.
_MARK_LENGTH = 3


def _marks(spec: _GateSpec | None) -> list[Literal] | None:
    """The literals one of which any text passing this gate holds, if it has such a list."""
    if spec is None or spec[0] != "any":
        return None
    found = [(lit[0], bool(lit[1])) for _, _, lit in spec[1] if lit is not None]
    if len(found) != len(spec[1]) or any(len(text) < _MARK_LENGTH for text, _ in found):
        return None
    return found


def _mark_set(specs: Iterable[_GateSpec | None]) -> LiteralSet:
    return LiteralSet(mark for spec in specs for mark in _marks(spec) or ())


def _any_search(searches: tuple[Callable[[str], object | None], ...]) -> Callable[[str], Any]:
    if len(searches) == 1:
        return searches[0]

    def gate(text: str) -> bool:
        for search in searches:  # noqa: SIM110 - any() over a generator takes twice as long
            if search(text):
                return True
        return False

    return gate


def _entropy_gate(regex: re.Pattern[str], limit: float, hex_only: bool) -> Callable[[str], bool]:
    """Shannon entropy is at most log2(distinct symbols): quoted strings with too few distinct
    characters cannot pass the plugin's limit, whatever their order. (Hex strings under digest
    keys are dropped by gitcops afterwards anyway.)"""
    needed = 2**limit

    def gate(text: str) -> bool:
        for m in regex.finditer(text):
            if len(set(m.group(2))) > needed and not (
                hex_only and _DIGEST_KEY.search(text, 0, m.start())
            ):
                return True
        return False

    return gate


def _lowered(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    """Its case-insensitive search, faster: on the lowered text (the words are lowercase)."""

    def gate(text: str) -> bool:
        return pattern.search(text.lower()) is not None

    return gate


# ---------------------------------------------------------------------------------------------
# One scan: analysing units, with a memo shared by all the files of the scan


class _Screen:
    """Every plugin's gate, rebuilt from saved specs: a text that passes none of them is one on
    which _analyse would call no plugin and so find nothing, and detect-secrets (~0.1 s to
    import and configure) is not needed for it."""

    def __init__(self, specs: list[tuple[_GateSpec, bool]]) -> None:
        self._gates = [(_gate(spec), whole, _marks(spec) is not None) for spec, whole in specs]
        self._marks = _mark_set(spec for spec, _ in specs)

    def clears(self, text: str) -> bool:
        pieces = _pieces(text)
        unmarked = self._marks.absent_from(text)
        for gate, whole, skippable in self._gates:
            if skippable and unmarked:
                continue
            for piece in (text,) if whole else pieces:
                if gate(piece):
                    return False
        return True


def _screen_path(cache: Path) -> Path:
    return cache / f"screen-{settings_key()}.json"


def _load_screen(cache: Path) -> _Screen | None:
    """From the specs saved by a process that built the engine with the same settings_key
    (detect-secrets version, this module's source, the configuration)."""
    try:
        specs = json.loads(_screen_path(cache).read_bytes())
        return _Screen([(_unjson(spec), bool(whole)) for spec, whole in specs])
    except (OSError, ValueError, TypeError, IndexError, re.error):
        return None


def _unjson(value: Any) -> Any:
    return tuple(_unjson(v) for v in value) if isinstance(value, list) else value


def _save_screen(cache: Path, engine: _Engine) -> None:
    if any(p.gate_spec is None for p in engine.plugins):
        return  # a plugin without a gate runs on every text: nothing can be cleared early
    target = _screen_path(cache)
    specs = [[p.gate_spec, p.whole] for p in engine.plugins]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
        temp.write_text(json.dumps(specs))
        temp.replace(target)
    except (OSError, TypeError, ValueError):
        return


@dataclass
class _Session:
    scanner: SecretScanner
    screen: _Screen | None = None
    memo: dict[tuple[str, str], list[tuple[str, str, str]]] = field(default_factory=dict)
    built: _Engine | None = None

    @property
    def engine(self) -> "_Engine":
        if self.built is None:
            self.built = self.scanner.engine()
        return self.built

    def analyse(self, filename: str, ext: str, text: str) -> list[tuple[str, str, str]]:
        """(detector, secret type, secret hash prefix) for what the plugins find in text.

        Plugins only look at the file name for its extension (KeywordDetector's rules by file
        type), so results are shared between files of the same extension `ext`.
        """
        key = (ext, text)
        found = self.memo.get(key)
        if found is None:
            screen = self.screen if self.built is None else None
            cleared = screen is not None and screen.clears(text)
            found = [] if cleared else self._analyse(filename, text)
            if len(self.memo) > 500_000:
                self.memo.clear()
            self.memo[key] = found
        return found

    def _analyse(self, filename: str, text: str) -> list[tuple[str, str, str]]:
        engine = self.engine
        self.scanner.analysed += 1
        results: list[tuple[str, str, str]] = []
        pieces = _pieces(text)
        plugins = engine.unmarked if engine.marks.absent_from(text) else engine.plugins
        for plugin in plugins:
            for piece in (text,) if plugin.whole else pieces:
                if plugin.gate is not None and not plugin.gate(piece):
                    continue
                secrets = plugin.instance.analyze_line(
                    filename=filename, line=piece, line_number=0, context=None
                )
                for secret in secrets or ():
                    value = secret.secret_value
                    if value is None or not _gitcops_keeps(plugin.name, value, piece):
                        continue
                    if any(
                        _call(
                            fn,
                            wants,
                            filename=filename,
                            line=piece,
                            secret=value,
                            plugin=plugin.instance,
                        )
                        for fn, wants in engine.secret_filters
                    ):
                        continue
                    digest = secret.secret_hash[:_HASH_CHARS]
                    results.append((plugin.name, plugin.secret_type, digest))
                if results and plugin.name in _GENERIC and results[-1][0] == plugin.name:
                    break  # as on a whole line: KeywordDetector reports its first match
        # detect-secrets applies the line filters first; they are the slow ones (a regex that is
        # quadratic in the line's length), and only matter when something was found.
        if results and any(
            _call(fn, wants, filename=filename, line=text) for fn, wants in engine.line_filters
        ):
            return []
        return _prefer_specific(list(dict.fromkeys(results)))

    def placed(self, filename: str, lines: list[str]) -> Callable[[int], bool]:
        """Whether the filters that look at a line in its file (the allowlist pragma) drop it."""
        from detect_secrets.util.code_snippet import get_code_snippet

        cache: dict[int, bool] = {}

        def dropped(number: int) -> bool:
            if number in cache:
                return cache[number]
            filters = self.engine.place_filters  # only asked about lines where something was found
            line = lines[number - 1].rstrip() if 0 < number <= len(lines) else ""
            previous = lines[number - 2] if 1 < number <= len(lines) + 1 else ""
            context = None
            result = False
            for fn, wants, is_allowlist in filters:
                if is_allowlist and "pragma" not in line and "pragma" not in previous:
                    continue  # its regular expressions all need the word
                if context is None:
                    context = get_code_snippet(lines=lines, line_number=number)
                if _call(fn, wants, filename=filename, line=line, context=context):
                    result = True
                    break
            cache[number] = result
            return result

        return dropped

    # -- files ----------------------------------------------------------------------------

    def scan_file(self, path: str, data: bytes) -> list[_Hit]:
        if any(
            _call(fn, frozenset({"filename"}), filename=path) for fn in self.engine.file_filters
        ):
            return []
        text = _text(data)
        if text is None or _is_sops(text):
            return []
        lines = _LINE_BREAK.split(text)
        ext = os.path.splitext(path)[1]
        units = None
        if ext.lower() in _YAML_EXTENSIONS:
            units = _yaml_units(text, lines, posixpath.basename(path) in _SOPS_CONFIGS)
        if units is None:
            units = _plain_units(path, text, lines)
        dropped = self.placed(path, lines)
        hits: list[_Hit] = []
        folded: list[tuple[_Unit, list[tuple[str, str, str]]]] = []
        in_bodies: set[tuple[int, str, str]] = set()
        for unit in units:
            found = self.analyse(path, ext, unit.text)
            if not found:
                continue
            if dropped(unit.line) or (unit.start and dropped(unit.start)):
                continue
            if unit.end > unit.line:
                folded.append((unit, found))
                continue
            if unit.start:
                in_bodies.update((unit.start, d, h) for d, _, h in found)
            hits.extend(_Hit(unit.line, d, t, h) for d, t, h in found)
        # A secret in a multi-line scalar is reported on its own line, not also on the first.
        for unit, found in folded:
            hits.extend(
                _Hit(unit.line, d, t, h) for d, t, h in found if (unit.line, d, h) not in in_bodies
            )
        return _dedupe(hits)

    # -- values ---------------------------------------------------------------------------

    def scan_value(self, key: str | None, value: str) -> list[_Hit]:
        text = value.strip()
        if not text:
            return []
        hits: list[_Hit] = []
        if "\n" not in text and "\r" not in text:
            unit = f'{key}: "{_quote(text)}"' if key else f'"{_quote(text)}"'
            hits.extend(_Hit(0, d, t, h) for d, t, h in self.analyse("value.yaml", ".yaml", unit))
            return hits
        # Multi-line values (embedded files): line by line, with the allowlist pragma honoured.
        lines = _LINE_BREAK.split(value)
        dropped = self.placed("value", lines)
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            found = self.analyse("value.yaml", ".yaml", line)
            if found and not dropped(number):
                hits.extend(_Hit(number, d, t, h) for d, t, h in found)
        return hits


def _pieces(text: str) -> tuple[str, ...]:
    """A long line (minified JSON or JS) in overlapping pieces: some detect-secrets patterns take
    time quadratic in the length of what they search. Secrets up to _OVERLAP characters long
    lie whole in some piece."""
    if len(text) <= _PIECE:
        return (text,)
    step = _PIECE - _OVERLAP
    return tuple(text[i : i + _PIECE] for i in range(0, len(text) - _OVERLAP, step))


def _call(fn: Callable[..., Any], wants: frozenset[str], **available: Any) -> bool:
    """A detect-secrets filter, called with the arguments it names (its dependency injection)."""
    try:
        return bool(fn(**{k: v for k, v in available.items() if k in wants}))
    except TypeError:
        return False  # as detect-secrets: a filter that needs more than there is does not apply


def _gitcops_keeps(detector: str, secret: str, text: str) -> bool:
    """gitcops' own false-positive heuristics, on top of detect-secrets' filters."""
    if detector == "HexHighEntropyString":
        before = text[: text.find(secret)] if secret in text else text
        if _DIGEST_KEY.search(before):
            return False
    if detector == "Base64HighEntropyString" and len(secret) >= 24:
        import base64
        import binascii

        try:
            decoded = base64.b64decode(secret + "=" * (-len(secret) % 4), validate=False)
        except (binascii.Error, ValueError):
            return True
        if _PUBLIC_KEY.match(decoded):
            return False
    return True


def _prefer_specific(
    results: list[tuple[str, str, str]],
) -> list[tuple[str, str, str]]:
    """Within one unit, a specific detector (AWS key, GitHub token...) wins over KeywordDetector,
    which wins over the entropy plugins: they usually report parts of the same secret."""
    if len(results) < 2:
        return results
    best = min(_GENERIC.get(r[0], 0) for r in results)
    return [r for r in results if _GENERIC.get(r[0], 0) == best]


def _dedupe(hits: list[_Hit]) -> list[_Hit]:
    """One finding per (line, secret): the most specific detector; then sorted."""
    best: dict[tuple[int, str], int] = {}
    for hit in hits:
        rank = _GENERIC.get(hit.detector, 0)
        key = (hit.line, hit.hash_prefix)
        best[key] = min(rank, best.get(key, rank))
    seen: set[tuple[int, str, str]] = set()
    out = []
    for hit in sorted(hits, key=lambda h: (h.line, h.detector, h.hash_prefix)):
        if _GENERIC.get(hit.detector, 0) != best[(hit.line, hit.hash_prefix)]:
            continue
        ident = (hit.line, hit.detector, hit.hash_prefix)
        if ident not in seen:
            seen.add(ident)
            out.append(hit)
    return out


def _quote(value: str) -> str:
    return value.replace('"', '\\"')


# ---------------------------------------------------------------------------------------------
# Units of a file


def _plain_units(path: str, text: str, lines: list[str]) -> list[_Unit]:
    """Every line as it is, plus what detect-secrets' config transformers (INI; dotenv and other
    `key=value` files, as its 'eager' transformer) make of the file when it parses."""
    units = [_Unit(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    for eager in (False, True):
        transformed = _config_transform(path, text, eager)
        if transformed:
            units.extend(_Unit(n, line) for n, line in enumerate(transformed, 1) if line.strip())
    return units


class _NamedText:
    """The file-like object detect-secrets' transformers read (name, read, readlines, seek)."""

    def __init__(self, name: str, text: str) -> None:
        import io

        self.name = name
        self._io = io.StringIO(text)

    def read(self, size: int = -1) -> str:
        return self._io.read(size)

    def readlines(self) -> list[str]:
        return self._io.readlines()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._io.seek(offset, whence)


def _config_transform(path: str, text: str, eager: bool) -> list[str] | None:
    from detect_secrets.transformers import get_transformers
    from detect_secrets.transformers.yaml import YAMLTransformer

    transformers: list[Any] = list(get_transformers())
    for transformer in transformers:
        if isinstance(transformer, YAMLTransformer) or transformer.is_eager != eager:
            continue
        if transformer.should_parse_file(path):
            lines = _parse_with(transformer, path, text)
            if lines is not None:
                return lines
    return None


def _parse_with(transformer: Any, path: str, text: str) -> list[str] | None:
    try:
        lines: list[str] = transformer.parse_file(_NamedText(path, text))
    except Exception:  # its ParsingError, and whatever a parser trips on: lines still scanned
        return None
    return lines


@dataclass(slots=True)
class _Frame:
    is_map: bool
    zone: tuple[str, ...]  # the first two keys of its path from the document root
    expect_key: bool = True
    key: str | None = None
    tracked: dict[str, tuple[str, int]] | None = None  # its name/value (kind/apiVersion) strings


_TRACKED = frozenset({"name", "value", "kind", "apiVersion"})
_SEALED_ZONE = ("spec", "encryptedData")


def _yaml_units(text: str, lines: list[str], sops_config: bool = False) -> list[_Unit] | None:
    """String values of a YAML stream as detect-secrets' YAML transformer shapes them, plus the
    lines that hold no value (comments, block scalar bodies) as they are. None if not YAML.
    Public keys are left out of SOPS metadata and, in a `sops_config`, of creation rules."""
    import yaml
    from yaml import events

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    implicit: dict[str | None, list[tuple[str, re.Pattern[str]]]] = (
        yaml.resolver.Resolver.yaml_implicit_resolvers
    )
    scalar_event, alias_event = events.ScalarEvent, events.AliasEvent
    map_start, seq_start = events.MappingStartEvent, events.SequenceStartEvent
    map_end, seq_end = events.MappingEndEvent, events.SequenceEndEvent
    doc_start, doc_end = events.DocumentStartEvent, events.DocumentEndEvent

    units: list[_Unit] = []
    valued: set[int] = set()  # lines where a scalar value starts
    bodies: dict[int, int] = {}  # line of a multi-line scalar's body -> its first line
    skipped: set[int] = set()
    stack: list[_Frame] = []
    doc: list[tuple[tuple[str, ...], _Unit]] = []
    top: dict[str, tuple[str, int]] = {}

    def comment(number: int) -> str:
        line = lines[number - 1] if number <= len(lines) else ""
        match = _YAML_COMMENT.search(line) if "#" in line else None
        return match.group(0) if match else ""

    def end_document() -> None:
        kind, api = top.get("kind", ("", 0))[0], top.get("apiVersion", ("", 0))[0]
        sealed = kind == "SealedSecret" and api.startswith("bitnami.com/")
        for zone, unit in doc:
            if sealed and zone == _SEALED_ZONE:
                skipped.update(range(unit.line, max(unit.line, unit.end) + 1))
            else:
                units.append(unit)
        doc.clear()
        top.clear()

    def place() -> tuple[str | None, tuple[str, ...]]:
        """Consume the parent's slot for a value: (its key, the zone of a container there)."""
        if not stack:
            return None, ()
        frame = stack[-1]
        if not frame.is_map:
            return None, frame.zone
        if frame.expect_key:  # a complex key
            frame.expect_key = False
            frame.key = None
            return None, frame.zone
        frame.expect_key = True
        key = frame.key
        zone = frame.zone
        return key, ((*zone, key) if key is not None and len(zone) < 2 else zone)

    try:
        parsed: Iterator[Any] = yaml.parse(text, Loader=loader)
        for event in parsed:
            kind = type(event)
            if kind is scalar_event:
                frame = stack[-1] if stack else None
                key = None
                if frame is not None and frame.is_map:
                    if frame.expect_key:
                        frame.expect_key = False
                        frame.key = event.value
                        continue
                    frame.expect_key = True
                    key = frame.key
                first = event.start_mark.line + 1
                valued.add(first)
                end_mark = event.end_mark
                last = end_mark.line + (1 if end_mark.column else 0)
                if last > first:
                    bodies.update(dict.fromkeys(range(first + 1, last + 1), first))
                value: str = event.value
                tag = event.tag
                if tag is None or tag == "!":
                    if not event.style and event.implicit[0] and value:
                        resolvers = implicit.get(value[0], ())
                        if any(regexp.match(value) for _, regexp in resolvers):
                            value = ""  # null, bool, int, float, timestamp: not a secret
                elif tag == _BINARY_TAG:
                    value = "".join(value.split())
                elif tag.startswith("tag:yaml.org,2002:") and tag != _STR_TAG:
                    value = ""
                if frame is not None and (
                    frame.zone[:1] == ("sops",)
                    or (sops_config and frame.zone[:1] == ("creation_rules",))
                ):
                    # Whatever else the value holds (an SSH key's comment) is still scanned.
                    value = _RECIPIENT.sub("", value).strip(", \t")
                value = value.strip()
                if frame is not None and key in _TRACKED and value:
                    if frame.tracked is None:
                        frame.tracked = {}
                    frame.tracked[key] = (value, first)
                    if len(stack) == 1:
                        top[key] = (value, first)
                if not value or "\n" in value or "\r" in value:
                    # Nothing to show for the value (a multi-line text's lines are scanned as
                    # they are), but a comment on its line still is.
                    remark = comment(first)
                    if remark:
                        doc.append((frame.zone if frame else (), _Unit(first, remark.strip())))
                    continue
                if key is not None:
                    shown = f'{key}: "{_quote(value)}"'
                else:
                    shown = f'- "{_quote(value)}"' if stack else f'"{_quote(value)}"'
                zone = frame.zone if frame is not None else ()
                doc.append((zone, _Unit(first, shown + comment(first), 0, max(first, last))))
            elif kind is map_start or kind is seq_start:
                _, zone = place()
                stack.append(_Frame(kind is map_start, zone))
            elif kind is map_end:
                frame = stack.pop()
                pair = frame.tracked
                if pair and "name" in pair and "value" in pair:
                    (name, _), (value, first) = pair["name"], pair["value"]
                    if "\n" not in value and _SIMPLE_KEY.match(name):
                        shown = f'{name}: "{_quote(value)}"{comment(first)}'
                        doc.append((frame.zone, _Unit(first, shown)))
            elif kind is seq_end:
                stack.pop()
            elif kind is alias_event:
                place()
            elif kind is doc_start:
                stack.clear()
            elif kind is doc_end:
                end_document()
    except yaml.YAMLError:
        return None
    end_document()

    for number, line in enumerate(lines, 1):
        if number in valued and number not in bodies:
            continue
        if number in skipped or not line.strip():
            continue
        units.append(_Unit(number, line, bodies.get(number, 0)))
    return units
