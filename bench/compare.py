#!/usr/bin/env python3
"""Wall-clock and peak-RSS comparison of gitcops against pyinfra and ansible-core.

Run from the repository root:

    .venv/bin/python bench/compare.py [--quick] [--out results.json]

Every measurement is one whole subprocess run (interpreter start-up included), timed with
``time.perf_counter`` around ``Popen`` .. ``os.wait4``; the rusage returned by ``wait4`` gives
the peak RSS of the process tree (see bench/README.md for what exactly that means).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
FILE_SIZE = 200
FILES_PER_DIR = 100
RUN_TIMEOUT_S = 3600.0
TARGET_SPEEDUP = 100.0
NOOP_PLAN_LIMIT_S = 1.0
RSS_LIMIT_MB = 200.0
STDERR_TAIL_LINES = 30

CONVERGE = "converge"
NOOP_APPLY = "no-op apply"
NOOP_PLAN = "no-op plan"
NOOP_PLAN_COLD = "no-op plan (cold cache)"
CHANGED_PLAN = "1-changed plan"
CASE_ORDER = (CONVERGE, NOOP_APPLY, NOOP_PLAN, NOOP_PLAN_COLD, CHANGED_PLAN)

# Sizes per tool in a full run, and repetitions per tool: (for N <= 100, for larger N).
FULL_SIZES: dict[str, tuple[int, ...]] = {
    "gitcops": (100, 1_000, 10_000),
    "pyinfra": (100, 1_000),
    "ansible": (100,),
}
DEFAULT_REPS: dict[str, tuple[int, int]] = {
    "gitcops": (5, 5),
    "pyinfra": (5, 3),
    "ansible": (2, 2),
}


# --------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One timed subprocess execution."""

    wall_s: float
    maxrss_kib: int
    user_s: float
    sys_s: float
    returncode: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Command:
    """A command line plus everything needed to run and judge it."""

    argv: tuple[str, ...]
    env: Mapping[str, str]  # overrides on top of clean_env()
    cwd: Path
    ok_codes: frozenset[int] = frozenset({0})
    expect_output: str | None = None  # regex that must match stdout+stderr

    def shell(self) -> str:
        """The command as one could paste it into a shell (from its cwd)."""
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(self.env.items()))
        return (
            f"cd {shlex.quote(str(self.cwd))} && {env + ' ' if env else ''}{shlex.join(self.argv)}"
        )


def kib_to_mb(kib: int) -> float:
    """ru_maxrss is KiB on Linux; report decimal megabytes (10**6 bytes)."""
    return kib * 1024 / 1e6


