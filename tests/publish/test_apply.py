"""Tests for kbuild.publish, on real files (tmp_path, inotify, real processes and signals)."""
from __future__ import annotations

import ctypes
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import signal
import stat
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kbuild.errors import InfraError, UserError
from kbuild.publish.apply import publish, rollback
from kbuild.publish.manifest import MANIFEST_NAME, generations, read_manifest
from kbuild.publish.plan import PublishReport, TreeFile
from kbuild.util.files import exclusive_lock

FORK = multiprocessing.get_context("fork")
TMP_RE = re.compile(r"^\..+\.kbuild-[0-9a-f]{8}\.tmp$")


# --- helpers -------------------------------------------------------------------------------

def tf(rel: str, data: bytes | str, role: str = "entry", **kw: Any) -> TreeFile:
    return TreeFile(rel, data=data.encode() if isinstance(data, str) else data, role=role, **kw)


def tree_files(target: Path) -> dict[str, tuple[bytes, int]]:
    """Every regular file and link outside kbuild's bookkeeping: relpath -> (content, mode)."""
    out: dict[str, tuple[bytes, int]] = {}
    for dirpath, dirnames, filenames in os.walk(target):
        rel_dir = Path(dirpath).relative_to(target)
        if rel_dir == Path("."):
            dirnames[:] = [d for d in dirnames if d != ".kbuild"]
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            rel = (rel_dir / name).as_posix()
            if rel == MANIFEST_NAME:
                continue
            p = Path(dirpath, name)
            if p.is_symlink():
                out[rel] = (b"->" + os.fsencode(os.readlink(p)), 0)
            else:
                out[rel] = (p.read_bytes(), stat.S_IMODE(p.lstat().st_mode))
    return out


def full_snapshot(target: Path) -> dict[str, tuple[int, int, int, bytes]]:
    """Everything under target incl. .kbuild, with inode and mtime: for 'nothing changed'."""
    out = {}
    for p in sorted(target.rglob("*")):
        st = p.lstat()
        data = p.read_bytes() if stat.S_ISREG(st.st_mode) else b""
        out[p.relative_to(target).as_posix()] = (st.st_ino, st.st_mtime_ns, st.st_mode, data)
    return out


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def kbuild_temps(target: Path) -> list[Path]:
    return [p for p in target.rglob("*")
            if TMP_RE.match(p.name) or (p.name.endswith(".tmp") and ".kbuild" in p.parts)]


def assert_manifest_matches(target: Path, foreign: set[str] = frozenset()) -> dict[str, Any]:
    """The live manifest is complete and lists exactly kbuild's files, as they are on disk."""
    doc = read_manifest(target)
    assert doc is not None and "pending" not in doc
    on_disk = tree_files(target)
    owned = {rel: v for rel, v in on_disk.items() if rel not in foreign}
    assert set(owned) == set(doc["files"])
    for rel, (data, mode) in owned.items():
        e = doc["files"][rel]
        assert (e["sha256"], e["size"], int(e["mode"], 8)) == (sha(data), len(data), mode), rel
    assert [p for p in kbuild_temps(target) if p.relative_to(target).as_posix() not in foreign] == []
    assert (target / ".kbuild" / "generations" / f"{doc['generation']}.json").is_file()
    return doc


def assert_manifest_honest(target: Path) -> None:
    """Even mid-publish, every recorded file holds its old or its pending content."""
    doc = read_manifest(target)
    assert doc is not None
    pending = doc.get("pending") or {"write": {}, "remove": {}}
    on_disk = tree_files(target)
    for rel in set(doc["files"]) | set(pending["write"]):
        allowed = {e["sha256"] for e in (doc["files"].get(rel), pending["write"].get(rel)) if e}
        if rel in on_disk:
            assert sha(on_disk[rel][0]) in allowed, rel
        else:
            assert rel not in doc["files"] or rel in pending["remove"], f"{rel} lost"


def numbered(prefix: str, n: int, content: str, role: str = "entry") -> list[TreeFile]:
    return [tf(f"{prefix}{i:04d}", f"{content} {i}\n", role) for i in range(n)]


# --- inotify, to watch the order in which names appear ---------------------------------------

IN_MODIFY, IN_CLOSE_WRITE, IN_MOVED_FROM, IN_MOVED_TO = 0x2, 0x8, 0x40, 0x80
IN_CREATE, IN_DELETE = 0x100, 0x200


