"""Random overlays rendered by `kubectl kustomize` and by gitcops: same documents, values, order.

A fixed seed generates CASE_COUNT small repositories (a base, sometimes a middle overlay,
and the overlay rendered) that use every field of docs/kustomize.md: resources (files and
directories), patches (inline and from a file, strategic merge and JSON 6902, with and
without a target), patchesStrategicMerge, patchesJson6902, namePrefix, nameSuffix,
namespace, labels, commonLabels and commonAnnotations, with odd scalars (whole floats,
yes/on, dates with and without a time, nulls, octal, big integers). Each is rendered by
kubectl (several at once) and by gitcops' build_kustomization, and the results must be
the same documents in the same order with the same typed values, or both must refuse.

The generator never writes what docs/kustomize.md lists as a deliberate difference; each
place that avoids one says which.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitcops.model.errors import InvalidInputError
from gitcops.render.kustomize import build_kustomization
from gitcops.render.yamldocs import YamlSyntaxError, iter_documents
from gitcops.source.tree import DictTree

SEED = 20251206
CASE_COUNT = 300

API = "local.gitcops.io/v1"
KINDS = [(API, "File"), (API, "Directory"), ("v1", "ConfigMap")]
NAMES = ["web", "db", "cache", "motd", "issue", "app"]
KEYS = ["a", "b", "c", "mode", "path", "n", "list", "opts"]
LABEL_KEYS = ["tier", "env", "team", "app"]
# Plain scalars as written, each read differently by YAML 1.1, YAML 1.2 or JSON.
SCALARS = [
    "1", "0", "-3", "1e1", "1.0", "2.5", "1e20", "-0.0", "0644", "0x1F", "1_000", ".5",
    "9007199254740993", "yes", "on", "No", "true", "false", "null", "~", "hello", "1:20",
    "'quoted'", '"yes"', "'0644'", "2024-01-01", "2024-1-2",
]  # fmt: skip
# Dates with a time of day: kept apart, see `_scalar`.
TIMES = ["2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10", "2001-12-14T21:59:43+00:00"]
LABEL_VALUES = ["web", "db", "v-2", "'1'", '"yes"', "''"]
# Label values kustomize reads as something else: a date stays as written, null is "", yes
# and 1 are refused (a boolean, a number).
ODD_LABEL_VALUES = ["2024-01-01", "null", "yes", "1"]
JSON_SCALARS = ["1", "1.0", "2.5", "1E2", "-0", "true", "null", '"s"', '"2024-01-01"']


@dataclass
class Res:
    """A resource as seen by patches at some level: its current id and labels."""

    api: str
    kind: str
    name: str
    namespace: str | None
    labels: dict[str, str] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)  # as written, then as patches change it


# --- a small YAML writer whose scalars are written exactly as generated ------------------


def block(value: Any, indent: int = 0) -> str:
    """`value` after a key: " scalar" or a block map/list on the next lines."""
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return " {}\n"
        return "\n" + "".join(
            f"{pad}{key}:{block(item, indent + 2)}" for key, item in value.items()
        )
    if isinstance(value, list):
        if not value:
            return " []\n"
        return "\n" + "".join(f"{pad}- {item}\n" for item in value)  # lists hold scalars
    return f" {value}\n"


def _top(doc: dict[str, Any]) -> str:
    return "".join(f"{key}:{block(item, 2)}" for key, item in doc.items())


# --- the generator -------------------------------------------------------------------------


class Generator:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.fresh = 0  # numbers keys that only one merge patch writes

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def _scalar(self, *, times: bool) -> str:
        # Deliberate difference (docs/kustomize.md, "Dates merged into {...}"): a date with
        # a time of day that a strategic-merge patch merges into a map written as {...}
        # prints as written in kubectl; so merge patches (times=False) never carry one.
        pool = SCALARS + TIMES if times else SCALARS
        return self.rng.choice(pool)

    def value(self, depth: int, *, times: bool) -> Any:
        roll = self.rng.random()
        if depth > 0 and roll < 0.2:
            return {k: self.value(depth - 1, times=times) for k in self.rng.sample(KEYS, 2)}
        if depth > 0 and roll < 0.3:
            return [self._scalar(times=times) for _ in range(self.rng.randint(0, 3))]
        return self._scalar(times=times)

    def spec(self) -> dict[str, Any]:
        keys = self.rng.sample(KEYS, self.rng.randint(1, 4))
        spec = {key: self.value(2, times=True) for key in keys}
        if self.chance(0.5):
            spec["list"] = ["x", "y", self._scalar(times=True)]
        return spec

    def labels(self, count: int) -> dict[str, str]:
        return {k: self.rng.choice(["web", "db", "a1"]) for k in self.rng.sample(LABEL_KEYS, count)}

    def resources(self, names: list[str]) -> tuple[str, list[Res]]:
        docs, made = [], []
        for name in names:
            api, kind = self.rng.choice(KINDS)
            metadata: dict[str, Any] = {"name": name}
            namespace = self.rng.choice([None, None, "ns1", "default"])
            if namespace:
                metadata["namespace"] = namespace
            labels = self.labels(self.rng.randint(0, 2))
            if labels:
                metadata["labels"] = labels
            if self.chance(0.3):
                metadata["annotations"] = {"note": "'x'"}
            spec = self.spec()
            doc = {"apiVersion": api, "kind": kind, "metadata": metadata}
            doc["data" if kind == "ConfigMap" else "spec"] = spec
            docs.append(_top(doc))
            made.append(Res(api, kind, name, namespace, dict(labels), spec))
        return "---\n".join(docs), made

    def label_map(self) -> dict[str, str]:
        keys = self.rng.sample(LABEL_KEYS, self.rng.randint(1, 2))
        return {
            k: self.rng.choice(ODD_LABEL_VALUES if self.chance(0.03) else LABEL_VALUES)
            for k in keys
        }

    # -- patches --

    def smp_doc(self, res: Res, *, with_target: bool) -> str:
        metadata: dict[str, Any] = {"name": res.name}
        if res.namespace:
            metadata["namespace"] = res.namespace
        if self.chance(0.3):
            # Plain label values only: merged over a label a transformer wrote (a string
            # kubectl keeps tagged, see merge_body) an odd one would read differently.
            keys = [k for k in LABEL_KEYS if k != "app"]
            labels = {k: self.rng.choice(LABEL_VALUES) for k in self.rng.sample(keys, 2)}
            if with_target:
                # Deliberate difference (docs/kustomize.md, "A null label value in a merge
                # patch with a target"): refused by gitcops, written as the string "null" by
                # kubectl: none there.
                labels = {k: v for k, v in labels.items() if v != "null"}
            metadata["labels"] = labels or {"tier": "web"}
        doc = {"apiVersion": res.api, "kind": res.kind, "metadata": metadata}
        doc["data" if res.kind == "ConfigMap" else "spec"] = self.merge_body(res.spec, 2)
        return _top(doc)

    def merge_body(self, written: dict[str, Any], depth: int) -> dict[str, Any]:
        """A merge patch for a map, also applied to `written` (what the generator knows of
        the target): deletions, maps and lists where they are (a map over a list or a
        scalar is refused by both), and keys no other patch uses, with any value."""
        body: dict[str, Any] = {}
        for key in self.rng.sample(KEYS, self.rng.randint(0, 2)):
            there = written.get(key)
            roll = self.rng.random()
            if roll < 0.3:
                body[key] = "null"
                written.pop(key, None)
            elif isinstance(there, dict) and depth > 0:
                if roll < 0.4:
                    body[key] = {"$patch": "delete"}
                    written.pop(key)
                else:
                    body[key] = self.merge_body(there, depth - 1)
            elif isinstance(there, list):
                body[key] = written[key] = [self._scalar(times=False) for _ in range(2)]
            else:
                # Deliberate difference (docs/kustomize.md, "Merging over a string"): kubectl
                # keeps the string tag of the value it replaces when it has one (quoted, a
                # word YAML 1.1 reads as a boolean, a string a JSON patch or a transformer
                # wrote) and writes the patch's text as a string. Where a scalar may be,
                # only a quoted string is merged, which both read alike.
                body[key] = written[key] = self.rng.choice(["'x'", '"1e1"', "'2024-01-01'"])
        fresh = f"s{self.fresh}"
        self.fresh += 1
        body[fresh] = written[fresh] = self.value(1, times=False)
        return body

    def json_ops(self, res: Res) -> tuple[str, bool]:
        """Operations as YAML or as JSON text; True when JSON text."""
        root = "/data" if res.kind == "ConfigMap" else "/spec"
        as_json = self.chance(0.3)
        ops: list[dict[str, str]] = []
        present = dict(res.spec)  # what the ops before this one left, as far as known
        for _ in range(self.rng.randint(1, 2)):
            op = self.rng.choice(["add"] * 4 + ["replace"] * 2 + ["remove", "copy", "move", "test"])
            if not present and op != "add":
                op = "add"
            key = self.rng.choice(sorted(present) or ["new"])
            paths = [f"{root}/{key}"]
            if isinstance(present.get("list"), list) and present["list"]:
                paths += [f"{root}/list/0", f"{root}/list/-1", f"{root}/list/01"]
                paths += [f"{root}/list/-"] if op == "add" else []
            path = self.rng.choice(paths)
            if self.chance(0.05):
                # Now and then a path that is not there: both refuse (or both add, for a
                # replace of a missing member).
                path = self.rng.choice(
                    ["/metadata/labels/tier", f"{root}/missing/deep", f"{root}/new"]
                )
            entry = {"op": op, "path": path}
            if op in ("copy", "move"):
                source = self.rng.choice(sorted(present)) if not self.chance(0.05) else "gone"
                entry["from"] = f"{root}/{source}"
                if op == "move":
                    present.pop(source, None)
            written = present.get(path.rpartition("/")[2])
            if op == "test" and (as_json or not isinstance(written, str)) and self.chance(0.8):
                op = entry["op"] = "add"  # a test that would fail: mostly an add instead
            if op == "test":
                if (
                    isinstance(written, str)
                    and written != "-0.0"
                    and not as_json
                    and self.chance(0.9)
                ):
                    entry["value"] = written  # passes unless an earlier patch changed it
                else:
                    # Deliberate difference (docs/kustomize.md, "A test of -0.0"): gitcops
                    # does not tell -0.0 from 0; kustomize does or not, depending on the
                    # patches before it. No test of -0.0 here.
                    entry["value"] = self.rng.choice(
                        [v for v in (JSON_SCALARS if as_json else SCALARS) if v != "-0.0"]
                    )
            elif op in ("add", "replace"):
                if as_json:
                    entry["value"] = self.rng.choice(JSON_SCALARS)
                else:
                    entry["value"] = self.rng.choice([*SCALARS, *TIMES, "y", "Off", "{k: on}"])
                if path == f"{root}/{key}":
                    present[key] = entry["value"]
            elif op == "remove" and path == f"{root}/{key}":
                present.pop(key, None)
            ops.append(entry)
        res.spec = present
        if as_json:
            text = ", ".join(
                "{"
                + ", ".join(f'"{k}": {v if k == "value" else json.dumps(v)}' for k, v in e.items())
                + "}"
                for e in ops
            )
            return f"[{text}]\n", True
        # Deliberate difference (docs/kustomize.md, "Keys that YAML 1.1 reads as booleans or
        # numbers"): refused by gitcops in JSON 6902 values; the map value uses `k`.
        return "".join(
            "- " + "\n  ".join(f"{k}: {v}" for k, v in e.items()) + "\n" for e in ops
        ), False

    def target(self, res: Res) -> str:
        """A target that matches `res` (and maybe others)."""
        # Deliberate difference (docs/kustomize.md, "A target that matches nothing"): an
        # error in gitcops, skipped by kubectl; every target here matches `res`.
        roll = self.rng.random()
        if roll < 0.35:
            return f"{{name: {res.name}}}"
        if roll < 0.5:
            return f"{{name: '{res.name[:2]}.*', kind: {res.kind}}}"
        if roll < 0.6:
            return f"{{kind: {res.kind}}}"
        if roll < 0.7 and "app" in res.labels:
            # Merge patches, which run first, never change the label "app" (see smp_doc).
            return f"{{labelSelector: 'app={res.labels['app']}'}}"
        if roll < 0.8:
            group = res.api.rpartition("/")[0]
            return (
                f"{{group: '{group}', version: v1, name: {res.name}}}"
                if group
                else f"{{version: v1, name: {res.name}}}"
            )
        return f"{{name: '[[:alpha:]]+', kind: {res.kind}}}"

    # -- a kustomization --

    def level(
        self, directory: str, below: str | None, pool: list[Res], files: dict[str, str]
    ) -> list[Res]:
        """Write `directory`'s kustomization (and its files); return the resources it yields."""
        entries = [f"../{below}"] if below else []
        current = [Res(**{**r.__dict__, "labels": dict(r.labels)}) for r in pool]
        if below is None or self.chance(0.4):
            taken = {r.name for r in current}
            free = [n for n in NAMES if n not in taken]
            if free:
                own = self.rng.sample(free, min(len(free), self.rng.randint(1, 3)))
                text, made = self.resources(own)
                files[f"{directory}/res.yaml"] = text
                entries.append("res.yaml")
                current += made
        lines = [f"resources: [{', '.join(entries)}]"]
        patches: list[str] = []
        smp: list[str] = []
        deferred: list[tuple[int, bool]] = []
        kinds = [
            self.rng.choice(["smp", "smp-target", "json", "psm", "pj"])
            for _ in range(self.rng.randint(0, 2) if current else 0)
        ]
        # Written in the order kustomize applies them (patchesStrategicMerge, then patches,
        # then patchesJson6902), so that each sees what the ones before it did.
        for kind in sorted(kinds, key=lambda k: k != "psm"):
            index = self.rng.randrange(len(current))
            res = current[index]
            if res.kind == "ConfigMap" and kind in ("smp", "smp-target", "psm"):
                # Not supported (docs/kustomize.md, "Merge patches on built-in kinds"):
                # kustomize merges them by their OpenAPI schema; JSON 6902 only here.
                kind = "json"
            inline = self.chance(0.6)
            if kind == "pj":
                # patchesJson6902 runs after this level's namespace, prefix and suffix: its
                # target is written once the names are known (below).
                deferred.append((index, inline))
                continue
            if kind in ("smp", "smp-target", "psm"):
                text = self.smp_doc(res, with_target=kind != "smp")
            else:
                text, _ = self.json_ops(res)
            if kind == "psm":
                if inline:
                    smp.append("- |\n" + _indent(text, 4))
                else:
                    name = f"psm{len(smp)}.yaml"
                    files[f"{directory}/{name}"] = text
                    smp.append(f"- {name}\n")
                continue
            target = ""
            if kind in ("smp-target", "json"):
                target = f"  target: {self.target(res)}\n"
            patches.append(self._entry(directory, files, target, text, inline))
        if patches:
            lines.append("patches:\n" + "".join(patches).rstrip("\n"))
        if smp:
            lines.append("patchesStrategicMerge:\n" + "".join(smp).rstrip("\n"))
        if self.chance(0.3):
            namespace = self.rng.choice(["prod", "ns1", "default"])
            lines.append(f"namespace: {namespace}")
            for res in current:
                res.namespace = namespace
        if self.chance(0.3):
            prefix = self.rng.choice(["p-", "x-", "1-"])
            lines.append(f"namePrefix: {prefix}")
            for res in current:
                res.name = prefix + res.name
        if self.chance(0.2):
            suffix = self.rng.choice(["-s", "-v2"])
            lines.append(f"nameSuffix: {suffix}")
            for res in current:
                res.name += suffix
        if self.chance(0.3):
            pairs = self.label_map()
            selectors = self.rng.choice(["", ", includeSelectors: true", ", includeSelectors: yes"])
            written = ", ".join(f"{k}: {v}" for k, v in pairs.items())
            lines.append(f"labels: [{{pairs: {{{written}}}{selectors}}}]")
            self._label(current, pairs)
        if self.chance(0.3):
            pairs = self.label_map()
            lines.append(f"commonLabels: {{{', '.join(f'{k}: {v}' for k, v in pairs.items())}}}")
            self._label(current, pairs)
        if self.chance(0.25):
            pairs = self.label_map()
            lines.append(
                f"commonAnnotations: {{{', '.join(f'{k}: {v}' for k, v in pairs.items())}}}"
            )
        json6902 = []
        for index, inline in deferred:
            res = current[index]
            text, _ = self.json_ops(res)
            group = res.api.rpartition("/")[0]
            target = (
                f"  target: {{group: '{group}', version: v1, kind: {res.kind}, name: {res.name}}}\n"
            )
            json6902.append(self._entry(directory, files, target, text, inline))
        if json6902:
            lines.append("patchesJson6902:\n" + "".join(json6902).rstrip("\n"))
        files[f"{directory}/kustomization.yaml"] = "\n".join(lines) + "\n"
        return current

    def _entry(
        self, directory: str, files: dict[str, str], target: str, text: str, inline: bool
    ) -> str:
        if inline:
            body = "  patch: |\n" + _indent(text, 4)
        else:
            name = f"p{sum(f.startswith(directory + '/p') for f in files)}"
            name += ".json" if text.startswith("[") else ".yaml"
            files[f"{directory}/{name}"] = text
            body = f"  path: {name}\n"
        return "- " + (target + body)[2:]

    def _label(self, current: list[Res], pairs: dict[str, str]) -> None:
        for res in current:
            res.labels.update({k: v.strip("'\"") for k, v in pairs.items()})

    def case(self) -> dict[str, str]:
        files: dict[str, str] = {}
        pool = self.level("base", None, [], files)
        below = "base"
        if self.chance(0.4):
            pool = self.level("mid", "base", pool, files)
            below = "mid"
        self.level("overlay", below, pool, files)
        return files


