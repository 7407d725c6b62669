"""The one place where doit-side errors become messages (the ``kbuild`` command's is
:func:`kbuild.cli.main`).

An action that raises a kbuild error fails its task with the one message (doit prints
"TaskFailed - taskid:..." and the message), never a traceback. A task creator that
cannot make its tasks (a bad kbuild.toml) prints the message and ends doit with the
error's exit code (2 for bad input), as ``kbuild`` would; doit itself would print a
traceback and exit 3.
"""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec

from doit.exceptions import TaskFailed

from kbuild.errors import KbuildError, describe

P = ParamSpec("P")
Tasks = Iterator[dict[str, Any]]


def action(fn: Callable[P, None]) -> Callable[P, bool | TaskFailed]:
    """A task action: True when ``fn`` returns, TaskFailed(message) when it raises."""
    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> bool | TaskFailed:
        try:
            fn(*args, **kwargs)
        except KbuildError as e:
            return TaskFailed(describe(e))
        except KeyboardInterrupt:
            return TaskFailed("error: interrupted")
        return True
    return run


def creates_tasks(fn: Callable[[], Tasks]) -> Callable[[], Tasks]:
    """A task creator (a generator of task dicts) whose kbuild errors end doit cleanly."""
    @functools.wraps(fn)
    def create() -> Tasks:
        try:
            yield from fn()
        except KbuildError as e:
            print(describe(e), file=sys.stderr)
            raise SystemExit(e.exit_code) from None
    return create