class Inotify:
    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0
        self.dirs: dict[int, str] = {}

    def watch(self, path: Path, label: str) -> None:
        mask = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
        wd = self.libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
        assert wd >= 0
        self.dirs[wd] = label

    def events(self) -> list[tuple[str, int, int, str]]:
        out = []
        while True:
            try:
                buf = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return out
            i = 0
            while i < len(buf):
                wd, mask, cookie, length = struct.unpack_from("iIII", buf, i)
                name = buf[i + 16:i + 16 + length].rstrip(b"\0").decode()
                out.append((self.dirs[wd], mask, cookie, name))
                i += 16 + length

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
def inotify() -> Iterator[Inotify]:
    ino = Inotify()
    yield ino
    ino.close()


# --- 1. atomic per file ------------------------------------------------------------------------

def test_final_names_only_appear_by_rename_of_a_synced_temp_in_the_same_directory(
        tmp_path: Path, inotify: Inotify) -> None:
    publish([tf("images/k1", "old kernel", "payload"), tf("cfg/default", "old entry")], tmp_path)
    inotify.watch(tmp_path / "images", "images")
    inotify.watch(tmp_path / "cfg", "cfg")

    publish([tf("images/k1", "new kernel", "payload"), tf("images/k2", "k2", "payload"),
             tf("cfg/default", "new entry"), tf("cfg/new", "x")], tmp_path)

    events = inotify.events()
    finals = {"k1", "k2", "default", "new"}
    moved_from = {cookie: (d, name) for d, mask, cookie, name in events if mask & IN_MOVED_FROM}
    renamed = []
    for d, mask, cookie, name in events:
        if name in finals:
            # No create/modify/close-write on a final name: a reader never sees it half written.
            assert mask & (IN_MOVED_TO | IN_DELETE), (d, hex(mask), name)
        if mask & IN_MOVED_TO:
            src_dir, src = moved_from[cookie]
            assert src_dir == d and re.fullmatch(rf"\.{re.escape(name)}\.kbuild-[0-9a-f]{{8}}\.tmp", src)
            renamed.append(name)
        if mask & IN_CREATE:
            assert TMP_RE.match(name), name
    assert sorted(renamed) == sorted(finals)
    assert tree_files(tmp_path)["images/k1"] == (b"new kernel", 0o644)


def test_a_concurrent_reader_sees_only_whole_old_or_whole_new_content(tmp_path: Path) -> None:
    a, b = b"A" * (1 << 20), b"B" * (3 << 19)
    publish([tf("big", a, "payload")], tmp_path, durable=False)
    seen: set[bytes] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            data = (tmp_path / "big").read_bytes()
            seen.add(data[:1] + str(len(data)).encode())
            assert data in (a, b)

    t = threading.Thread(target=reader)
    t.start()
    for i in range(30):
        publish([tf("big", b if i % 2 == 0 else a, "payload")], tmp_path, durable=False)
    stop.set()
    t.join()
    assert seen <= {b"A" + str(len(a)).encode(), b"B" + str(len(b)).encode()}


# --- 2. order, empty directories ---------------------------------------------------------------

def test_payloads_then_entries_then_removals_then_manifest(tmp_path: Path, inotify: Inotify) -> None:
    publish([tf("images/k-old", "k-old", "payload"), tf("images/shim", "shim 1", "payload"),
             tf("cfg/a", "a1"), tf("cfg/zz-old", "points at k-old")], tmp_path)
    for label in ("images", "cfg"):
        inotify.watch(tmp_path / label, label)
    inotify.watch(tmp_path, "root")

    report = publish([tf("cfg/a", "a2"), tf("cfg/b", "points at k-new"),
                      tf("images/shim", "shim 2", "payload"), tf("images/k-new", "k-new", "payload")],
                     tmp_path)

    steps = [(d, "put" if mask & IN_MOVED_TO else "del", name) for d, mask, _, name in inotify.events()
             if mask & (IN_MOVED_TO | IN_DELETE) and not TMP_RE.match(name)]
    assert steps == [
        ("root", "put", MANIFEST_NAME),          # records the pending change first
        ("images", "put", "k-new"), ("images", "put", "shim"),
        ("cfg", "put", "a"), ("cfg", "put", "b"),
        ("cfg", "del", "zz-old"), ("images", "del", "k-old"),   # old entries before old payloads
        ("root", "put", MANIFEST_NAME),          # the completed manifest last
    ]
    assert report.written == ["images/k-new", "images/shim", "cfg/a", "cfg/b"]
    assert report.removed == ["cfg/zz-old", "images/k-old"]