def _indent(text: str, by: int) -> str:
    return "".join(" " * by + line + "\n" for line in text.splitlines())


def generate(seed: int, count: int) -> list[dict[str, str]]:
    generator = Generator(random.Random(seed))
    return [generator.case() for _ in range(count)]


# --- rendering and comparing ---------------------------------------------------------------


def typed(docs: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(d, sort_keys=True) for d in docs]


def render_gitcops(files: dict[str, str]) -> list[str] | None:
    try:
        tree = DictTree({path: text.encode() for path, text in files.items()})
        return typed([d.doc for d in build_kustomization(tree, "overlay")])
    except InvalidInputError:
        return None


def render_kubectl(kubectl: str, root: Path) -> tuple[list[str] | None, str]:
    result = subprocess.run(
        [kubectl, "kustomize", str(root / "overlay")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        return None, result.stderr.strip()[-400:]
    try:
        return typed([d for _, d in iter_documents(result.stdout)]), ""
    except YamlSyntaxError as exc:  # kubectl printed what gitcops cannot read back
        return [f"unreadable output: {exc}"], result.stdout


def test_generator_is_seeded_and_covers_every_field() -> None:
    cases = generate(SEED, CASE_COUNT)
    assert cases == generate(SEED, CASE_COUNT)
    text = "\n".join(t for case in cases for t in case.values())
    for needle in [
        "patches:", "patchesStrategicMerge:", "patchesJson6902:", "namePrefix:", "nameSuffix:",
        "namespace:", "labels: [", "commonLabels:", "commonAnnotations:", "target:", "path: p",
        "$patch: delete", "op: test", '"op": "add"', "includeSelectors", "1e1", "2024-01-01",
        "null", "yes", TIMES[0], "../mid", "psm0.yaml",
    ]:  # fmt: skip
        assert needle in text, needle


def test_gitcops_renders_what_kubectl_renders(kubectl: str, tmp_path: Path) -> None:
    cases = generate(SEED, CASE_COUNT)
    roots = []
    for index, files in enumerate(cases):
        root = tmp_path / f"case{index}"
        for relative, text in files.items():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_text(text, encoding="utf-8")
        roots.append(root)
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        printed = list(pool.map(lambda root: render_kubectl(kubectl, root), roots))
    failures = []
    agreed_refusals = 0
    for index, (files, (expected, stderr)) in enumerate(zip(cases, printed, strict=True)):
        rendered = render_gitcops(files)
        if rendered == expected:
            agreed_refusals += expected is None
            continue
        listing = "".join(f"--- {path}\n{text}" for path, text in sorted(files.items()))
        failures.append(
            f"case {index} (seed {SEED}):\n{listing}\nkubectl: {expected or stderr}\n"
            f"gitcops: {rendered}"
        )
    shutil.rmtree(tmp_path, ignore_errors=True)
    assert not failures, f"{len(failures)} of {len(cases)} differ\n\n" + "\n\n".join(failures[:3])
    # Both refusing is agreement, but a generator that mostly makes refused input tests little.
    assert agreed_refusals < len(cases) / 3, f"{agreed_refusals} of {len(cases)} refused by both"