def _tail(path: Path, lines: int = STDERR_TAIL_LINES) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def run_measured(cmd: Command, log_dir: Path, label: str) -> Run:
    """Run *cmd* once; time it and collect rusage of it and all descendants it reaped."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path = log_dir / f"{label}.out"
    err_path = log_dir / f"{label}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(
                cmd.argv,
                cwd=cmd.cwd,
                env=clean_env(**cmd.env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        except OSError as exc:
            return Run(0.0, 0, 0.0, 0.0, -1, f"cannot start {cmd.argv[0]}: {exc}")
        timer = threading.Timer(RUN_TIMEOUT_S, _kill_group, args=(proc.pid,))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from reaping again
    rc = proc.returncode
    error = _judge(cmd, rc, out_path, err_path)
    return Run(wall, usage.ru_maxrss, usage.ru_utime, usage.ru_stime, rc, error)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _judge(cmd: Command, rc: int, out_path: Path, err_path: Path) -> str | None:
    """An error message whose first line is a one-line summary, or None if the run is good."""
    if rc not in cmd.ok_codes:
        expected = ",".join(str(c) for c in sorted(cmd.ok_codes))
        tail = _tail(err_path) or _tail(out_path)
        last = tail.splitlines()[-1] if tail else "no output"
        return f"exit code {rc} (expected {expected}): {last}\n--- output tail:\n{tail}"
    if cmd.expect_output is not None:
        text = out_path.read_text(errors="replace") + err_path.read_text(errors="replace")
        if re.search(cmd.expect_output, text, re.MULTILINE) is None:
            tail = _tail(out_path)
            return f"output does not match /{cmd.expect_output}/\n--- stdout tail:\n{tail}"
    return None


# --------------------------------------------------------------------------------------------
# Workload
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchFile:
    index: int

    @property
    def name(self) -> str:
        return f"f{self.index:05d}"

    @property
    def dir_name(self) -> str:
        return f"d{self.index // FILES_PER_DIR:03d}"

    @property
    def rel_path(self) -> str:
        return f"{self.dir_name}/{self.name}.txt"


def file_content(index: int, generation: int = 0) -> str:
    """Distinct, printable (hex) 200-byte content; *generation* > 0 gives an edited version."""
    seed = hashlib.sha256(f"gitcops-bench:{index}:{generation}".encode()).hexdigest()
    prefix = f"{index:05d}:{generation}:"
    return (prefix + seed * 7)[:FILE_SIZE]


def bench_files(n: int) -> list[BenchFile]:
    return [BenchFile(i) for i in range(n)]


def dir_names(files: Sequence[BenchFile]) -> list[str]:
    return sorted({f.dir_name for f in files})


def expected_tree(n: int, changed: Mapping[int, int] | None = None) -> dict[str, str]:
    changed = changed or {}
    return {f.rel_path: file_content(f.index, changed.get(f.index, 0)) for f in bench_files(n)}


def verify_tree(target: Path, expected: Mapping[str, str]) -> str | None:
    """Return a description of the first mismatch between *target* and *expected*, if any."""
    found = {str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()}
    if found != set(expected):
        missing, extra = len(set(expected) - found), len(found - set(expected))
        return f"target has {len(found)} files ({missing} missing, {extra} unexpected)"
    for rel, content in expected.items():
        path = target / rel
        if path.read_text() != content:
            return f"{rel}: content differs"
        if path.stat().st_mode & 0o777 != 0o644:
            return f"{rel}: mode {oct(path.stat().st_mode & 0o777)} != 0o644"
    return None


def reset_dir(path: Path) -> None:
    """Make *path* a new, empty directory. What it held is moved aside, not deleted: the
    discarded trees go with the work directory when the run ends.

    Deleting thousands of files just before a measured run slows down creating files for
    minutes afterwards on ext4: its inode allocator passes over every inode freed in the last
    60 s (300 s while the inode table block is dirty), testing each (`recently_deleted` under
    `ext4_create` in `perf record -g`), so each new file pays for all the recent deletions
    in its block group. The write phase of four gitcops converges in a row took 0.22, 0.39,
    0.44 and 0.51 s with deletion; moved aside, 0.22-0.36 s with no trend. Every tool is
    reset this way.
    """
    if path.exists():
        discarded = path.parent / "discarded"
        discarded.mkdir(exist_ok=True)
        path.rename(Path(tempfile.mkdtemp(prefix=f"{path.name}-", dir=discarded)) / path.name)
    path.mkdir(parents=True)


def clean_env(**extra: str) -> dict[str, str]:
    """The harness environment minus tool-specific overrides, plus *extra*."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANSIBLE_", "PYINFRA_", "GITCOPS_", "XDG_CACHE_HOME"))
    }
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


# --------------------------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------------------------


class Tool(Protocol):
    """One tool under test, prepared for a given N inside its own work directory."""

    name: str
    target: Path

    def prepare(self) -> None:
        """Generate sources (untimed)."""

    def reset(self) -> None:
        """Empty target (and state): untimed setup before each converge repetition."""

    def converge_cmd(self) -> Command:
        """The apply into an empty target."""

    def apply_cmd(self) -> Command: ...

    def noop_plan_cmd(self, cold: bool) -> Command | None:
        """The read-only no-op check, if the tool has a separate one worth measuring."""

    def change_one(self, generation: int) -> None:
        """Change file 1's content in the source of truth (untimed)."""

    def changed_plan_cmd(self) -> Command: ...