def test_removes_empty_directories_it_created_but_not_foreign_or_preexisting_ones(
        tmp_path: Path) -> None:
    (tmp_path / "preexisting").mkdir()
    publish([tf("gone/deep/er/f", "1"), tf("shared/f", "1"), tf("preexisting/f", "1"),
             tf("keep/f", "1")], tmp_path)
    (tmp_path / "shared" / "admin-notes.txt").write_text("mine")

    report = publish([tf("keep/f", "1")], tmp_path)

    assert sorted(report.removed) == ["gone/deep/er/f", "preexisting/f", "shared/f"]
    assert not (tmp_path / "gone").exists()
    assert (tmp_path / "shared" / "admin-notes.txt").read_text() == "mine"
    assert (tmp_path / "preexisting").is_dir()
    doc = assert_manifest_matches(tmp_path, foreign={"shared/admin-notes.txt"})
    assert doc["dirs"] == ["keep", "shared"]    # still kbuild's: removed once it is empty
    (tmp_path / "shared" / "admin-notes.txt").unlink()
    publish([tf("keep/f", "2")], tmp_path)
    assert not (tmp_path / "shared").exists()


# --- 3. ownership, links, relpaths --------------------------------------------------------------

def test_foreign_files_are_never_touched(tmp_path: Path) -> None:
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "hand-written").write_text("admin")
    (tmp_path / "memtest86").write_bytes(b"\x7fELF")
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in
              (tmp_path / "cfg" / "hand-written", tmp_path / "memtest86")}
    publish([tf("cfg/default", "1"), tf("k", "1", "payload")], tmp_path)
    publish([tf("cfg/other", "2")], tmp_path)
    publish([], tmp_path)
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in before} == before
    assert tree_files(tmp_path) == {"cfg/hand-written": (b"admin", 0o644), "memtest86": (b"\x7fELF", 0o644)}
    assert assert_manifest_matches(tmp_path, {"cfg/hand-written", "memtest86"})["files"] == {}


def test_a_wanted_path_taken_by_a_foreign_file_is_refused_before_any_change(tmp_path: Path) -> None:
    publish([tf("k", "1", "payload")], tmp_path)
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "default").write_text("admin's")
    before = full_snapshot(tmp_path)
    with pytest.raises(UserError) as err:
        publish([tf("k", "2", "payload"), tf("cfg/default", "ours")], tmp_path)
    assert str(tmp_path / "cfg" / "default") in str(err.value)
    assert "did not write it" in str(err.value) and "fix:" in str(err.value)
    assert full_snapshot(tmp_path) == before


def test_refuses_to_write_through_a_linked_directory(tmp_path: Path) -> None:
    target, elsewhere = tmp_path / "tftp", tmp_path / "elsewhere"
    target.mkdir()
    elsewhere.mkdir()
    (target / "images").symlink_to(elsewhere)
    with pytest.raises(UserError) as err:
        publish([tf("images/vmlinuz", "k", "payload")], target)
    assert str(target / "images") in str(err.value) and "symbolic link" in str(err.value)
    assert list(elsewhere.iterdir()) == []
    assert read_manifest(target) is None


def test_refuses_to_replace_a_link_even_at_an_owned_path(tmp_path: Path) -> None:
    target, outside = tmp_path / "tftp", tmp_path / "outside"
    target.mkdir()
    outside.write_text("precious")
    publish([tf("cfg/default", "1")], target)
    (target / "cfg" / "default").unlink()
    (target / "cfg" / "default").symlink_to(outside)
    with pytest.raises(UserError, match="symbolic link"):
        publish([tf("cfg/default", "2")], target)
    assert outside.read_text() == "precious"


def test_removal_never_follows_a_link_out_of_the_target(tmp_path: Path) -> None:
    target, outside = tmp_path / "tftp", tmp_path / "outside"
    target.mkdir()
    publish([tf("images/k", "k", "payload"), tf("cfg", "e")], target)
    shutil.move(target / "images", outside)
    (target / "images").symlink_to(outside)
    with pytest.raises(UserError) as err:
        publish([tf("cfg", "e")], target)
    assert str(target / "images") in str(err.value)
    assert (outside / "k").read_text() == "k"


@pytest.mark.parametrize("rel", ["/etc/passwd", "../x", "a/../b", "a//b", "", "./a", "a/",
                                 ".kbuild/objects/x", MANIFEST_NAME, "a/.b.kbuild-0123abcd.tmp",
                                 "x" * 256])
def test_bad_relpaths_are_user_errors(tmp_path: Path, rel: str) -> None:
    with pytest.raises(UserError, match="relpath"):
        publish([tf(rel, "x")], tmp_path / "t")
    assert not (tmp_path / "t").exists()


