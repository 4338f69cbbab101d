"""The executable's quick exit: same status, output and exit handlers as a normal one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_status_output_and_exit_handlers_survive(tmp_path: Path) -> None:
    marker = tmp_path / "handler-ran"
    done = python(
        "import atexit, sys\n"
        f"atexit.register(lambda: open({str(marker)!r}, 'w').write('yes'))\n"
        "from gitcops.cli.main import run\n"
        "sys.argv = ['gitcops', '--help']\n"
        "sys.stdout.write('buffered before exit ')\n"
        "run()\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("buffered before exit ")
    assert "Commands" in done.stdout and "apply" in done.stdout
    assert marker.read_text() == "yes"


def test_a_failing_command_keeps_its_status() -> None:
    done = python(
        "import sys\n"
        "from gitcops.cli.main import run\n"
        "sys.argv = ['gitcops', 'apply', '--env', 'e', '--parallelism', 'many']\n"
        "run()\n"
    )
    assert done.returncode == 2
    assert "Invalid value for '--parallelism'" in done.stderr


def test_a_running_thread_gets_the_usual_exit(tmp_path: Path) -> None:
    marker = tmp_path / "thread-finished"
    done = python(
        "import sys, threading, time\n"
        "def late():\n"
        "    time.sleep(0.3)\n"
        f"    open({str(marker)!r}, 'w').write('done')\n"
        "threading.Thread(target=late).start()\n"
        "from gitcops.cli.main import run\n"
        "sys.argv = ['gitcops', '--help']\n"
        "run()\n"
    )
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "done"


def test_a_message_exits_1_and_is_printed() -> None:
    done = python("from gitcops.cli.main import _exit_now\n_exit_now('boom')\n")
    assert done.returncode == 1
    assert done.stderr == "boom\n"


def test_unflushable_output_exits_120() -> None:
    # The reader is gone before the buffered text is flushed: a broken pipe, as with `| head`.
    code = (
        "import sys, time\n"
        "from gitcops.cli.main import _exit_now\n"
        "time.sleep(0.5)\n"
        "sys.stdout.write('buffered')\n"
        "_exit_now(0)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    done = subprocess.run(
        ["bash", "-c", '"$0" -c "$1" | true; exit "${PIPESTATUS[0]}"', sys.executable, code],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 120


def test_a_status_above_255_is_what_the_os_keeps() -> None:
    assert python("from gitcops.cli.main import _exit_now\n_exit_now(258)\n").returncode == 2
