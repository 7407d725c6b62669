"""Run the kernel's own ``make`` out of tree, with a log, a progress line and clear failures."""
from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from kbuild.errors import InfraError

_STEP = re.compile(r"^\s{2}([A-Z][A-Z0-9_]{1,12})\s+(\S.*)$")
_ERROR = re.compile(r"(\berror\b|Error \d+|\*\*\*|undefined reference|No rule to make target|"
                    r"fatal:|Killed signal)", re.I)
Progress = Callable[[str], None]


@dataclass
class MakeRun:
    argv: list[str]
    seconds: float
    steps: int
    log: Path


def make_argv(srctree: Path, builddir: Path, variables: list[str], targets: list[str],
              jobs: int) -> list[str]:
    make = shutil.which("make")
    if make is None:
        raise InfraError("make not found", hint="run scripts/setup (installs build-essential)")
    return [make, "-C", str(srctree), f"O={builddir}", f"-j{jobs}", *variables, *targets]


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) or 1


def run_make(argv: list[str], env: dict[str, str], log_path: Path, label: str,
             progress: Progress | None = None, tail_lines: int = 25) -> MakeRun:
    """Run make, write all output to ``log_path``; on failure raise with the error lines."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    recent: collections.deque[str] = collections.deque(maxlen=400)
    steps = 0
    last_report = 0.0
    # line-buffered: `tail -f` on the log (and a watcher) sees the build as it goes
    with open(log_path, "w", encoding="utf-8", errors="replace", buffering=1) as log:
        log.write("# " + " ".join(argv) + "\n")
        log.flush()
        try:
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, text=True, errors="replace",
                                    preexec_fn=_die_with_parent)
        except FileNotFoundError:
            raise InfraError(f"{argv[0]} not found", hint="run scripts/setup") from None
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                log.write(line)
                recent.append(line.rstrip("\n"))
                m = _STEP.match(line)
                if m:
                    steps += 1
                    now = time.monotonic()
                    if progress and now - last_report >= 0.2:
                        last_report = now
                        progress(f"{label}: {steps} steps, {_clock(now - started)}  "
                                 f"{m.group(1)} {m.group(2)[:60]}")
            code = proc.wait()
        except BaseException:
            _kill_group(proc)
            raise
    seconds = time.monotonic() - started
    if code != 0:
        errors = _error_lines(list(recent), tail_lines)
        raise InfraError(
            f"{label} failed (make exit {code}) after {_clock(seconds)}; last error lines:\n    "
            + "\n    ".join(errors),
            hint=f"full log: {log_path}")
    return MakeRun(argv=argv, seconds=seconds, steps=steps, log=log_path)


def _die_with_parent() -> None:
    """make gets SIGTERM if kbuild dies (even by SIGKILL); make then stops its own
    compilers. It stays in kbuild's process group, so Ctrl-C reaches it too."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        proc.terminate()  # make forwards SIGTERM to the compilers it runs
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except ProcessLookupError:
        pass


def _error_lines(lines: list[str], limit: int) -> list[str]:
    """The lines that say what went wrong: compiler errors first, then make's own."""
    picked = [i for i, line in enumerate(lines) if _ERROR.search(line)]
    if not picked:
        return lines[-limit:]
    keep: list[int] = []
    for i in picked:
        for j in range(max(0, i - 2), min(len(lines), i + 3)):
            if j not in keep:
                keep.append(j)
    keep.sort()
    return [lines[i] for i in keep][-limit:]


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}"


class ProgressLine:
    """A single updating status line on a TTY; sparse plain lines otherwise."""

    def __init__(self, stream: TextIO | None = None, interval: float = 60.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self._last = float("-inf")  # the first line always shows
        self._width = 0

    def __call__(self, text: str) -> None:
        if self.tty:
            text = text[:110]
            pad = max(0, self._width - len(text))
            self.stream.write("\r" + text + " " * pad)
            self._width = len(text)
            self.stream.flush()
            return
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self.stream.write(text + "\n")
            self.stream.flush()

    def done(self) -> None:
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0