def test_duplicate_relpaths_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="more than once: a/b"):
        publish([tf("a/b", "1"), tf("c", "1"), tf("a/b", "2")], tmp_path)


@pytest.mark.parametrize("bad", [
    TreeFile("x"), TreeFile("x", data=b"1", source=Path("/etc/hostname")),
    TreeFile("x", data=b"1", role="kernel"), TreeFile("x", data=b"1", mode=0o10000),
    TreeFile("x", data=b"1", meta={"n": 1}),  # type: ignore[dict-item]
])
def test_malformed_tree_files_are_user_errors(tmp_path: Path, bad: TreeFile) -> None:
    with pytest.raises(UserError) as err:
        publish([bad], tmp_path / "t")
    assert str(err.value).startswith("error: x: ") and "\n  fix: " in str(err.value)
    assert not (tmp_path / "t").exists()


def test_a_path_wanted_as_file_and_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="both as a file and as a directory"):
        publish([tf("a", "1"), tf("a/b", "2")], tmp_path)


def test_missing_source_is_a_user_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        publish([TreeFile("k", source=tmp_path / "no-such-vmlinuz", role="payload")], tmp_path / "t")
    assert "no-such-vmlinuz" in str(err.value) and "build it first" in str(err.value)


# --- 4. manifest ------------------------------------------------------------------------------

def test_manifest_lists_every_owned_file_with_digest_size_mode_role_and_meta(tmp_path: Path) -> None:
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"\x00kernel" * 1000)
    target = tmp_path / "tftp"
    meta = {"kernel_release": "6.1.0-kb1", "config_sha256": "ab" * 32, "profile": "dom0"}
    publish([TreeFile("dom0/vmlinuz", source=kernel, role="payload", meta=meta),
             tf("pxelinux.cfg/default", "DEFAULT dom0\n", mode=0o640, meta={"host": "h1"})], target)

    doc = assert_manifest_matches(target)
    assert doc["generation"] == 1 and doc["previous"] is None and doc["format"] == 2
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["created"])
    assert doc["files"]["dom0/vmlinuz"] == {"sha256": sha(kernel.read_bytes()), "size": 7000,
                                            "mode": "0644", "role": "payload", "meta": meta}
    assert doc["files"]["pxelinux.cfg/default"]["mode"] == "0640"
    assert (target / "pxelinux.cfg" / "default").stat().st_mode & 0o777 == 0o640
    # The live manifest is plain JSON and equals the generation's own copy; the entries
    # are in its one shard (two files), named by the digest of its bytes.
    live = json.loads((target / MANIFEST_NAME).read_text())
    assert live == json.loads((target / ".kbuild" / "generations" / "1.json").read_text())
    assert "files" not in live and live["shard_bits"] == 0 and len(live["shards"]) == 1
    shard = (target / ".kbuild" / "shards" / f"{live['shards']['0']}.json").read_bytes()
    assert sha(shard) == live["shards"]["0"] and json.loads(shard)["files"] == doc["files"]


def test_a_tampered_manifest_cannot_make_kbuild_delete_outside_the_target(tmp_path: Path) -> None:
    target, victim = tmp_path / "tftp", tmp_path / "victim"
    victim.write_text("keep me")
    publish([tf("a", "1")], target)
    live = json.loads((target / MANIFEST_NAME).read_text())
    shards = target / ".kbuild" / "shards"
    # a shard rewritten and renamed to its new digest, the manifest pointed at it
    shard = json.loads((shards / f"{live['shards']['0']}.json").read_text())
    shard["files"]["../victim"] = shard["files"]["a"]
    raw = json.dumps(shard).encode()
    (shards / f"{sha(raw)}.json").write_bytes(raw)
    (target / MANIFEST_NAME).write_text(json.dumps({**live, "shards": {"0": sha(raw)}}))
    with pytest.raises(UserError, match="is not a kbuild manifest: bad relpath '../victim'"):
        publish([], target)
    # and a format 1 manifest (the files inline), as kbuild wrote before shards
    (target / MANIFEST_NAME).write_text(json.dumps(
        {**{k: v for k, v in live.items() if k not in ("shards", "shard_bits")}, "format": 1,
         "files": shard["files"]}))
    with pytest.raises(UserError, match="is not a kbuild manifest: bad relpath '../victim'"):
        publish([], target)
    assert victim.read_text() == "keep me"


def test_keep_must_be_at_least_one(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="keep must be"):
        publish([tf("a", "1")], tmp_path, keep=0)


