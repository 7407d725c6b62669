"""The changes a publish makes, each safe to interrupt: a file written to a temp name in
its directory and renamed over the final one, kept in the content store, removals,
directory syncs between phases, the manifest written atomically, and the cleanup of
what a killed publish left behind.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kbuild.errors import InfraError, KbuildError, UserError
from kbuild.publish.manifest import (
    SHARDS,
    TMP_RE,
    TMP_STEM_BYTES,
    Buckets,
    Manifest,
    Parts,
    ShardCache,
    bucket_of,
    partition,
    render_shard,
    shard_bits,
    stamp,
    store_dir,
)
from kbuild.publish.oserrors import errors_at, os_error
from kbuild.publish.plan import Durability, Plan, Want, exists
from kbuild.publish.safetree import SafeTree
from kbuild.util.files import atomic_write_bytes

_CHUNK = 1 << 20
# util.files.atomic_write_bytes names its temp files through tempfile.mkstemp.
_MANIFEST_TMP_RE = re.compile(r"^\.kbuild-manifest\.json\.[a-z0-9_]{8}\.tmp$")
_LINK_UNSUPPORTED = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP, errno.ENOSYS}


def fsync_file(durable: Durability, role: str) -> bool:
    """Kernels and boot loaders are few and large: fsync them ("payloads", the default).
    Entries are many and small; a torn one after a power cut is rewritten by the
    next publish, which compares content."""
    return durable is True or (durable == "payloads" and role == "payload")


def replace_file(tree: SafeTree, w: Want, target: Path, durable: bool) -> None:
    fd = tree.dir_fd(w.parts[:-1])
    assert fd is not None
    name = w.parts[-1]
    try:    # the path is made only for an error: 50,000 Path objects cost a second
        tmp = _write_temp(fd, name, w, durable)
        try:
            store_object(tree, fd, tmp, w.sha, durable)
            os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=fd)
            raise
    except KbuildError:
        raise
    except OSError as exc:
        raise os_error(exc, tree.path(w.parts), "writing", target) from exc


def tmp_stem(name: str) -> str:
    return os.fsdecode(os.fsencode(name)[:TMP_STEM_BYTES])


def _write_temp(dir_fd: int, name: str, w: Want, durable: bool) -> str:
    while True:
        tmp = f".{tmp_stem(name)}.kbuild-{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600, dir_fd=dir_fd)
            break
        except FileExistsError:
            continue
    try:
        try:
            h = hashlib.sha256()
            if w.data is not None:
                _write_all(fd, w.data)
                h.update(w.data)
            else:
                assert w.source is not None
                with open(w.source, "rb", buffering=0) as src:
                    while block := src.read(_CHUNK):
                        _write_all(fd, block)
                        h.update(block)
            os.fchmod(fd, w.mode)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if h.hexdigest() != w.sha:
            # The manifest must describe what is on disk, not what was there a moment ago.
            raise InfraError(f"{w.relpath} changed while it was being published", path=w.source,
                             hint="wait for the build writing it to finish and publish again")
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    return tmp


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def store_object(tree: SafeTree, dir_fd: int, name: str, sha: str, durable: bool) -> None:
    """Keep the content of ``name`` under objects/<sha> (a hard link, else a copy)."""
    try:
        os.link(name, sha, src_dir_fd=dir_fd, dst_dir_fd=tree.objects_fd, follow_symlinks=False)
        return
    except FileExistsError:
        return
    except OSError as exc:
        if exc.errno not in _LINK_UNSUPPORTED:
            raise
    src_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    tmp = store_dir(tree.target) / "tmp" / f"{sha}.{secrets.token_hex(4)}"
    try:
        with os.fdopen(src_fd, "rb") as src, open(tmp, "xb") as out:
            while block := src.read(_CHUNK):
                out.write(block)
            out.flush()
            if durable:
                os.fsync(out.fileno())
        os.replace(tmp, sha, dst_dir_fd=tree.objects_fd)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def ensure_objects(tree: SafeTree, keeps: list[Want], target: Path, durable: bool) -> None:
    # Normally already stored; this refills a store someone deleted so rollback works.
    stored = set(os.listdir(tree.objects_fd))
    for w in keeps:
        if w.sha not in stored:
            fd = tree.dir_fd(w.parts[:-1])
            assert fd is not None
            with errors_at(tree.path(w.parts), "storing", target):
                store_object(tree, fd, w.parts[-1], w.sha, durable)
            stored.add(w.sha)


def remove_unwanted(tree: SafeTree, plan: Plan, created: list[tuple[str, ...]]) -> set[tuple[str, ...]]:
    """Remove unwanted owned files, then owned directories left empty; return owned dirs."""
    touched: set[tuple[str, ...]] = set()
    for parts, _role, unlink in plan.removes:
        fd = tree.dir_fd(parts[:-1])
        if unlink and fd is not None:
            with errors_at(tree.path(parts), "removing", tree.target), \
                    contextlib.suppress(FileNotFoundError):
                os.unlink(parts[-1], dir_fd=fd)
            touched.add(parts[:-1])
    owned = plan.owned_dirs | set(created)
    for d in sorted(owned - plan.needed_dirs, key=lambda d: (-len(d), d)):
        try:
            fd = tree.dir_fd(d[:-1])
            if fd is None:
                owned.discard(d)
                continue
            # rmdir refuses a non-empty directory, so a foreign file keeps its directory.
            os.rmdir(d[-1], dir_fd=fd)
            tree.forget(d)
            owned.discard(d)
            touched.add(d[:-1])
        except (UserError, NotADirectoryError, FileNotFoundError):
            owned.discard(d)    # it became a link or vanished: no longer ours
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise os_error(exc, tree.path(d), "removing", tree.target) from exc
    sync_dirs(tree, touched)
    return {d for d in owned if exists(tree, d)}


def sync_filesystem(fd: int) -> None:
    """Flush every file of the file system holding ``fd`` to disk: one syncfs(2) costs
    about what one fsync does, where an fsync per entry file costs seconds per thousand."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syncfs(fd) == 0:
            return
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    except AttributeError:      # no syncfs in this C library
        os.sync()


