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
import itertools
import json
import operator
import os
import time
from array import array
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kbuild.publish.manifest import MANIFEST_NAME, stamp, store_dir
from kbuild.publish.plan import PublishReport, TreeFile
from kbuild.publish.safetree import SafeTree
from kbuild.publish.writes import sync_filesystem
from kbuild.util.files import atomic_write_bytes, exclusive_lock

RECORD_NAME = "inputs.json"
FORMAT = 2
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


# The stamps of the published files are kept as one array of integers (STAMP_FIELDS a
# file, in the record's order: directories, then names, sorted) and the record holds its
# digest: a publish of a few changed files (delta.py) changes their slots, not the rest.
STAMP_FIELDS = 6


_STAMP_GETTER = operator.attrgetter("st_mode", "st_dev", "st_ino", "st_size", "st_mtime_ns",
                                    "st_ctime_ns")


def stamp_ints(s: os.stat_result) -> tuple[int, int, int, int, int, int]:
    return _STAMP_GETTER(s)  # type: ignore[no-any-return]


def stamps_digest(ints: array[int]) -> str:
    return hashlib.sha256(ints.tobytes()).hexdigest()


def _tree_stamps(tree: SafeTree, dirs: Sequence[tuple[str, list[str]]],
                 ctimes: dict[str, int] | None = None,
                 known: Mapping[str, os.stat_result] | None = None,
                 keep: list[array[int]] | None = None) -> str | None:
    """The digest of every file's stamp (and each file's change time into ``ctimes``);
    None if one is gone or a directory is missing or a link. ``known``: every file's
    lstat as the publish took it, used instead of taking it again (an older stat can only
    make a later check miss: any change since moved the file's change time); ``keep``:
    given the array of stamps digested."""
    ints: list[int] = []
    add = ints.extend
    fields = _STAMP_GETTER
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
        add(itertools.chain.from_iterable(map(fields, stats)))
        if ctimes is not None:
            for n, s in zip(names, stats, strict=True):
                ctimes[prefix + n] = s.st_ctime_ns
    try:
        packed = array("q", ints)
    except OverflowError:       # a value beyond 64 bits: no array, the same meaning
        return hashlib.sha256(repr(ints).encode()).hexdigest()
    if keep is not None:
        keep.append(packed)
    return stamps_digest(packed)


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
           report: PublishReport, *, verified: bool, warnings: Sequence[str],
           hosts: str | None = None) -> bool:
    """After a site publish to ``target``: write the record ``unchanged`` checks. Returns
    False (and removes any old record) when the tree cannot be vouched for: nothing
    published, or a pending publish. ``hosts``: the digest of the hosts state
    publish/delta.py keeps beside it."""
    target = Path(target)
    path = store_dir(target) / RECORD_NAME
    with exclusive_lock(store_dir(target) / "lock", f"publishing to {target}"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        manifest = target / MANIFEST_NAME
        # another publish or a rollback since ours: its tree is not what our inputs made
        if not report.manifest_stamp or path_stamp(manifest) != report.manifest_stamp:
            return False
        return record_locked(target, site_path, inputs, [f.relpath for f in files], report,
                             verified, warnings, hosts)


def record_locked(target: Path, site_path: Path, inputs: Sequence[str | Path],
                  relpaths: Sequence[str], report: PublishReport, verified: bool,
                  warnings: Sequence[str], hosts: str | None = None,
                  done: tuple[list[tuple[str, list[str]]], str] | None = None) -> bool:
    """``record`` with the store's lock held (and any old record removed). ``done``: the
    files by directory and their stamps' digest, already worked out; ``relpaths`` are
    then only the files that may be too recent to trust by their stamp."""
    path = store_dir(target) / RECORD_NAME
    manifest = target / MANIFEST_NAME
    with SafeTree.open(target) as tree:
        assert tree.root_fd is not None
        # the stamps vouch for content only once it is on disk (as the manifest's stamps)
        sync_filesystem(tree.root_fd)
        taken = time.time_ns()
        ctimes: dict[str, int] = {}
        if done is not None:
            dirs, digest = done
            for rel in relpaths:
                st = tree.lstat(tuple(rel.split("/")))
                if st is None:
                    return False
                ctimes[rel] = st.st_ctime_ns
        else:
            dirs = _group(relpaths)
            known = report.file_stats
            if known is not None and not all(rel in known for rel in relpaths):
                known = None
            got = _tree_stamps(tree, dirs, ctimes, known)
            if got is None:
                return False
            digest = got
        racy: dict[str, str] = {}
        for rel in relpaths:
            ct = ctimes[rel]
            window = _RACY_COARSE_NS if ct % 1_000_000 == 0 else _RACY_NS
            if ct + window >= taken:
                racy[rel] = tree.sha256(tuple(rel.split("/")))
    doc = {"format": FORMAT, "site": str(Path(site_path).resolve()), "target": str(target),
           "code": code_identity(), "inputs": {str(p): path_stamp(p) for p in inputs},
           "manifest": path_stamp(manifest), "generation": report.generation,
           "verified": verified, "warnings": list(warnings),
           # a file name has no NUL: each directory's names as one string reads fast
           "dirs": [[d, "\0".join(names)] for d, names in dirs],
           "stamps": digest, "racy": racy, "hosts": hosts}
    # owner-only: the tree is served by TFTP, and the record names the build machine's paths
    atomic_write_bytes(path, json.dumps(doc, separators=(",", ":")).encode(), 0o600)
    return True


def read_record(site_path: Path, target: Path, *, need_verified: bool = False) -> dict[str, Any] | None:
    """The record of the last site publish from ``site_path`` to ``target``, or None."""
    path = store_dir(target) / RECORD_NAME
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    try:
        if not isinstance(doc, dict) or doc.get("format") != FORMAT \
                or doc["site"] != str(Path(site_path).resolve()) or doc["target"] != str(target) \
                or (need_verified and doc["verified"] is not True):
            return None
    except KeyError:
        return None
    return doc


def stale_inputs(doc: dict[str, Any], target: Path, tree: SafeTree,
                 keep: list[array[int]] | None = None) -> list[str] | None:
    """With the store's lock held: the inputs whose stamps differ from the record's, when
    the tree is still the one recorded (the live manifest, kbuild's code and every
    published file unchanged); None when it is not, or the record is malformed.
    ``keep``: given the array of the files' stamps (_tree_stamps)."""
    try:
        if path_stamp(target / MANIFEST_NAME) != doc["manifest"]:
            return None
        stale = [str(p) for p, s in doc["inputs"].items() if path_stamp(p) != s]
        if doc["code"] != code_identity():
            return None
        if _tree_stamps(tree, record_dirs(doc), keep=keep) != doc["stamps"]:
            return None
        for rel, sha in doc["racy"].items():
            try:
                if tree.sha256(tuple(rel.split("/"))) != sha:
                    return None
            except OSError:
                return None
        return stale
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def record_dirs(doc: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """The record's files by directory (names sorted); a malformed record raises
    TypeError or ValueError."""
    out = []
    for d, names in doc["dirs"]:
        if not isinstance(d, str) or not isinstance(names, str):
            raise TypeError("dirs")
        out.append((d, names.split("\0")))
    return out


def record_names(dirs: Sequence[tuple[str, list[str]]]) -> list[str]:
    return [p + n for d, ns in dirs for p in (f"{d}/" if d else "",) for n in ns]


def unchanged(site_path: Path, target: Path, *, need_verified: bool = False) -> \
        tuple[PublishReport, list[str]] | None:
    """The report of a publish that would change nothing, or None: publish in full."""
    target = Path(target)
    doc = read_record(site_path, target, need_verified=need_verified)
    if doc is None:
        return None
    try:
        with exclusive_lock(store_dir(target) / "lock", f"publishing to {target}"):
            with SafeTree.open(target) as tree:
                if stale_inputs(doc, target, tree) != []:
                    return None
            return unchanged_report(doc, target)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def unchanged_report(doc: dict[str, Any], target: Path) -> tuple[PublishReport, list[str]]:
    """The report and warnings of a publish that changed nothing since ``doc`` was recorded."""
    gen = int(doc["generation"])
    names = record_names(record_dirs(doc))
    return (PublishReport(target, gen, [], names, [], False, previous_generation=gen),
            [str(w) for w in doc["warnings"]])