def test_a_corrupt_manifest_is_a_user_error_with_a_fix(tmp_path: Path) -> None:
    publish([tf("a", "1")], tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("{ half")
    with pytest.raises(UserError) as err:
        publish([tf("a", "2")], tmp_path)
    assert str(tmp_path / MANIFEST_NAME) in str(err.value) and "restore it" in str(err.value)
    assert (tmp_path / "a").read_text() == "1"


# --- 5. incremental ---------------------------------------------------------------------------

def test_unchanged_files_keep_inode_and_mtime_and_no_generation_is_made(tmp_path: Path) -> None:
    def stats() -> dict[str, tuple[int, int]]:
        return {rel: ((tmp_path / rel).stat().st_ino, (tmp_path / rel).stat().st_mtime_ns)
                for rel in [*tree_files(tmp_path), MANIFEST_NAME]}

    files = numbered("cfg/host-", 20, "v1") + [tf("k", "kernel", "payload")]
    publish(files, tmp_path)
    before = stats()
    time.sleep(0.01)

    again = publish(files, tmp_path)
    assert (again.generation, again.previous_generation, again.written) == (1, 1, [])
    assert "nothing to do" in again.summary()
    assert stats() == before
    assert generations(tmp_path) == [1]

    files[3] = tf("cfg/host-0003", "v2")
    one = publish(files, tmp_path)
    assert (one.generation, one.written, len(one.unchanged)) == (2, ["cfg/host-0003"], 20)
    after = stats()
    assert {rel for rel in before if before[rel] != after[rel]} == {"cfg/host-0003", MANIFEST_NAME}


def test_a_mode_change_alone_is_written_and_recorded(tmp_path: Path) -> None:
    publish([tf("boot.sh", "#!/bin/sh\n")], tmp_path)
    report = publish([tf("boot.sh", "#!/bin/sh\n", mode=0o755)], tmp_path)
    assert report.written == ["boot.sh"]
    assert (tmp_path / "boot.sh").stat().st_mode & 0o777 == 0o755
    assert assert_manifest_matches(tmp_path)["files"]["boot.sh"]["mode"] == "0755"


def test_an_owned_file_edited_by_hand_is_put_back(tmp_path: Path) -> None:
    publish([tf("cfg/default", "ours")], tmp_path)
    with open(tmp_path / "cfg" / "default", "a") as f:
        f.write(" + hand edit")
    report = publish([tf("cfg/default", "ours")], tmp_path)
    assert report.written == ["cfg/default"]
    assert (tmp_path / "cfg" / "default").read_text() == "ours"


def test_a_meta_change_alone_makes_a_generation_without_touching_files(tmp_path: Path) -> None:
    publish([tf("k", "x", "payload", meta={"profile": "a"})], tmp_path)
    ino = (tmp_path / "k").stat().st_ino
    report = publish([tf("k", "x", "payload", meta={"profile": "b"})], tmp_path)
    assert (report.generation, report.written, report.unchanged) == (2, [], ["k"])
    assert (tmp_path / "k").stat().st_ino == ino
    assert assert_manifest_matches(tmp_path)["files"]["k"]["meta"] == {"profile": "b"}


# --- 6. generations and rollback ----------------------------------------------------------------

def test_rollback_restores_the_tree_byte_for_byte(tmp_path: Path) -> None:
    (tmp_path / "foreign").write_text("not ours")
    gen1 = [tf("images/k-1", b"\x00" * 5000 + b"k1", "payload"), tf("images/shim", "s", "payload"),
            tf("cfg/default", "k-1"), tf("cfg/extra", "old", mode=0o600), tf("only1/x", "x")]
    publish(gen1, tmp_path)
    before, gen1_files = tree_files(tmp_path), (read_manifest(tmp_path) or {})["files"]
    publish([tf("images/k-2", "k2", "payload"), tf("images/shim", "s", "payload"),
             tf("cfg/default", "k-2"), tf("cfg/extra", "new", mode=0o644), tf("only2/y", "y")], tmp_path)
    assert tree_files(tmp_path) != before

    report = rollback(tmp_path)

    assert tree_files(tmp_path) == before
    doc = assert_manifest_matches(tmp_path, foreign={"foreign"})
    assert (report.generation, report.restored_from, doc["restored_from"]) == (3, 1, 1)
    assert doc["files"] == gen1_files and doc["previous"] is None
    assert not (tmp_path / "only2").exists()
    assert "rolled" in report.summary() and "generation 1" in report.summary()


def test_repeated_rollbacks_walk_back_and_then_stop_with_a_clear_error(tmp_path: Path) -> None:
    for v in ("1", "2", "3"):
        publish([tf("k", v, "payload")], tmp_path, keep=3)
    assert generations(tmp_path) == [1, 2, 3]
    assert rollback(tmp_path).generation == 4
    assert (tmp_path / "k").read_text() == "2"
    assert rollback(tmp_path).generation == 5
    assert (tmp_path / "k").read_text() == "1"
    with pytest.raises(UserError, match="no previous generation"):
        rollback(tmp_path)
    assert (tmp_path / "k").read_text() == "1"
    assert_manifest_matches(tmp_path)


def test_rollback_with_nothing_published_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="nothing to roll back"):
        rollback(tmp_path)


