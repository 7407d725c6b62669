"""Progress: an updating line on a TTY; off a TTY (logs, CI) one line per step, however
many updates the step gives; CountProgress reports every N items and the last one."""
from __future__ import annotations

import io

from kbuild.util.progress import CountProgress, ProgressLine, step_of


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_tty_each_step_is_one_line_however_many_updates_it_gives():
    log = io.StringIO()
    p = ProgressLine(log, interval=3600)
    for n in range(0, 80_000, 5000):
        p(f"unpack linux-source-6.1.tar.xz: {n} files")
    for i in range(1, 4):
        p(f"patch uml: {i}/3 000{i}-fix.patch")
    p("fetch linux-source-6.1 6.1.192-3 (150.0 MB) from the signed index")   # no step name
    p.done()
    assert log.getvalue().splitlines() == ["unpack linux-source-6.1.tar.xz: 0 files",
                                           "patch uml: 1/3 0001-fix.patch"]


def test_off_a_tty_a_long_step_says_it_is_alive_once_per_interval():
    log = io.StringIO()
    p = ProgressLine(log, interval=0)
    p("build nfsroot: 1 steps")
    p("build nfsroot: 2 steps")
    assert log.getvalue().splitlines() == ["build nfsroot: 1 steps", "build nfsroot: 2 steps"]


def test_on_a_tty_every_update_replaces_the_line_and_done_clears_it():
    tty = Tty()
    p = ProgressLine(tty)
    p("unpack x: 5000 files")
    p("unpack x: 10000 files")
    p("patch uml: 1/1 a.patch")
    p.done()
    out = tty.getvalue()
    assert "\n" not in out and out.count("\r") == 5 and out.endswith("\r")
    assert "unpack x: 10000 files" in out


def test_step_names():
    assert step_of("publish 50000 hosts: 1000/50000") == "publish 50000 hosts"
    assert step_of("fetch x (3 MB) from the signed index") is None
    assert step_of("second (suppressed: within the interval)") is None


def test_count_progress_reports_every_n_items_and_the_last():
    seen: list[str] = []
    tick = CountProgress(seen.append, "publish 2500 hosts", 2500, every=1000)
    for _ in range(2500):
        tick()
    assert seen == ["publish 2500 hosts: 1000/2500", "publish 2500 hosts: 2000/2500",
                    "publish 2500 hosts: 2500/2500"]
    quiet = CountProgress(None, "x", 10)
    quiet(10)
    assert quiet.count == 10