class PyinfraTool:
    name = "pyinfra"

    def __init__(self, work: Path, n: int) -> None:
        self.work, self.n = work, n
        self.src = work / "src"
        self.target = work / "target"
        self.exe = tool_path("pyinfra")

    def prepare(self) -> None:
        for f in bench_files(self.n):
            path = self.src / f.rel_path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(file_content(f.index))
        (self.work / "deploy.py").write_text(self._deploy_py())

    def _deploy_py(self) -> str:
        return (
            "import os\n"
            "from pyinfra.operations import files\n\n"
            f"SRC = {str(self.src)!r}\n"
            f"DST = {str(self.target)!r}\n\n"
            "for d in sorted(os.listdir(SRC)):\n"
            '    files.directory(name=f"dir {d}", path=f"{DST}/{d}")\n'
            '    for name in sorted(os.listdir(f"{SRC}/{d}")):\n'
            "        files.put(\n"
            '            name=f"put {d}/{name}",\n'
            '            src=f"{SRC}/{d}/{name}",\n'
            '            dest=f"{DST}/{d}/{name}",\n'
            '            mode="644",\n'
            "        )\n"
        )

    def reset(self) -> None:
        reset_dir(self.target)

    def _cmd(self, *flags: str, expect: str | None = None) -> Command:
        argv = (str(self.exe), "@local", "deploy.py", *flags)
        return Command(argv, {}, self.work, expect_output=expect)

    def converge_cmd(self) -> Command:
        return self.apply_cmd()

    def apply_cmd(self) -> Command:
        return self._cmd("-y")

    def noop_plan_cmd(self, cold: bool) -> Command | None:
        return None

    def change_one(self, generation: int) -> None:
        (self.src / BenchFile(1).rel_path).write_text(file_content(1, generation))

    def changed_plan_cmd(self) -> Command:
        # pyinfra 3.x prints a "Detected changes" table; the edited file's row shows "1 (@local)".
        return self._cmd("--dry", expect=rf"put {re.escape(BenchFile(1).rel_path)}\s+1 \(")


class AnsibleTool:
    name = "ansible"

    def __init__(self, work: Path, n: int) -> None:
        self.work, self.n = work, n
        self.src = work / "src"
        self.target = work / "target"
        self.exe = tool_path("ansible-playbook")

    def prepare(self) -> None:
        files = bench_files(self.n)
        for f in files:
            path = self.src / f.rel_path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(file_content(f.index))
        (self.work / "ansible.cfg").write_text("")  # an empty config: all defaults
        (self.work / "ansible-home").mkdir()
        (self.work / "vars.json").write_text(
            json.dumps({"bench_dirs": dir_names(files), "bench_files": [f.rel_path for f in files]})
        )
        (self.work / "playbook.yml").write_text(self._playbook())

    def _playbook(self) -> str:
        return (
            "- hosts: all\n"
            "  gather_facts: false\n"
            "  vars_files: [vars.json]\n"
            "  tasks:\n"
            "    - name: directories\n"
            "      ansible.builtin.file:\n"
            f'        path: "{self.target}/{{{{ item }}}}"\n'
            "        state: directory\n"
            '      loop: "{{ bench_dirs }}"\n'
            "    - name: files\n"
            "      ansible.builtin.copy:\n"
            f'        src: "{self.src}/{{{{ item }}}}"\n'
            f'        dest: "{self.target}/{{{{ item }}}}"\n'
            '        mode: "0644"\n'
            '      loop: "{{ bench_files }}"\n'
        )

    def _env(self) -> dict[str, str]:
        home = str(self.work / "ansible-home")
        return dict(
            ANSIBLE_CONFIG=str(self.work / "ansible.cfg"),
            ANSIBLE_HOME=home,
            ANSIBLE_LOCAL_TEMP=f"{home}/tmp",
            ANSIBLE_NOCOWS="1",
            ANSIBLE_RETRY_FILES_ENABLED="0",
            ANSIBLE_LOCALHOST_WARNING="0",
            ANSIBLE_GATHERING="explicit",
            ANSIBLE_PYTHON_INTERPRETER=sys.executable,
            ANSIBLE_FORCE_COLOR="0",
        )

    def reset(self) -> None:
        reset_dir(self.target)

    def _cmd(self, *flags: str, expect: str | None = None) -> Command:
        argv = (str(self.exe), "-i", "localhost,", "-c", "local", "playbook.yml", *flags)
        return Command(argv, self._env(), self.work, expect_output=expect)

    def converge_cmd(self) -> Command:
        return self.apply_cmd()

    def apply_cmd(self) -> Command:
        return self._cmd()

    def noop_plan_cmd(self, cold: bool) -> Command | None:
        return None

    def change_one(self, generation: int) -> None:
        (self.src / BenchFile(1).rel_path).write_text(file_content(1, generation))

    def changed_plan_cmd(self) -> Command:
        return self._cmd("--check", expect=r"localhost\s+:.*\bchanged=1\b")