# A stamp is recorded only for a file whose change time is this much older than the
# moment the stamps are taken: a write in the same clock tick would not move it.
_RACY_NS = 100_000_000          # file systems with nanosecond times (the kernel's tick is <= 10 ms)
_RACY_COARSE_NS = 2_000_000_000  # file systems that keep whole seconds (or two)


def stamps_after_sync(tree: SafeTree, plan: Plan, sync: bool = True,
                      seen: dict[str, os.stat_result] | None = None) -> dict[str, str]:
    """Sync the file system, then the stamp of every published file whose content is
    therefore on disk. A later publish trusts a file that still has its stamp without
    reading it; a torn file (power cut before this sync) never got one recorded. Kept
    files are stamped as planning found them (their content was checked then: a change
    since moved their change time, so the next publish reads them). ``seen``: filled with
    every file's lstat as found."""
    assert tree.root_fd is not None
    if sync:                # else the caller fsynced every file it wrote, and kept ones were on disk
        sync_filesystem(tree.root_fd)
    taken = time.time_ns()
    out: dict[str, str] = {}
    found = [(w, w.stat) for w in plan.keeps] + [(w, tree.lstat(w.parts)) for w in plan.writes]
    for w, st in found:
        if st is None:
            continue
        if seen is not None:
            seen[w.relpath] = st
        racy = _RACY_COARSE_NS if st.st_ctime_ns % 1_000_000 == 0 else _RACY_NS
        if st.st_ctime_ns + racy < taken:
            out[w.relpath] = stamp(st)
    return out


def sync_dirs(tree: SafeTree, dirs: set[tuple[str, ...]]) -> None:
    # Directory fsyncs are cheap and order the phases on disk even with durable=False.
    for d in sorted(dirs):
        fd = tree.dir_fd(d)
        if fd is not None:
            os.fsync(fd)


@contextlib.contextmanager
def open_dir(path: Path) -> Iterator[int]:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    with open_dir(path) as fd:
        os.fsync(fd)


def clean_stale_temps(tree: SafeTree, live: dict[str, Any] | None, target: Path) -> None:
    """Delete temp files a killed publish left; only names kbuild itself would make."""
    if tree.root_fd is None:
        return
    pending = (live or {}).get("pending") or {}
    stems: dict[tuple[str, ...], set[str]] = {}
    for rel in pending.get("write", {}):
        parts = tuple(rel.split("/"))
        stems.setdefault(parts[:-1], set()).add(tmp_stem(parts[-1]))
    for d, names in stems.items():
        try:
            fd = tree.dir_fd(d)
        except UserError:
            continue    # the plan reports the link properly
        if fd is None:
            continue
        for entry in os.listdir(fd):
            m = TMP_RE.match(entry)
            if m and m["stem"] in names:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry, dir_fd=fd)
    for entry in os.listdir(tree.root_fd):
        if _MANIFEST_TMP_RE.match(entry):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry, dir_fd=tree.root_fd)
    for sub in ("tmp", "generations", SHARDS):
        for p in (store_dir(target) / sub).iterdir():
            if sub == "tmp" or p.name.endswith(".tmp"):
                p.unlink(missing_ok=True)


def write_manifest(path: Path, text: str, tree: SafeTree | None) -> None:
    with errors_at(path, "writing", path.parent):
        atomic_write_bytes(path, (text + "\n").encode())
        if tree is not None and tree.root_fd is not None:
            os.fsync(tree.root_fd)   # atomic_write_bytes syncs the file, not the rename


# Up to this many new shards are fsynced one by one; more (a first publish of a large
# site) are synced by one syncfs(2).
_FSYNC_SHARDS_UP_TO = 8


