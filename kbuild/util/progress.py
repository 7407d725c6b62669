"""Progress for people: one updating line on a TTY; in a log, one line per step.

A progress text names its step before its first ``": "`` (``unpack linux-source-6.1.tar.xz:
5000 files``, ``build nfsroot: 237 steps``, ``patch uml: 1/2 0001-x.patch``): words of
letters, digits and ``._-+@``; a text without such a name belongs to the step before it.
On a TTY every text replaces the last. Off a TTY (CI logs, ``doit > log``) the first text
of each step is written as one line and
later texts of the same step only once per ``interval`` seconds, so a long step still
says it is alive without filling the log.

The library reports through a plain callable (``Progress``); only the doit tasks and
the ``kbuild`` command make a :class:`ProgressLine` (the library never prints).
:class:`CountProgress` turns "one more item done" into such texts for long loops
(publishing many hosts).
"""
from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from typing import TextIO

Progress = Callable[[str], None]
_STEP = re.compile(r"([\w.+@-]+(?: [\w.+@-]+)*): ")


def step_of(text: str) -> str | None:
    """The step a progress text names (the words before its first ``": "``), if any."""
    m = _STEP.match(text)
    return m.group(1) if m else None


class ProgressLine:
    """A single updating status line on a TTY; one line per step otherwise."""

    def __init__(self, stream: TextIO | None = None, interval: float = 60.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self._last = float("-inf")  # the first line always shows
        self._step: str | None = None
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
        step = step_of(text)
        new_step = step is not None and step != self._step
        if new_step:
            self._step = step
        if new_step or now - self._last >= self.interval:
            self._last = now
            self.stream.write(text + "\n")
            self.stream.flush()

    def done(self) -> None:
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.done()     # also when the step failed: its error starts on a clean line


class CountProgress:
    """``what: done/total`` through ``progress`` every ``every`` items and at the last one
    (call it once per item done, or with how many were done)."""

    def __init__(self, progress: Progress | None, what: str, total: int, every: int = 1000) -> None:
        self.progress, self.what, self.total = progress, what, total
        self.every = max(1, every)
        self.count = 0

    def __call__(self, n: int = 1) -> None:
        before = self.count
        self.count += n
        if self.progress is None:
            return
        if self.count >= self.total or self.count // self.every != before // self.every:
            self.progress(f"{self.what}: {min(self.count, self.total)}/{self.total}")