class GitcopsTool:
    name = "gitcops"

    def __init__(self, work: Path, n: int, exe: Path) -> None:
        self.work, self.n, self.exe = work, n, exe
        self.repo = work / "repo"
        self.target = work / "target"
        self.state = work / "state" / "state.db"  # SQLite; absent = fresh
        self.cache = work / "cache-warm"
        self._cold_caches = 0
        self._generations: dict[int, int] = {}

    # -- repository generation --------------------------------------------------------------

    def prepare(self) -> None:
        self.repo.mkdir(parents=True)
        self._git("init", "-q", "-b", "main")
        self._write_project()
        self._write_files_yaml()
        self._commit("bench project")

    def _write_project(self) -> None:
        (self.repo / "gitcops.yaml").write_text(
            "apiVersion: gitcops.io/v1\n"
            "kind: Project\n"
            "metadata:\n"
            "  name: bench\n"
            "spec:\n"
            "  environments:\n"
            "    - name: bench\n"
            "      path: environments/bench\n"
            "  providers:\n"
            "    local:\n"
            f"      root: {json.dumps(str(self.target))}\n"
        )
        (self.repo / "base").mkdir()
        (self.repo / "base" / "kustomization.yaml").write_text("resources:\n  - files.yaml\n")
        env_dir = self.repo / "environments" / "bench"
        env_dir.mkdir(parents=True)
        (env_dir / "kustomization.yaml").write_text("resources:\n  - ../../base\n")

    def _write_files_yaml(self) -> None:
        files = bench_files(self.n)
        docs = [_directory_doc(d) for d in dir_names(files)]
        docs += [_file_doc(f, self._generations.get(f.index, 0)) for f in files]
        (self.repo / "base" / "files.yaml").write_text("---\n".join(docs))

    def _git(self, *args: str) -> None:
        subprocess.run(("git", *args), cwd=self.repo, check=True, stdout=subprocess.DEVNULL)

    def _commit(self, message: str) -> None:
        self._git("add", "-A")
        identity = ("-c", "user.name=b", "-c", "user.email=b@x", "-c", "commit.gpgsign=false")
        self._git(*identity, "commit", "-q", "-m", message)

    # -- Tool protocol ----------------------------------------------------------------------

    def reset(self) -> None:
        reset_dir(self.target)
        reset_dir(self.state.parent)  # the state file itself does not exist: fresh state

    def _cmd(
        self, sub: str, *flags: str, cache: Path, ok: frozenset[int] = frozenset({0})
    ) -> Command:
        """``gitcops SUB --env bench [--yes] --repo R --state S [--detailed-exitcode]``."""
        yes = tuple(f for f in flags if f == "--yes")
        rest = tuple(f for f in flags if f != "--yes")
        argv = (str(self.exe), sub, "--env", "bench", *yes, "--repo", str(self.repo))
        argv += ("--state", str(self.state), *rest)
        return Command(argv, {"XDG_CACHE_HOME": str(cache)}, self.work, ok_codes=ok)

    def fresh_cache(self) -> Path:
        self._cold_caches += 1
        return self.work / f"cache-cold-{self._cold_caches}"

    def converge_cmd(self) -> Command:
        """A converge always starts from an empty cache (first-ever run)."""
        return self._cmd("apply", "--yes", cache=self.fresh_cache())

    def apply_cmd(self) -> Command:
        return self._cmd("apply", "--yes", cache=self.cache)

    def noop_plan_cmd(self, cold: bool) -> Command | None:
        cache = self.fresh_cache() if cold else self.cache
        # --detailed-exitcode turns "no changes" into a checked exit code 0 (2 would be a bug).
        return self._cmd("plan", "--detailed-exitcode", cache=cache)

    def change_one(self, generation: int) -> None:
        self._generations[1] = generation
        self._write_files_yaml()
        self._commit(f"change f00001 (generation {generation})")

    def changed_plan_cmd(self) -> Command:
        return self._cmd("plan", "--detailed-exitcode", cache=self.cache, ok=frozenset({2}))


def _directory_doc(name: str) -> str:
    return (
        "apiVersion: local.gitcops.io/v1\n"
        "kind: Directory\n"
        "metadata:\n"
        f"  name: {name}\n"
        "spec:\n"
        f"  path: {name}\n"
    )


def _file_doc(f: BenchFile, generation: int) -> str:
    return (
        "apiVersion: local.gitcops.io/v1\n"
        "kind: File\n"
        "metadata:\n"
        f"  name: {f.name}\n"
        "spec:\n"
        f'  path: "{f.rel_path}"\n'
        f'  content: "{file_content(f.index, generation)}"\n'
        '  mode: "0644"\n'
    )


def tool_path(name: str) -> Path:
    candidate = VENV_BIN / name
    if candidate.exists():
        return candidate
    found = shutil.which(name)
    return Path(found) if found else candidate