def store_shards(target: Path, files: dict[str, Any], stamps: dict[str, Any] | None,
                 reuse: list[Manifest], cache: ShardCache) -> Manifest:
    """Write the shards of a manifest whose entries are ``files`` and ``stamps``
    (manifest.py's format 2) and return the document's ``files``, ``stamps``,
    ``shard_bits``, ``shards`` (bucket -> digest) and ``parts``. A bucket whose entries equal those of
    a shard of a manifest in ``reuse`` (the live one) is not encoded again. Every new
    shard is on disk, complete, under its final name when this returns: it is written to
    a temporary name, synced, then renamed, and the directory synced."""
    live = next((m for m in reuse if m.parts is not None), None)
    bits = shard_bits(len(files), None if live is None else live.get("shard_bits"))
    buckets = _changed_buckets(files, stamps, live, bits) if live is not None else None
    if buckets is None:
        buckets = partition(files, stamps, bits)
    sdir = store_dir(target) / SHARDS
    sdir.mkdir(exist_ok=True)
    digests: dict[str, str] = {}
    parts: Parts = {}
    new: dict[str, bytes] = {}
    for key, (fb, sb) in sorted(buckets.items()):
        digest = None
        for m in reuse:
            old = (m.parts or {}).get(key) if m.get("shard_bits") == bits else None
            if old is not None and old[1] == fb and old[2] == sb and (sdir / f"{old[0]}.json").is_file():
                digest = old[0]
                break
        if digest is None:
            raw = render_shard(fb, sb)
            digest = hashlib.sha256(raw).hexdigest()
            if not _complete(sdir / f"{digest}.json", len(raw)):
                new[digest] = raw
        digests[key] = digest
        parts[key] = (digest, fb, sb)
        cache[digest] = (fb, sb)
    write_shards(sdir, new)
    doc = Manifest(files=files)
    if stamps is not None:
        doc["stamps"] = stamps
    doc["shard_bits"] = bits
    doc["shards"] = digests
    doc.parts = parts
    return doc


def write_shards(sdir: Path, new: dict[str, bytes]) -> None:
    """Put each shard (digest -> bytes) in ``sdir`` under its final name, complete: written
    to a temporary name, synced, renamed; then the directory is synced."""
    if not new:
        return
    with errors_at(sdir, "writing", sdir), open_dir(sdir) as fd:
        temps: list[tuple[str, str]] = []
        each = len(new) <= _FSYNC_SHARDS_UP_TO
        try:
            for digest, raw in new.items():
                tmp = f".{digest}.json.{secrets.token_hex(4)}.tmp"
                out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                              | os.O_CLOEXEC, 0o644, dir_fd=fd)
                temps.append((tmp, f"{digest}.json"))
                try:
                    _write_all(out, raw)
                    if each:
                        os.fsync(out)
                finally:
                    os.close(out)
            if not each:
                sync_filesystem(fd)
            while temps:
                tmp, name = temps[-1]
                os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
                temps.pop()
        finally:
            for tmp, _name in temps:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=fd)
        os.fsync(fd)


def _changed_buckets(files: dict[str, Any], stamps: dict[str, Any] | None, live: Manifest,
                     bits: int) -> Buckets | None:
    """``files`` and ``stamps`` by bucket, as :func:`partition` makes them, from the live
    manifest's buckets: only the buckets of the paths whose entry or stamp differs are
    made again (one host changed among 50,000: two, instead of a pass over 100,000
    paths). None when the live manifest is bucketed otherwise."""
    parts = live.parts
    lfiles, lstamps = live["files"], live.get("stamps")
    if parts is None or live.get("shard_bits") != bits or (stamps is None) != (lstamps is None):
        return None
    get = lfiles.get
    dirty = {rel for rel, e in files.items() if get(rel) != e}
    dirty.update(lfiles.keys() - files.keys())
    if stamps is not None and lstamps is not None:
        sget = lstamps.get
        dirty.update(rel for rel, v in stamps.items() if sget(rel) != v)
        dirty.update(lstamps.keys() - stamps.keys())
    if len(dirty) > len(files) // 4 + 16:      # (the first publish after a cold one)
        return None
    by_key: dict[str, list[str]] = {}
    for rel in dirty:
        by_key.setdefault(bucket_of(rel, bits), []).append(rel)
    out = {k: (f, s) for k, (_digest, f, s) in parts.items() if k not in by_key}
    for key, rels in by_key.items():
        old = parts.get(key)
        fb = dict(old[1]) if old else {}
        sb = None if stamps is None else dict((old[2] or {}) if old else {})
        for rel in rels:
            if rel in files:
                fb[rel] = files[rel]
            else:
                fb.pop(rel, None)
            if sb is not None and stamps is not None:
                if rel in stamps:
                    sb[rel] = stamps[rel]
                else:
                    sb.pop(rel, None)
        if fb:
            out[key] = (fb, sb)
    return out


def _complete(path: Path, size: int) -> bool:
    """A shard of this name is already there (a kept generation's): it was synced before
    it got its name, and its digest is checked whenever it is read."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return st.st_size == size and (st.st_mode & 0o170000) == 0o100000