def test_rollback_beyond_kept_generations_says_to_keep_more(tmp_path: Path) -> None:
    publish([tf("k", "1", "payload")], tmp_path, keep=1)
    publish([tf("k", "2", "payload")], tmp_path, keep=1)
    assert generations(tmp_path) == [2]
    with pytest.raises(UserError, match="larger keep"):
        rollback(tmp_path)


def test_old_generations_and_their_objects_are_collected(tmp_path: Path) -> None:
    for v in range(1, 6):
        publish([tf("k", f"kernel {v}", "payload"), tf("cfg", "same")], tmp_path, keep=2)
    assert generations(tmp_path) == [4, 5]
    objects = sorted(p.name for p in (tmp_path / ".kbuild" / "objects").iterdir())
    assert objects == sorted({sha(b"kernel 4"), sha(b"kernel 5"), sha(b"same")})


def test_objects_are_hard_links_to_published_files(tmp_path: Path) -> None:
    publish([tf("k", "kernel", "payload")], tmp_path)
    obj = tmp_path / ".kbuild" / "objects" / sha(b"kernel")
    assert obj.stat().st_ino == (tmp_path / "k").stat().st_ino


def test_a_lost_store_is_refilled_so_rollback_works_again(tmp_path: Path) -> None:
    publish([tf("k", "1", "payload")], tmp_path)
    shutil.rmtree(tmp_path / ".kbuild" / "objects")
    (tmp_path / ".kbuild" / "objects").mkdir()
    publish([tf("k", "1", "payload"), tf("cfg", "c")], tmp_path)
    publish([tf("k", "2", "payload")], tmp_path)
    rollback(tmp_path)
    assert tree_files(tmp_path) == {"k": (b"1", 0o644), "cfg": (b"c", 0o644)}


# --- 7. lock ------------------------------------------------------------------------------------

def _publish_child(target: str, prefix: str, n: int, content: str, start: Any = None) -> None:
    if start is not None:
        start.wait()
    publish(numbered(prefix, n, content), Path(target))


def _hold_lock(target: str, held: Any, release: Any) -> None:
    with exclusive_lock(Path(target) / ".kbuild" / "lock", "test"):
        held.set()
        release.wait(30)


def test_two_concurrent_publishers_leave_exactly_one_set(tmp_path: Path) -> None:
    start = FORK.Barrier(2)
    # Overlapping relpaths with different contents: interleaving would mix them.
    a = FORK.Process(target=_publish_child, args=(str(tmp_path), "f", 300, "A", start))
    b = FORK.Process(target=_publish_child, args=(str(tmp_path), "f", 250, "B", start))
    a.start()
    b.start()
    a.join(60)
    b.join(60)
    assert (a.exitcode, b.exitcode) == (0, 0)

    doc = assert_manifest_matches(tmp_path)
    got = tree_files(tmp_path)
    want_a = {f.relpath: (f.data, 0o644) for f in numbered("f", 300, "A")}
    want_b = {f.relpath: (f.data, 0o644) for f in numbered("f", 250, "B")}
    assert got in (want_a, want_b)
    assert generations(tmp_path) == [1, 2] and doc["generation"] == 2


def test_publish_waits_for_the_lock(tmp_path: Path) -> None:
    held, release = FORK.Event(), FORK.Event()
    holder = FORK.Process(target=_hold_lock, args=(str(tmp_path), held, release))
    holder.start()
    assert held.wait(10)
    pub = FORK.Process(target=_publish_child, args=(str(tmp_path), "f", 3, "x"))
    pub.start()
    time.sleep(0.5)
    assert pub.is_alive() and read_manifest(tmp_path) is None
    release.set()
    pub.join(30)
    holder.join(30)
    assert pub.exitcode == 0
    assert len(assert_manifest_matches(tmp_path)["files"]) == 3


# --- 8. dry run ---------------------------------------------------------------------------------