# --------------------------------------------------------------------------------------------
# Scenario driver
# --------------------------------------------------------------------------------------------


@dataclass
class CaseResult:
    case: str
    tool: str
    n: int
    runs: list[Run] = field(default_factory=list)
    status: str = "ok"  # ok | failed | skipped
    note: str = ""
    command: str = ""  # the first measured command, shell-pasteable

    @property
    def walls(self) -> list[float]:
        return [r.wall_s for r in self.runs if r.ok]

    @property
    def median_s(self) -> float | None:
        return statistics.median(self.walls) if self.status == "ok" and self.walls else None

    @property
    def min_s(self) -> float | None:
        return min(self.walls) if self.status == "ok" and self.walls else None

    @property
    def median_cpu_s(self) -> float | None:
        cpu = [r.user_s + r.sys_s for r in self.runs if r.ok]
        return statistics.median(cpu) if self.status == "ok" and cpu else None

    @property
    def peak_rss_mb(self) -> float | None:
        rss = [r.maxrss_kib for r in self.runs if r.ok]
        return kib_to_mb(max(rss)) if self.status == "ok" and rss else None


class CaseFailedError(Exception):
    """A measured command failed: abandon the remaining cases for this tool and N."""


@dataclass
class Driver:
    tool: Tool
    n: int
    reps: int
    log_dir: Path
    results: list[CaseResult] = field(default_factory=list)

    def _measure(
        self,
        case: str,
        cmds: Sequence[Command],
        *,
        check_target: bool = False,
        warm_up: Command | None = None,
    ) -> Iterator[None]:
        """Measure each command in turn, yielding after each one."""
        result = CaseResult(case, self.tool.name, self.n)
        self.results.append(result)
        if warm_up is not None:
            run = run_measured(warm_up, self.log_dir, f"{_slug(case)}-warm-up")
            if run.error:
                self._fail(result, f"{case} (warm-up)", warm_up, run.error)
        for i, cmd in enumerate(cmds):
            result.command = result.command or cmd.shell()
            self._before_rep(case, i)
            run = run_measured(cmd, self.log_dir, f"{_slug(case)}-{i}")
            result.runs.append(run)
            error = run.error or (self._verify_target() if check_target else None)
            if error:
                self._fail(result, case, cmd, error)
            progress(f"  {self.tool.name} N={self.n} {case} #{i + 1}: {run.wall_s:.3f} s")
            yield

    def _before_rep(self, case: str, i: int) -> None:
        if case == CONVERGE:
            self.tool.reset()
        elif case == CHANGED_PLAN:
            self.tool.change_one(generation=i + 1)
        # Every tool alike: a measured run should not pay for writing back the reset's
        # deletions (1,000 files just removed) or the commit just made.
        os.sync()

    def _verify_target(self) -> str | None:
        problem = verify_tree(self.tool.target, expected_tree(self.n))
        return f"target verification failed: {problem}" if problem else None

    def _fail(self, result: CaseResult, what: str, cmd: Command, error: str) -> None:
        result.status, result.note = "failed", error.splitlines()[0]
        report_failure(self.tool.name, self.n, what, cmd, error)
        raise CaseFailedError(error)

    def steps(self) -> Iterator[None]:
        """Every case, one measured repetition at a time: the caller may run other tools'
        repetitions in between (see run_interleaved)."""
        try:
            yield from self._run_cases()
        except CaseFailedError:
            done = {r.case for r in self.results}
            skipped = [c for c in self._cases() if c not in done]
            self.results += [self._skipped(case) for case in skipped]

    def step_count(self) -> int:
        """How many repetitions steps() measures when nothing fails."""
        return sum(1 if case == NOOP_PLAN_COLD else self.reps for case in self._cases())

    def _skipped(self, case: str) -> CaseResult:
        return CaseResult(case, self.tool.name, self.n, status="skipped", note="earlier failure")

    def _cases(self) -> list[str]:
        if self.tool.noop_plan_cmd(cold=False) is None:
            return [CONVERGE, NOOP_APPLY, CHANGED_PLAN]
        return list(CASE_ORDER)

    def _run_cases(self) -> Iterator[None]:
        tool, reps = self.tool, self.reps
        converges = [tool.converge_cmd() for _ in range(reps)]
        yield from self._measure(CONVERGE, converges, check_target=True)
        apply = tool.apply_cmd()
        yield from self._measure(NOOP_APPLY, [apply] * reps, check_target=True, warm_up=apply)
        plan = tool.noop_plan_cmd(cold=False)
        cold = tool.noop_plan_cmd(cold=True)
        if plan is not None and cold is not None:
            yield from self._measure(NOOP_PLAN, [plan] * reps, warm_up=plan)
            yield from self._measure(NOOP_PLAN_COLD, [cold])
        # A plan must not touch the target: it still holds generation-0 content afterwards.
        plans = [tool.changed_plan_cmd() for _ in range(reps)]
        yield from self._measure(CHANGED_PLAN, plans, check_target=True)


