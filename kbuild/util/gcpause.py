"""Pausing Python's cyclic garbage collector around a build-up of many small objects."""
from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Reading a large site or unpickling a parsed Kconfig tree makes a million small objects
    and no cycles to free: the collector would scan the growing heap again and again."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
