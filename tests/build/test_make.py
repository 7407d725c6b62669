"""The make runner with real make and gcc: logs, progress, failures, missing make."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from kbuild.build import make as build
from kbuild.errors import InfraError
from kbuild.util import progress as build_progress

MAKEFILE = """\
all: good.o bad.o
%.o: %.c
\t@echo "  CC      $@"
\t@gcc -c $< -o $@
"""


def _project(tmp_path: Path, bad: bool) -> Path:
    d = tmp_path / "proj"
    d.mkdir()
    (d / "Makefile").write_text(MAKEFILE)
    (d / "good.c").write_text("int good(void) { return 1; }\n")
    (d / "bad.c").write_text("int bad(void) { return missing_symbol + ; }\n" if bad
                             else "int bad(void) { return 2; }\n")
    return d


def test_success_logs_everything_and_counts_steps(tmp_path):
    d = _project(tmp_path, bad=False)
    seen: list[str] = []
    run = build.run_make(["make", "-C", str(d)], dict(os.environ), tmp_path / "logs/b.log", "build t",
                         progress=seen.append)
    assert run.steps == 2
    log = (tmp_path / "logs/b.log").read_text()
    assert log.startswith("# make -C") and "CC      good.o" in log
    assert seen and seen[0].startswith("build t: 1 steps")


def test_compiler_error_shows_the_error_lines_and_the_log(tmp_path):
    d = _project(tmp_path, bad=True)
    with pytest.raises(InfraError) as e:
        build.run_make(["make", "-C", str(d)], dict(os.environ), tmp_path / "b.log", "build t")
    msg = str(e.value)
    assert "build t failed (make exit 2)" in msg
    assert "bad.c:1:" in msg and "error:" in msg   # gcc's own message
    assert f"full log: {tmp_path / 'b.log'}" in msg
    assert "missing_symbol" in (tmp_path / "b.log").read_text()


def test_make_missing_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InfraError, match="make not found"):
        build.make_argv(tmp_path, tmp_path / "o", [], ["bzImage"], 2)


def test_progress_line_on_a_tty_and_off_it(tmp_path):
    import io

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    p = build_progress.ProgressLine(tty)
    p("build x: 1 steps")
    p("build x: 2")
    p.done()
    assert tty.getvalue().startswith("\rbuild x: 1 steps") and "\r" in tty.getvalue()[1:]
    plain = io.StringIO()
    q = build_progress.ProgressLine(plain, interval=3600)
    q("first")
    q("second (suppressed: within the interval)")
    assert plain.getvalue() == "first\n"


def test_progress_follows_the_log_while_make_runs(tmp_path):
    """make writes the log itself; kbuild reads it as it grows: steps are counted and shown
    while make still runs, and a last line without a newline counts too."""
    d = tmp_path / "slow"
    d.mkdir()
    (d / "Makefile").write_text("all:\n\t@echo '  CC      one.o'\n\t@sleep 2\n"
                                "\t@echo '  CC      two.o'\n\t@printf '  LD      last'\n")
    log = tmp_path / "s.log"
    seen: list[tuple[str, str]] = []
    run = build.run_make(["make", "-s", "-C", str(d)], dict(os.environ), log, "slow",
                         progress=lambda s: seen.append((s, log.read_text())))
    assert run.steps == 3
    first, log_then = seen[0]
    assert first.startswith("slow: 1 steps") and "CC one.o" in first
    assert "two.o" not in log_then      # shown while make was still running
    assert log.read_text().endswith("  LD      last")


def test_a_killed_makes_half_written_targets_are_removed_and_nothing_else(tmp_path: Path) -> None:
    d = tmp_path / "kernel" / "sched"
    d.mkdir(parents=True)
    # core.o: fixdep was writing its .cmd when make was killed (the .d file is still there)
    (d / "core.o").write_bytes(b"\x7fELF")
    (d / ".core.o.cmd").write_text("cmd_kernel/sched/core.o := gcc -I$(srctree")
    (d / ".core.o.d").write_text("core.o: a.h\n")
    # fair.o: complete (its .d removed after fixdep); clock.o: compiling, no .cmd yet
    (d / "fair.o").write_bytes(b"\x7fELF")
    (d / ".fair.o.cmd").write_text("cmd_kernel/sched/fair.o := gcc\n")
    (d / ".clock.o.d").write_text("clock.o: b.h\n")
    (d / "clock.o").write_bytes(b"\x7fE")
    (tmp_path / ".config.d").write_text("unrelated")        # no target beside it: kept

    removed = build.repair_interrupted(tmp_path)

    assert removed == ["kernel/sched/clock.o", "kernel/sched/core.o"]
    assert sorted(p.name for p in d.iterdir()) == [".fair.o.cmd", "fair.o"]
    assert (tmp_path / ".config.d").exists()
    assert build.repair_interrupted(tmp_path) == []
