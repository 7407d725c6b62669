"""Progress for people: one updating line on a TTY, sparse plain lines otherwise."""
from __future__ import annotations

import sys
import time
from typing import TextIO


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