def _slug(case: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", case.lower()).strip("-")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def report_failure(tool: str, n: int, case: str, cmd: Command, error: str) -> None:
    progress(f"\n!! {tool} N={n} {case} FAILED\n   command: {cmd.shell()}")
    progress("   " + error.replace("\n", "\n   ") + "\n")


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def markdown_table(results: Sequence[CaseResult]) -> str:
    header = "| case | tool | N | reps | median s | min s | peak RSS MB | CPU s | status |"
    lines = [header, "|---|---|--:|--:|--:|--:|--:|--:|---|"]
    order = {case: i for i, case in enumerate(CASE_ORDER)}
    for r in sorted(results, key=lambda r: (order[r.case], r.n, r.tool)):
        status = r.status if not r.note else f"{r.status}: {r.note[:80]}"
        lines.append(
            f"| {r.case} | {r.tool} | {r.n:,} | {len(r.walls)} | {_fmt(r.median_s, '.3f')} "
            f"| {_fmt(r.min_s, '.3f')} | {_fmt(r.peak_rss_mb, '.1f')} "
            f"| {_fmt(r.median_cpu_s, '.2f')} | {status} |"
        )
    return "\n".join(lines)


def find(results: Sequence[CaseResult], case: str, tool: str, n: int) -> CaseResult | None:
    return next((r for r in results if (r.case, r.tool, r.n) == (case, tool, n)), None)


RATIO_CASES = (CONVERGE, NOOP_APPLY, CHANGED_PLAN)
RATIO_TARGET_N = 1_000


@dataclass(frozen=True)
class Ratio:
    case: str
    n: int
    pyinfra_over_gitcops: float | None
    verdict: str | None  # PASS/FAIL/SKIP against the target, only at RATIO_TARGET_N


def ratio_verdict(value: float | None, peer: CaseResult | None, ours: CaseResult | None) -> str:
    if value is not None:
        return _verdict(value >= TARGET_SPEEDUP)
    if peer is None or ours is None or peer.median_s is None:
        return "SKIP"  # not measured, or the peer failed: nothing to compare against
    return "FAIL"  # gitcops failed


def ratios(results: Sequence[CaseResult]) -> list[Ratio]:
    out = []
    for n in sorted({r.n for r in results if r.tool == "pyinfra"}):
        for case in RATIO_CASES:
            peer, ours = find(results, case, "pyinfra", n), find(results, case, "gitcops", n)
            a = peer.median_s if peer else None
            b = ours.median_s if ours else None
            value = a / b if a is not None and b else None
            verdict = ratio_verdict(value, peer, ours) if n == RATIO_TARGET_N else None
            out.append(Ratio(case, n, value, verdict))
    return out


def ratio_lines(rows: Sequence[Ratio]) -> list[str]:
    lines = []
    for row in rows:
        shown = "n/a" if row.pyinfra_over_gitcops is None else f"{row.pyinfra_over_gitcops:.1f}x"
        target = f"  (target >={TARGET_SPEEDUP:.0f}x: {row.verdict})" if row.verdict else ""
        lines.append(f"- pyinfra/gitcops {row.case} at N={row.n:,}: {shown}{target}")
    return lines


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def check_noop_plan(results: Sequence[CaseResult], n: int) -> tuple[str, str]:
    text = f"gitcops no-op plan at N={n:,} < {NOOP_PLAN_LIMIT_S:g} s"
    plan = find(results, NOOP_PLAN, "gitcops", n)
    if plan is None:
        return "SKIP", f"{text} (not measured)"
    med = plan.median_s
    verdict = _verdict(med is not None and med < NOOP_PLAN_LIMIT_S)
    return verdict, f"{text} (median {_fmt(med, '.3f')} s)"


def check_rss(results: Sequence[CaseResult], n: int) -> tuple[str, str]:
    text = f"gitcops peak RSS at N={n:,} < {RSS_LIMIT_MB:g} MB"
    peaks = [r.peak_rss_mb for r in results if r.tool == "gitcops" and r.n == n]
    if not peaks:
        return "SKIP", f"{text} (not measured)"
    if any(p is None for p in peaks):
        return "FAIL", f"{text} (some gitcops runs failed)"
    peak = max(p for p in peaks if p is not None)
    return _verdict(peak < RSS_LIMIT_MB), f"{text} (max over all cases {peak:.1f} MB)"


def checks(results: Sequence[CaseResult]) -> list[tuple[str, str]]:
    return [check_noop_plan(results, 10_000), check_rss(results, 10_000)]


# --------------------------------------------------------------------------------------------
# Machine info
# --------------------------------------------------------------------------------------------


def _first_line(argv: Sequence[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=clean_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    lines = (proc.stdout or proc.stderr).strip().splitlines() or [""]
    if proc.returncode == 0:
        return lines[0]
    return f"unavailable (exit {proc.returncode}: {lines[-1]})"


def _gitcops_version(exe: Path) -> str:
    """``gitcops --version`` if it has one, else the installed distribution's version."""
    cli = _first_line([str(exe), "--version"])
    if not cli.startswith("unavailable"):
        return cli
    try:
        dist = importlib.metadata.version("gitcops")
    except importlib.metadata.PackageNotFoundError:
        dist = "not installed"
    head = _first_line(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"])
    dirty = _first_line(["git", "-C", str(REPO_ROOT), "status", "--porcelain"])
    tree = f"{head}{' + uncommitted changes' if dirty else ''}"
    return f"{dist} (distribution; `--version`: {cli}; source tree: {tree})"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    return None


def _loadavg() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_info(gitcops_exe: Path, tools: Sequence[str]) -> dict[str, object]:
    """Also serves as interpreter warm-up: each tool is started once before timing."""
    versions = {"git": _first_line(["git", "--version"])}
    if "pyinfra" in tools:
        versions["pyinfra"] = _first_line([str(tool_path("pyinfra")), "--version"])
    if "ansible" in tools:
        versions["ansible-core"] = _first_line([str(tool_path("ansible-playbook")), "--version"])
    if "gitcops" in tools:
        versions["gitcops"] = _gitcops_version(gitcops_exe)
    return {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "mem_total_gb": _mem_total_gb(),
        "loadavg_at_start": _loadavg(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "tool_versions": versions,
    }


def machine_lines(info: Mapping[str, object]) -> list[str]:
    versions = info["tool_versions"]
    assert isinstance(versions, dict)
    lines = [
        f"- date: {info['date_utc']}; platform: {info['platform']}",
        f"- nproc: {info['nproc']} ({info['cpu_model']}); RAM: {_fmt_gb(info['mem_total_gb'])}",
        f"- load average (1/5/15 min) at start: {info['loadavg_at_start']}, "
        f"at end: {info.get('loadavg_at_end', 'n/a')}",
        f"- python: {info['python']} ({info['python_executable']})",
    ]
    lines += [f"- {name}: {version}" for name, version in versions.items()]
    return lines


def _fmt_gb(value: object) -> str:
    return f"{value:.1f} GB" if isinstance(value, float) else "unknown"


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    tool: str
    n: int
    reps: int


def build_plan(args: argparse.Namespace) -> list[Plan]:
    plans = []
    for tool in args.tools:
        sizes = (100,) if args.quick else FULL_SIZES[tool]
        small, large = DEFAULT_REPS[tool]
        for n in sizes:
            reps = 1 if args.quick else args.reps or (small if n <= 100 else large)
            if tool == "ansible" and args.ansible_reps and not args.quick:
                reps = args.ansible_reps
            plans.append(Plan(tool, n, reps))
    return sorted(plans, key=lambda p: (p.n, p.tool))


def make_tool(plan: Plan, work: Path, gitcops_exe: Path) -> Tool:
    if plan.tool == "gitcops":
        return GitcopsTool(work, plan.n, gitcops_exe)
    if plan.tool == "pyinfra":
        return PyinfraTool(work, plan.n)
    return AnsibleTool(work, plan.n)


def make_driver(plan: Plan, root: Path, gitcops_exe: Path) -> Driver:
    work = root / f"{plan.tool}-{plan.n}"
    work.mkdir()
    tool = make_tool(plan, work, gitcops_exe)
    progress(f"== {plan.tool} N={plan.n:,} reps={plan.reps} (work dir {work})")
    tool.prepare()
    return Driver(tool, plan.n, plan.reps, work / "logs")


def run_interleaved(drivers: Sequence[Driver]) -> list[CaseResult]:
    """Run the drivers of one N together, one repetition at a time, always advancing the one
    furthest behind in its own sequence. The machine's slow and fast phases (this VM's last
    minutes) then fall on every tool alike: run one after the other, gitcops' repetitions take
    seconds and pyinfra's minutes, and a phase could favour either."""
    steps = [d.steps() for d in drivers]
    totals = [max(1, d.step_count()) for d in drivers]
    done = [0] * len(drivers)
    active = list(range(len(drivers)))
    while active:
        i = min(active, key=lambda k: done[k] / totals[k])
        try:
            next(steps[i])
            done[i] += 1
        except StopIteration:
            active.remove(i)
    return [r for d in drivers for r in d.results]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="only N=100, one repetition")
    parser.add_argument("--out", type=Path, help="write raw numbers as JSON to this file")
    parser.add_argument(
        "--tools",
        type=lambda s: [t.strip() for t in s.split(",") if t.strip()],
        default=["gitcops", "pyinfra", "ansible"],
        help="comma-separated subset of gitcops,pyinfra,ansible (default: all)",
    )
    parser.add_argument("--reps", type=int, help="override repetitions (gitcops and pyinfra)")
    parser.add_argument("--ansible-reps", type=int, help="override ansible repetitions")
    default_gitcops = REPO_ROOT / ".venv" / "bin" / "gitcops"
    parser.add_argument("--gitcops", type=Path, default=default_gitcops, help="gitcops executable")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    args = parser.parse_args(argv)
    unknown = set(args.tools) - set(FULL_SIZES)
    if unknown:
        parser.error(f"unknown tools: {', '.join(sorted(unknown))}")
    return args


def render_report(info: Mapping[str, object], results: Sequence[CaseResult]) -> str:
    parts = ["# gitcops benchmark", "", "## Machine", *machine_lines(info), "", "## Results", ""]
    parts += [markdown_table(results), "", "## Ratios (median wall clock)", ""]
    parts += ratio_lines(ratios(results)) or ["- n/a (pyinfra not measured)"]
    parts += ["", "## Checks", ""]
    parts += [f"{verdict}: {text}" for verdict, text in checks(results)]
    parts += ["", "## Commands (first repetition, smallest N; paths are temporary)", ""]
    parts += command_lines(results)
    return "\n".join(parts)


def command_lines(results: Sequence[CaseResult]) -> list[str]:
    seen: set[tuple[str, str]] = set()
    lines = []
    for r in sorted(results, key=lambda r: (r.tool, r.n)):
        if r.command and (r.tool, r.case) not in seen:
            seen.add((r.tool, r.case))
            lines.append(f"- {r.tool} {r.case} (N={r.n:,}): `{r.command}`")
    return lines


def to_json(info: Mapping[str, object], results: Sequence[CaseResult], args: object) -> str:
    rows = [
        {
            **{k: v for k, v in dataclasses.asdict(r).items() if k != "runs"},
            "median_s": r.median_s,
            "min_s": r.min_s,
            "peak_rss_mb": r.peak_rss_mb,
            "median_cpu_s": r.median_cpu_s,
            "runs": [
                {**dataclasses.asdict(run), "ok": run.ok, "error": (run.error or "")[:2000]}
                for run in r.runs
            ],
        }
        for r in results
    ]
    doc = {
        "machine": info,
        "config": vars(args) if isinstance(args, argparse.Namespace) else {},
        "results": rows,
        "ratios": [dataclasses.asdict(r) for r in ratios(results)],
        "checks": [{"verdict": v, "check": c} for v, c in checks(results)],
    }
    return json.dumps(doc, indent=2, default=str)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine_info(args.gitcops, args.tools)
    root = Path(tempfile.mkdtemp(prefix="gitcops-bench-"))
    results: list[CaseResult] = []
    try:
        plans = build_plan(args)
        for n in sorted({p.n for p in plans}):
            drivers = [make_driver(p, root, args.gitcops) for p in plans if p.n == n]
            results += run_interleaved(drivers)
    finally:
        if args.keep:
            progress(f"work directory kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    info["loadavg_at_end"] = _loadavg()
    print(render_report(info, results))
    if args.out:
        args.out.write_text(to_json(info, results, args) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
