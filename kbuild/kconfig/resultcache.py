"""Configure's results kept on disk: the same parse, base and fragments give the same
.config, so a configure that has been done before is not done again.

After a fragment edit that is undone, a profile switch or ``doit forget``, configure
would load the parsed tree (about a second of unpickling, :mod:`kbuild.kconfig.treecache`),
apply the base, merge and check; this cache answers in the time it takes to hash the
inputs. An entry (``result-<digest>.json`` in the tree cache's directory) is named by
everything that decides the .config: the parse (:func:`treecache.validated_digest`:
the tree, arch, environment, compiler, kconfiglib, every Kconfig file's content), the
base and the content of each file it is made from, each fragment's name and content,
and the source of every module of kbuild/kconfig/ and of the configure stage. Only a
configure that succeeded with no warning is kept (an error or a dropped value is
computed again, with its message). It holds the .config text and the counts configure
reports. Anything unreadable is a miss; an unwritable directory only costs time.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from kbuild.kconfig import treecache
from kbuild.kconfig.base import base_inputs

FORMAT = 1
_KCONFIG = Path(__file__).resolve().parent
# The configure stage's own module (build/configure.py) decides the result too.
_CODE = sorted(_KCONFIG.glob("*.py")) + [_KCONFIG.parent / "build" / "configure.py"]


def result_entry(cache: Path, srctree: Path, arch: str, env: dict[str, str], base: str,
                 base_dir: Path | None, fragments: list[tuple[str, Path]]) -> Path | None:
    """Where the result of configuring ``srctree`` (parsed for ``arch`` in ``env``) with
    ``base`` and ``fragments`` (shown name, path) is kept; None when the parse is not in
    the tree cache (or no longer valid), or an input cannot be read."""
    srctree = srctree.resolve()
    tree_entry = cache / f"{treecache.tree_key(srctree, arch, env)}.pickle"
    parse = treecache.validated_digest(tree_entry, srctree, env)
    inputs = base_inputs(srctree, env, base, base_dir)
    if parse is None or inputs is None:
        return None
    h = hashlib.sha256(f"{FORMAT}\0{parse}\0{base}".encode("utf-8", "surrogateescape"))
    named = [(str(p), p) for p in inputs] + [(f"fragment {shown}", p) for shown, p in fragments]
    try:
        for path in _CODE:
            h.update(b"\0code\0" + path.read_bytes())
        for shown, path in named:
            h.update(b"\0" + shown.encode("utf-8", "surrogateescape") + b"\0" + path.read_bytes())
    except OSError:
        return None             # a missing input: the uncached path reports it
    return cache / f"result-{h.hexdigest()}.json"


def load(entry: Path) -> tuple[str, int, int] | None:
    """(.config text, symbols in the tree, values requested) kept in ``entry``, if any."""
    try:
        data = json.loads(entry.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            return None
        text, symbols, requested = data["config"], data["symbols"], data["requested"]
    except (OSError, ValueError, KeyError, AttributeError):
        return None
    if not isinstance(text, str) or not isinstance(symbols, int) or not isinstance(requested, int):
        return None
    with contextlib.suppress(OSError):
        os.utime(entry)         # recently used: kept when old entries are removed
    return text, symbols, requested


def store(entry: Path, text: str, symbols: int, requested: int) -> None:
    from kbuild.util.files import atomic_write_text

    data = {"format": FORMAT, "config": text, "symbols": symbols, "requested": requested}
    try:
        atomic_write_text(entry, json.dumps(data))
    except OSError:
        pass                    # an unwritable cache only costs time
