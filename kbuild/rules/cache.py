"""Loaded rule sets kept on disk, so a `kbuild verify` process skips TOML parsing.

A rule set is stored as a pickle named by a digest of everything that decides it: the
rule files' names as shown in messages and their bytes, the sources of the modules that
build it (so a changed loader or model never reads an old shape), kbuild's and Python's
versions. A different input is a different name, so nothing is ever invalidated in
place; old entries beyond :data:`KEEP` are removed when a new one is written. The cache
is an optimisation only: an unreadable, corrupt or unwritable cache means parsing the
files as before. Directory: ``$KBUILD_CACHE_DIR``, else ``$XDG_CACHE_HOME/kbuild``,
else ``~/.cache/kbuild``; ``KBUILD_CACHE_DIR=off`` turns it off.
"""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from kbuild import __version__

KEEP = 16                      # rule-set entries kept (built-ins, a few --rules combinations)
_HERE = Path(__file__).resolve().parent
# The modules whose code shapes a loaded RuleSet.
_SHAPERS = ("cache.py", "load.py", "model.py", "reader.py", "tables.py", "../util/record.py")

TYPE_CHECKING = False    # typing is not imported on `kbuild verify`'s path
if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")

# The C unpickler without pickle.py, which compiles a regex and loads struct when imported
# (~1.5 ms of every `kbuild verify`); storing, rare, imports pickle.
try:
    from _pickle import load as _unpickle
except ImportError:
    from pickle import load as _unpickle

try:    # CPython's own: hashlib would load OpenSSL first (~3 ms of every `kbuild verify`)
    from _sha256 import sha256 as _sha256
except ImportError:     # Python >= 3.12 names it _sha2
    from hashlib import sha256 as _sha256


def cache_dir() -> Path | None:
    """Where kbuild keeps per-user caches (None when turned off or no home is known)."""
    explicit = os.environ.get("KBUILD_CACHE_DIR")
    if explicit:
        return None if explicit == "off" else Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "kbuild"
    home = os.environ.get("HOME")
    return Path(home) / ".cache" / "kbuild" if home else None


def ruleset_key(files: Sequence[tuple[str, bytes]]) -> str:
    """The digest naming one rule set: (shown name, content) of each file, in order, with
    the loader's own sources and the versions of kbuild and Python."""
    h = _sha256()
    h.update(f"kbuild {__version__} python {sys.version}\0".encode())
    for name in _SHAPERS:
        h.update((_HERE / name).read_bytes())
        h.update(b"\0")
    for shown, data in files:
        h.update(f"{len(shown)}:{shown}:{len(data)}:".encode("utf-8", "surrogateescape"))
        h.update(data)
    return h.hexdigest()


def cached(kind: str, key: str, build: Callable[[], T]) -> T:
    """The object stored under ``kind-key``, else ``build()`` (stored for the next process).
    Errors of ``build`` propagate and nothing is stored."""
    directory = cache_dir()
    path = directory / f"{kind}-{key}.pickle" if directory is not None else None
    if path is not None:
        try:
            with open(path, "rb") as f:
                value: T = _unpickle(f)
            return value
        except FileNotFoundError:
            pass
        except Exception:           # a torn or foreign file: rebuild and overwrite it
            pass
    value = build()
    if path is not None:
        _store(path, kind, value)
    return value


def _store(path: Path, kind: str, value: object) -> None:
    import pickle

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        entries = sorted(path.parent.glob(f"{kind}-*.pickle"), key=_mtime, reverse=True)
        for old in entries[KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:                 # read-only home, full disk: run without a cache
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0