def test_dry_run_on_a_new_target_creates_nothing(tmp_path: Path) -> None:
    report = publish([tf("cfg/a", "1"), tf("k", "2", "payload")], tmp_path / "tftp", dry_run=True)
    assert not (tmp_path / "tftp").exists()
    assert (report.dry_run, report.generation, report.written) == (True, 1, ["k", "cfg/a"])
    assert report.summary().startswith("dry run:")


def test_dry_run_changes_nothing_and_reports_what_would_change(tmp_path: Path) -> None:
    publish([tf("cfg/a", "1"), tf("cfg/b", "1"), tf("old/k", "k", "payload")], tmp_path)
    before = full_snapshot(tmp_path)
    report = publish([tf("cfg/a", "1"), tf("cfg/b", "2"), tf("new", "n")], tmp_path, dry_run=True)
    assert full_snapshot(tmp_path) == before
    assert (report.written, report.unchanged, report.removed) == (["cfg/b", "new"], ["cfg/a"], ["old/k"])
    assert (report.generation, report.previous_generation) == (2, 1)


def test_dry_run_needs_no_store_directory(tmp_path: Path) -> None:
    (tmp_path / "foreign").write_text("x")
    publish([tf("a", "1")], tmp_path, dry_run=True)
    assert sorted(os.listdir(tmp_path)) == ["foreign"]


# --- 9. crash safety --------------------------------------------------------------------------

def _publish_many_child(target: str, n: int, content: str, durable: bool = True) -> None:
    files = [tf(f"images/k{i:04d}", f"{content} kernel {i}\n" * 50, "payload") for i in range(n)]
    files += [tf(f"cfg/host-{i:04d}", f"{content} entry {i}\n") for i in range(0, n, 2)]
    publish(files, Path(target), durable=durable)


def _new_files(target: Path) -> int:
    """How many of the 200 kernels that only the second publish adds are in place."""
    names = os.listdir(target / "images")
    return sum(1 for n in names if re.fullmatch(r"k\d{4}", n) and int(n[1:]) >= 300)


@pytest.mark.parametrize("kill_after", [1, 100, 200])
def test_sigkill_mid_publish_then_the_next_publish_recovers(tmp_path: Path, kill_after: int) -> None:
    foreign = {"cfg/admin": (b"hands off", 0o644), "images/.vmlinuz.kbuild-bak.tmp": (b"b", 0o644),
               "images/.k0001.kbuild-0123abcd.tmp.keep": (b"c", 0o644)}
    _publish_many_child(str(tmp_path), 300, "v1", durable=False)
    for rel, (data, _) in foreign.items():
        (tmp_path / rel).write_bytes(data)

    child = FORK.Process(target=_publish_many_child, args=(str(tmp_path), 500, "v2"))
    child.start()
    deadline = time.monotonic() + 60
    while _new_files(tmp_path) < kill_after and child.is_alive() and time.monotonic() < deadline:
        time.sleep(0.0005)
    child.kill()    # SIGKILL; a no-op if it already finished
    child.join()
    assert child.exitcode in (-signal.SIGKILL, 0)
    assert_manifest_honest(tmp_path)
    if kill_after == 1:
        assert "pending" in (read_manifest(tmp_path) or {}), "the kill came too late to test recovery"

    report = publish(numbered("cfg/host-", 10, "v3"), tmp_path)

    assert_manifest_matches(tmp_path, set(foreign))
    assert {rel: v for rel, v in tree_files(tmp_path).items() if rel in foreign} == foreign
    assert not (tmp_path / "images").exists() or sorted(os.listdir(tmp_path / "images")) == sorted(
        Path(r).name for r in foreign if r.startswith("images/"))
    assert report.generation >= 2


def _publish_big_child(target: str, source: str) -> None:
    publish([TreeFile("boot/initrd.img", source=Path(source), role="payload"),
             tf("boot/grub.cfg", "new")], Path(target))


