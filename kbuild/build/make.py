"""Run the kernel's own ``make`` out of tree, with a log, a progress line and clear failures;
the make variables and the ccache settings it runs with."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kbuild.errors import InfraError
from kbuild.kconfig.environment import Toolchain
from kbuild.site.arches import arch_variables

_STEP_BYTES = re.compile(rb"^[ \t]{2}([A-Z][A-Z0-9_]{1,12})[ \t]+([^ \t\r\n].*?)\r?$")
_FOLLOW_SECONDS = 0.25     # how often kbuild reads what make added to the log
_ERROR = re.compile(r"(\berror\b|Error \d+|\*\*\*|undefined reference|No rule to make target|"
                    r"fatal:|Killed signal)", re.I)
Progress = Callable[[str], None]


@dataclass
class MakeRun:
    """One make run: the command, seconds, steps seen, the log."""

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


# Left in the build directory while make runs; still there means a make that was killed.
RUNNING_MARKER = ".kbuild-make-running"


def repair_interrupted(builddir: Path) -> list[str]:
    """After a make that was killed: remove what it may have left half-written.

    Kbuild compiles a target, then fixdep writes the target's ``.cmd`` file in place and
    only then is the compiler's ``.d`` file removed. A killed make can leave a torn
    ``.cmd`` (the next make stops: "unterminated variable reference") or a torn object;
    either way the ``.d`` file is still there. For each such target the target, its
    ``.cmd`` and its ``.d`` are removed, so make builds it again. Returns their paths
    relative to ``builddir``."""
    removed: list[str] = []
    for dirpath, _dirnames, filenames in os.walk(builddir):
        names = set(filenames)
        for name in filenames:
            if not (name.startswith(".") and name.endswith(".d")) or len(name) < 4:
                continue
            target = name[1:-2]
            if f".{target}.cmd" not in names and target not in names:
                continue
            for n in (target, f".{target}.cmd", name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(dirpath, n))
            removed.append(os.path.relpath(os.path.join(dirpath, target), builddir))
    return sorted(removed)


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) or 1


def run_make(argv: list[str], env: dict[str, str], log_path: Path, label: str,
             progress: Progress | None = None, tail_lines: int = 25) -> MakeRun:
    """Run make, all its output into ``log_path``; on failure raise with the error lines.

    make writes the log itself (appending, so ``tail -f`` sees the build as it goes) and
    kbuild follows the file a few times a second for the progress line. Through a pipe,
    every line make or a compiler printed woke kbuild, which then ran while make, the
    dispatcher of a warm build's short jobs, waited for a CPU (bench/build_bench.py).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    steps = 0
    last_report = 0.0
    with open(log_path, "wb") as log:
        log.write(("# " + " ".join(argv) + "\n").encode("utf-8", "replace"))
    with open(log_path, "ab") as log:
        try:
            proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        except FileNotFoundError:
            raise InfraError(f"{argv[0]} not found", hint="run scripts/setup") from None
    try:
        with open(log_path, "rb") as follow:
            follow.readline()                       # the command line written above
            pending = b""
            code: int | None = None
            while code is None:
                try:
                    code = proc.wait(timeout=_FOLLOW_SECONDS)
                except subprocess.TimeoutExpired:
                    pass
                chunk = follow.read()
                if not chunk and (code is None or not pending):
                    continue
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop() if code is None else b""
                for line in lines:
                    m = _STEP_BYTES.match(line)
                    if m:
                        steps += 1
                        now = time.monotonic()
                        if progress and now - last_report >= 0.2:
                            last_report = now
                            what, target = (g.decode("utf-8", "replace") for g in m.groups())
                            progress(f"{label}: {steps} steps, {_clock(now - started)}  "
                                     f"{what} {target[:60]}")
    except BaseException:
        _kill_group(proc)
        raise
    seconds = time.monotonic() - started
    if code != 0:
        errors = _error_lines(_log_tail(log_path, 400), tail_lines)
        raise InfraError(
            f"{label} failed (make exit {code}) after {_clock(seconds)}; last error lines:\n    "
            + "\n    ".join(errors),
            hint=f"full log: {log_path}")
    return MakeRun(argv=argv, seconds=seconds, steps=steps, log=log_path)


def _log_tail(path: Path, count: int) -> list[str]:
    """The last ``count`` lines of the log (its last 256 KiB at most)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 262144))
        text = f.read().decode("utf-8", "replace")
    return text.splitlines()[-count:]


def _die_with_parent() -> None:
    """make gets SIGTERM if kbuild dies (even by SIGKILL); make then stops its own
    compilers. It stays in kbuild's process group, so Ctrl-C reaches it too."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
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


def make_variables(arch: str, toolchain: Toolchain) -> list[str]:
    """``VAR=value`` arguments for make (command-line variables beat the Makefile's)."""
    v = arch_variables(arch)
    out = [f"ARCH={v['ARCH']}"]
    if "SUBARCH" in v:
        out.append(f"SUBARCH={v['SUBARCH']}")
    out.append(f"CC={toolchain.cc_command}")
    out.append(f"LD={toolchain.ld}")
    if toolchain.launcher:
        # host programs (fixdep, Kconfig's conf, objtool and its libsubcmd, modpost, ...)
        # through the cache too: a build in an empty dir otherwise compiles them all
        # before its first kernel object, however warm the cache is
        out.append(f"HOSTCC={toolchain.launcher} gcc")
    return out


def ccache_environment(cache_dir: Path | None, base_dir: Path) -> dict[str, str]:
    """Only the ccache settings that hits need across build dirs, source dirs and clones.

    The cache itself is the user's (``$CCACHE_DIR``, else ccache's own default), so a
    second clone, CI and ``rm -rf artifacts`` all hit; its size and other settings stay
    the user's. ``cache_dir`` (the site's ``ccache_dir``) selects a dedicated cache.
    """
    env = {
        "CCACHE_BASEDIR": str(base_dir),
        "CCACHE_NOHASHDIR": "1",
        "CCACHE_SLOPPINESS": "time_macros,include_file_mtime,include_file_ctime",
        # tools/ (objtool, its libsubcmd) names each object's make target by its absolute
        # path (-Wp,-MT,/…/build/tools/objtool/x.o), which ccache hashes as given: every
        # other checkout missed. The target only names the rule in the .d file (tools'
        # fixdep skips it); the object does not depend on it.
        "CCACHE_IGNOREOPTIONS": "-Wp,-MT,*",
        # depend mode: a miss compiles once and takes the include list from the
        # compiler's own -MMD output (every kernel and host object has one) instead of
        # running the preprocessor first; that second cpp run was most of a cold build's
        # cost over bare make (bench/build_bench.py, docs/decisions.md). Hits are looked
        # up exactly as in direct mode.
        "CCACHE_DEPEND": "1",
    }
    if cache_dir is not None:
        env["CCACHE_DIR"] = str(cache_dir)
    return env
