"""Parsed Kconfig trees kept on disk: configure with an unchanged tree skips kconfiglib's
parse (most of its time), and gets the very state a fresh parse gives.

An entry is the kconfiglib object pickled right after parsing, before any value is
set. Its file name is a digest of what decides the parse and is known beforehand: the
tree's path and arch, the environment kbuild gives Kconfig (compiler command and
``CC_VERSION_TEXT``, ``PATH``, locale, arch variables, kernel version), kconfiglib's
version and source, this adapter's source and Python's version. Inside, the entry
records what the parse itself found out: the sha256 of every Kconfig file read and the
value of every environment variable Kconfig referenced. A lookup re-hashes those files
and compares those values; any difference is a miss, and the tree is parsed again and
the entry replaced. A cache that cannot be read or written only costs time.

Beside each entry, ``<entry>.files`` (JSON) repeats what the parse found out, so that
:func:`validated_digest` can tell whether the entry is still good, and name the parse,
without loading the tree (a second of unpickling): configure's result cache
(:mod:`kbuild.kconfig.resultcache`) is keyed by that name.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import kconfiglib

from kbuild.kconfig.compat import CompatKconfig
from kbuild.util.gcpause import collector_paused

FORMAT = 1
KEEP = 8                # entries kept per cache directory (profiles x kernel series)
_HERE = Path(__file__).resolve().parent
# Our side of the parse: the compat rewriting, the loader and this module.
_ADAPTER = ("compat.py", "tree.py", "treecache.py")
# Environment variables known before parsing that decide it (kconfig_environment's).
KEY_VARIABLES = ("srctree", "KERNELVERSION", "ARCH", "SRCARCH", "SUBARCH", "HEADER_ARCH",
                 "CC", "LD", "AR", "NM", "OBJCOPY", "PAHOLE", "RUSTC", "BINDGEN", "CLANG_FLAGS",
                 "USERCFLAGS", "USERLDFLAGS", "CC_VERSION_TEXT", "PATH", "LC_ALL", "LANG")

T = TypeVar("T")


def tree_key(srctree: Path, arch: str, env: dict[str, str]) -> str:
    """The entry name for parsing ``srctree`` for ``arch`` in ``env``."""
    h = hashlib.sha256()
    h.update(repr((FORMAT, str(srctree), arch, kconfiglib.VERSION, sys.version,
                   [(k, env.get(k)) for k in KEY_VARIABLES])).encode("utf-8", "surrogateescape"))
    h.update(_file_digest(Path(kconfiglib.__file__)).encode())
    for name in _ADAPTER:
        h.update(_file_digest(_HERE / name).encode())
    return h.hexdigest()


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_files_digest(srctree: Path, filenames: list[str]) -> dict[str, str]:
    """sha256 of each Kconfig file kconfiglib read (names relative to ``srctree``)."""
    out = {}
    for name in dict.fromkeys(filenames):
        p = Path(name) if os.path.isabs(name) else srctree / name
        try:
            out[name] = _file_digest(p)
        except OSError:
            out[name] = "<missing>"
    return out


def parse_digest(entry: Path, files: dict[str, str]) -> str:
    """Names one parse: the entry (what was known before) and the Kconfig files' digests."""
    h = hashlib.sha256(entry.name.encode())
    for name, digest in sorted(files.items()):
        h.update(f"\0{name}\0{digest}".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def lookup(entry: Path, srctree: Path, env: dict[str, str]) -> tuple[CompatKconfig, str] | None:
    """The parsed tree stored in ``entry`` and its :func:`parse_digest`, if every Kconfig
    file and referenced variable is as it was when it was parsed, else None."""
    try:
        with open(entry, "rb") as f:
            stored = _deep(lambda: pickle.load(f))
    except FileNotFoundError:
        return None
    except Exception:               # torn, foreign or from another Python: parse again
        return None
    if not isinstance(stored, dict) or stored.get("format") != FORMAT:
        return None
    if any(env.get(k) != v for k, v in stored["env"].items()):
        return None
    if tree_files_digest(srctree, list(stored["files"])) != stored["files"]:
        return None
    kconf = stored["kconf"]
    if not isinstance(kconf, CompatKconfig):
        return None
    if _read_facts(entry) != (stored["env"], stored["files"]):   # missing, older or damaged
        _write_facts(entry, stored["env"], stored["files"])
    return kconf, parse_digest(entry, stored["files"])


def validated_digest(entry: Path, srctree: Path, env: dict[str, str]) -> str | None:
    """The :func:`parse_digest` of ``entry`` if it is still good (the same checks as
    :func:`lookup`: every Kconfig file and referenced variable as when parsed), from its
    side file, without loading the tree; None when it is not (or cannot be told)."""
    facts = _read_facts(entry)
    if facts is None or not entry.is_file():
        return None
    stored_env, files = facts
    if any(env.get(k) != v for k, v in stored_env.items()):
        return None
    if tree_files_digest(srctree, list(files)) != files:
        return None
    return parse_digest(entry, files)


def _read_facts(entry: Path) -> tuple[dict[str, str | None], dict[str, str]] | None:
    try:
        facts = json.loads(_facts_file(entry).read_text())
        if facts.get("format") != FORMAT:
            return None
        stored_env, files = facts["env"], facts["files"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(stored_env, dict) or not isinstance(files, dict):
        return None
    return stored_env, files


def _facts_file(entry: Path) -> Path:
    return entry.with_name(entry.name + ".files")


def _write_facts(entry: Path, env: dict[str, str | None], files: dict[str, str]) -> None:
    from kbuild.util.files import atomic_write_text

    with contextlib.suppress(OSError):
        atomic_write_text(_facts_file(entry), json.dumps({"format": FORMAT, "env": env,
                                                           "files": files}, sort_keys=True))


def store(entry: Path, kconf: CompatKconfig, srctree: Path, env: dict[str, str]) -> str:
    """Keep a freshly parsed tree (before any value is set) for the next configure;
    returns its :func:`parse_digest`."""
    names = sorted(set(kconf.env_vars) | set(KEY_VARIABLES))
    files = tree_files_digest(srctree, list(kconf.kconfig_filenames))
    stored_env = {k: env.get(k) for k in names}
    record = {"format": FORMAT, "env": stored_env, "files": files,
              "kconf": kconf}
    tmp = entry.with_name(f".{entry.name}.{os.getpid()}.tmp")
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            _deep(lambda: pickle.dump(record, f, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, entry)
        _write_facts(entry, stored_env, files)
        for pattern in ("*.pickle", "base-*.config", "result-*.json"):
            entries = sorted(entry.parent.glob(pattern), key=_mtime, reverse=True)
            for old in entries[KEEP * (1 if pattern == "*.pickle" else 4):]:
                old.unlink(missing_ok=True)
                if pattern == "*.pickle":
                    _facts_file(old).unlink(missing_ok=True)
    except (OSError, pickle.PicklingError, RecursionError):
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return parse_digest(entry, files)


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


def _deep(work: Callable[[], T]) -> T:
    """Run ``work`` (pickling a whole Kconfig tree: menu nodes link to each other, deeply)
    in a thread with a large stack and a high recursion limit, with the garbage collector
    paused (it would otherwise walk the half-built graph over and over)."""
    result: list[Any] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(work())
        except BaseException as e:  # re-raised in the caller's thread
            error.append(e)

    with collector_paused():
        old_limit = sys.getrecursionlimit()
        old_stack = threading.stack_size(512 * 1024 * 1024)
        sys.setrecursionlimit(max(old_limit, 200_000))
        try:
            t = threading.Thread(target=run, name="kconfig-cache")
            t.start()
            t.join()
        finally:
            threading.stack_size(old_stack)
            sys.setrecursionlimit(old_limit)
    if error:
        raise error[0]
    value: T = result[0]
    return value