def test_sigkill_while_a_temp_file_exists_then_the_temp_is_cleaned(tmp_path: Path) -> None:
    target, big = tmp_path / "tftp", tmp_path / "initrd.img"
    with open(big, "wb") as f:
        for _ in range(128):
            f.write(os.urandom(1 << 20))
    publish([tf("boot/initrd.img", "old", "payload"), tf("boot/grub.cfg", "old")], target)
    (target / "boot" / ".other.kbuild-0123abcd.tmp").write_text("foreign look-alike")

    child = FORK.Process(target=_publish_big_child, args=(str(target), str(big)))
    child.start()
    deadline = time.monotonic() + 60
    temps: list[str] = []
    while not temps and time.monotonic() < deadline and child.is_alive():
        temps = [n for n in os.listdir(target / "boot") if n.startswith(".initrd.img.kbuild-")]
    child.kill()
    child.join()
    assert child.exitcode == -signal.SIGKILL
    assert temps and (target / "boot" / temps[0]).exists(), "no temp file caught"
    assert (target / "boot" / "grub.cfg").read_text() == "old"
    assert_manifest_honest(target)

    publish([tf("boot/initrd.img", "newer", "payload"), tf("boot/grub.cfg", "newer")], target)

    assert not (target / "boot" / temps[0]).exists()
    assert (target / "boot" / ".other.kbuild-0123abcd.tmp").read_text() == "foreign look-alike"
    assert_manifest_matches(target, {"boot/.other.kbuild-0123abcd.tmp"})


# --- 10. errors while writing ---------------------------------------------------------------------

def _publish_unprivileged(target: str, out: Any) -> None:
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    try:
        publish([tf("images/k", "k2", "payload"), tf("cfg/e", "e2")], Path(target))
        out.put(("ok", ""))
    except Exception as exc:  # report any failure to the parent verbatim
        out.put((type(exc).__name__, str(exc)))


def test_permission_denied_is_a_user_error_and_the_manifest_stays_honest() -> None:
    # As root, drop to nobody in a child; the target lives outside pytest's 0700 tmp dir.
    base = Path(tempfile.mkdtemp(prefix="kbuild-publish-eacces-"))
    try:
        os.chmod(base, 0o755)
        target = base / "tftp"
        publish([tf("images/k", "k1", "payload"), tf("cfg/e", "e1")], target)
        if os.geteuid() == 0:
            for p in [target, *target.rglob("*")]:
                os.lchown(p, 65534, 65534)
            os.chown(target / "cfg", 0, 0)
        else:
            os.chmod(target / "cfg", 0o555)
        out = FORK.Queue()
        child = FORK.Process(target=_publish_unprivileged, args=(str(target), out))
        child.start()
        kind, message = out.get(timeout=60)
        child.join(30)

        assert kind == "UserError", message
        assert message.startswith(f"{target / 'cfg' / 'e'}: error: permission denied")
        assert f"fix: make {target / 'cfg'} writable" in message
        assert tree_files(target) == {"images/k": (b"k2", 0o644), "cfg/e": (b"e1", 0o644)}
        doc = read_manifest(target)
        assert doc is not None and doc["generation"] == 1 and doc["pending"]["generation"] == 2
        assert_manifest_honest(target)
        assert kbuild_temps(target) == []

        os.chmod(target / "cfg", 0o755)
        publish([tf("images/k", "k2", "payload"), tf("cfg/e", "e2")], target)
        # The number announced as pending is never reused for other content.
        assert assert_manifest_matches(target)["generation"] == 3
    finally:
        shutil.rmtree(base)


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tiny tmpfs to fill up (needs root): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_a_full_disk_is_an_infra_error_and_the_manifest_stays_honest(tiny_fs: Path) -> None:
    target = tiny_fs / "tftp"
    publish([tf("a-small", "s1", "payload"), tf("entry", "e1")], target)
    with pytest.raises(InfraError) as err:
        publish([tf("a-small", b"s2" * 50_000, "payload"), tf("b-big", b"x" * (2 << 20), "payload"),
                 tf("entry", "e2")], target)
    message = str(err.value)
    assert message.startswith(f"{target / 'b-big'}: error: no space left")
    assert "fix: free space" in message
    assert tree_files(target) == {"a-small": (b"s2" * 50_000, 0o644), "entry": (b"e1", 0o644)}
    assert (read_manifest(target) or {})["pending"]["generation"] == 2
    assert_manifest_honest(target)
    assert kbuild_temps(target) == []

    publish([tf("a-small", b"s2" * 50_000, "payload"), tf("entry", "e2")], target)
    assert assert_manifest_matches(target)["generation"] == 3


# --- report -------------------------------------------------------------------------------------

def test_summary_names_what_changed(tmp_path: Path) -> None:
    publish([tf("a", "1"), tf("b", "1")], tmp_path)
    report = publish([tf("a", "2"), *numbered("n", 7, "x")], tmp_path)
    assert isinstance(report, PublishReport)
    text = report.summary()
    assert text.startswith(f"published generation 2 to {tmp_path} (was 1): 8 written, 0 unchanged, "
                           "1 removed")
    assert "(+3 more)" in text and "removed: b" in text
