"""The shortcut for a site publish that would change nothing.

A full publish of a site loads kbuild.toml, renders every host's files and compares
each with the tree: seconds for 50,000 hosts. After each site publish, ``record``
writes ``<target>/.kbuild/inputs.json``: the stamp (device, inode, size, times) of
every input the staged tree was made from (the site file, its lock, every profile's
build record and .config, every source file, every candidate path of the boot loader
files, the server snippets), an identity of kbuild's own files, the live manifest's
stamp, and one digest over the stamps of every published file. ``unchanged`` re-takes
those stamps; when all are equal the publish would change nothing, and it answers
without loading the site. Every published file is still checked (one ``lstat`` each),
so a file edited by hand since is found and the full publish rewrites it, as before.
A file whose change time was too recent to trust when recorded (the racy rule of
writes.stamps_after_sync) is read and compared with its recorded digest instead.
Any difference, a missing or malformed record, or a manifest another publish or a
rollback rewrote, means: do the full publish.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kbuild.publish.manifest import MANIFEST_NAME, stamp, store_dir
from kbuild.publish.plan import PublishReport, TreeFile
from kbuild.publish.safetree import SafeTree
from kbuild.publish.writes import sync_filesystem
from kbuild.util.files import atomic_write_bytes, exclusive_lock

RECORD_NAME = "inputs.json"
FORMAT = 1
_RACY_NS = 100_000_000
_RACY_COARSE_NS = 2_000_000_000
_PACKAGE = Path(__file__).resolve().parent.parent


def code_identity() -> str:
    """kbuild's own files (code, rule tables): a changed kbuild may stage other bytes."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(_PACKAGE):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith((".py", ".toml", ".sh", ".c")):
                st = os.stat(os.path.join(dirpath, name))
                h.update(f"{dirpath}/{name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def path_stamp(path: Path | str) -> str:
    try:
        return stamp(os.stat(path))
    except (FileNotFoundError, NotADirectoryError):
        return "missing"


def _group(relpaths: Iterable[str]) -> list[tuple[str, list[str]]]:
    by_dir: dict[str, list[str]] = {}
    for rel in sorted(relpaths):
        d, _, name = rel.rpartition("/")
        by_dir.setdefault(d, []).append(name)
    return sorted(by_dir.items())


def _tree_stamps(tree: SafeTree, dirs: Sequence[tuple[str, list[str]]],
                 ctimes: dict[str, int] | None = None,
                 known: Mapping[str, os.stat_result] | None = None) -> str | None:
    """Digest of every file's stamp (and each file's change time into ``ctimes``); None
    if one is gone or a directory is missing or a link. ``known``: every file's lstat as
    the publish took it, used instead of taking it again (an older stat can only make a
    later check miss: any change since moved the file's change time)."""
    h = hashlib.sha256()
    st_at = os.stat
    for d, names in dirs:
        prefix = f"{d}/" if d else ""
        if known is not None:
            stats = [known[prefix + n] for n in names]
        else:
            try:
                fd = tree.dir_fd(tuple(d.split("/")) if d else ())
            except Exception:   # a link or a file in the way: the full publish reports it
                return None
            if fd is None:
                return None
            try:
                stats = [st_at(n, dir_fd=fd, follow_symlinks=False) for n in names]
            except FileNotFoundError:
                return None
        h.update(d.encode() + b"\0")
        h.update("\n".join(f"{s.st_mode}:{s.st_dev}:{s.st_ino}:{s.st_size}:{s.st_mtime_ns}:"
                           f"{s.st_ctime_ns}" for s in stats).encode())
        if ctimes is not None:
            for n, s in zip(names, stats, strict=True):
                ctimes[prefix + n] = s.st_ctime_ns
    return h.hexdigest()


def input_paths(site: Any, files: Sequence[TreeFile]) -> list[str]:
    """Every file whose change may change the staged tree (see the module docstring)."""
    from kbuild.boot import binaries
    from kbuild.site import layout
    from kbuild.site.lock import lock_path

    paths: set[str] = {str(site.path), str(lock_path(site.path))}
    for p in site.profiles.values():
        paths.add(str(layout.build_record(site, p)))
        paths.add(str(layout.build_dir(site, p) / ".config"))
        if p.secure_boot is not None:
            paths |= {str(p.secure_boot.key), str(p.secure_boot.cert)}
    for f in files:
        if f.source is not None:
            paths.add(str(f.source))
    # which candidate a loader is taken from depends on which exist
    for candidates, _package in binaries._FILES.values():
        paths |= {str(c) for c in candidates}
    paths.add(str(binaries.GRUB_PC_MODULES))
    return sorted(paths)


def record(target: Path, site_path: Path, inputs: Sequence[str | Path], files: Sequence[TreeFile],
           report: PublishReport, *, verified: bool, warnings: Sequence[str]) -> bool:
    """After a site publish to ``target``: write the record ``unchanged`` checks. Returns
    False (and removes any old record) when the tree cannot be vouched for: nothing
    published, or a pending publish."""
    target = Path(target)
    path = store_dir(target) / RECORD_NAME
    with exclusive_lock(store_dir(target) / "lock", f"publishing to {target}"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        manifest = target / MANIFEST_NAME
        # another publish or a rollback since ours: its tree is not what our inputs made
        if not report.manifest_stamp or path_stamp(manifest) != report.manifest_stamp:
            return False
        return _record_locked(target, path, site_path, inputs, files, report, verified, warnings)


def _record_locked(target: Path, path: Path, site_path: Path, inputs: Sequence[str | Path],
                   files: Sequence[TreeFile], report: PublishReport, verified: bool,
                   warnings: Sequence[str]) -> bool:
    manifest = target / MANIFEST_NAME
    with SafeTree.open(target) as tree:
        assert tree.root_fd is not None
        # the stamps vouch for content only once it is on disk (as the manifest's stamps)
        sync_filesystem(tree.root_fd)
        taken = time.time_ns()
        dirs = _group(f.relpath for f in files)
        ctimes: dict[str, int] = {}
        known = report.file_stats
        if known is not None and not all(f.relpath in known for f in files):
            known = None
        digest = _tree_stamps(tree, dirs, ctimes, known)
        if digest is None:
            return False
        racy: dict[str, str] = {}
        for f in files:
            ct = ctimes[f.relpath]
            window = _RACY_COARSE_NS if ct % 1_000_000 == 0 else _RACY_NS
            if ct + window >= taken:
                racy[f.relpath] = tree.sha256(tuple(f.relpath.split("/")))
    doc = {"format": FORMAT, "site": str(Path(site_path).resolve()), "target": str(target),
           "code": code_identity(), "inputs": {str(p): path_stamp(p) for p in inputs},
           "manifest": path_stamp(manifest), "generation": report.generation,
           "verified": verified, "warnings": list(warnings), "dirs": dirs,
           "stamps": digest, "racy": racy}
    atomic_write_bytes(path, json.dumps(doc, separators=(",", ":")).encode())
    return True


def unchanged(site_path: Path, target: Path, *, need_verified: bool = False) -> \
        tuple[PublishReport, list[str]] | None:
    """The report of a publish that would change nothing, or None: publish in full."""
    target = Path(target)
    path = store_dir(target) / RECORD_NAME
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    try:
        if doc.get("format") != FORMAT or doc["site"] != str(Path(site_path).resolve()) \
                or doc["target"] != str(target) or (need_verified and doc["verified"] is not True):
            return None
        with exclusive_lock(store_dir(target) / "lock", f"publishing to {target}"):
            if path_stamp(target / MANIFEST_NAME) != doc["manifest"]:
                return None
            if any(path_stamp(p) != s for p, s in doc["inputs"].items()):
                return None
            if doc["code"] != code_identity():
                return None
            dirs = [(str(d), [str(n) for n in names]) for d, names in doc["dirs"]]
            with SafeTree.open(target) as tree:
                if _tree_stamps(tree, dirs) != doc["stamps"]:
                    return None
                for rel, sha in doc["racy"].items():
                    try:
                        if tree.sha256(tuple(rel.split("/"))) != sha:
                            return None
                    except OSError:
                        return None
            gen = int(doc["generation"])
            names = [p + n for d, ns in dirs for p in (f"{d}/" if d else "",) for n in ns]
            return (PublishReport(target, gen, [], names, [], False, previous_generation=gen),
                    [str(w) for w in doc["warnings"]])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
