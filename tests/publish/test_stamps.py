"""A publish trusts a file's stamp (recorded after a sync) instead of reading it, and
only when that is safe: any write, a pending publish or durable=False mean reading."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from kbuild.publish.apply import publish
from kbuild.publish.manifest import MANIFEST_NAME, read_manifest, trusted_stamps
from kbuild.publish.plan import TreeFile
from kbuild.publish.safetree import SafeTree


def tf(rel: str, data: str) -> TreeFile:
    return TreeFile(rel, data=data.encode())


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files a publish reads back to compare (instrumented, not replaced)."""
    seen: list[str] = []
    real = SafeTree.sha256

    def counting(self: SafeTree, parts: tuple[str, ...]) -> str:
        seen.append("/".join(parts))
        return real(self, parts)
    monkeypatch.setattr(SafeTree, "sha256", counting)
    return seen


def _stamped(tmp_path: Path) -> list[TreeFile]:
    """A tree whose files all carry a stamp: written, then (older than the racy window)
    stamped by a publish that only removes a file."""
    files = [tf("cfg/a", "a1"), tf("cfg/b", "b1"), tf("k", "kernel")]
    publish([*files, tf("cfg/old", "x")], tmp_path)
    time.sleep(0.3)
    publish(files, tmp_path)
    assert set((read_manifest(tmp_path) or {})["stamps"]) == {"cfg/a", "cfg/b", "k"}
    return files


def test_a_no_op_publish_reads_no_stamped_file(tmp_path: Path, reads: list[str]) -> None:
    files = _stamped(tmp_path)
    reads.clear()
    report = publish(files, tmp_path)
    assert report.written == [] and reads == []


def test_a_file_changed_within_the_racy_window_gets_no_stamp_and_is_read(
        tmp_path: Path, reads: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from kbuild.publish import writes

    monkeypatch.setattr(writes, "_RACY_NS", 3600 * 10**9)      # every file "just written"
    monkeypatch.setattr(writes, "_RACY_COARSE_NS", 3600 * 10**9)
    files = [tf("cfg/a", "a1"), tf("k", "kernel")]
    publish(files, tmp_path)
    assert (read_manifest(tmp_path) or {})["stamps"] == {}
    reads.clear()
    assert publish(files, tmp_path).written == [] and sorted(reads) == ["cfg/a", "k"]


def test_a_same_size_edit_with_its_mtime_put_back_is_still_rewritten(tmp_path: Path) -> None:
    files = _stamped(tmp_path)
    path = tmp_path / "cfg" / "a"
    st = path.stat()
    time.sleep(0.05)
    path.write_bytes(b"XX")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))    # the change time still moves
    assert publish(files, tmp_path).written == ["cfg/a"]
    assert path.read_bytes() == b"a1"


def test_a_file_replaced_by_another_inode_is_read(tmp_path: Path, reads: list[str]) -> None:
    files = _stamped(tmp_path)
    path = tmp_path / "k"
    st = path.stat()
    (tmp_path / "k.new").write_bytes(b"KERNEL")
    os.utime(tmp_path / "k.new", ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp_path / "k.new", path)
    reads.clear()
    assert publish(files, tmp_path).written == ["k"]
    assert "k" in reads and path.read_bytes() == b"kernel"


def test_no_stamps_without_durability_and_none_trusted_while_pending(tmp_path: Path) -> None:
    publish([tf("a", "1")], tmp_path, durable=False)
    time.sleep(0.3)
    publish([tf("a", "1"), tf("b", "2")], tmp_path, durable=False)
    live = read_manifest(tmp_path) or {}
    assert "stamps" not in live
    assert trusted_stamps({**live, "stamps": {"a": "1:2:3:4:5"}}) == {"a": "1:2:3:4:5"}
    assert trusted_stamps({**live, "stamps": {"a": "1:2:3:4:5"}, "pending": {}}) == {}
    assert trusted_stamps({**live, "stamps": ["a"]}) == {}
    assert (tmp_path / MANIFEST_NAME).read_text().count('"stamps"') == 0


def test_a_small_change_on_a_stamped_tree_fsyncs_its_files_instead_of_syncing_the_file_system(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kbuild.publish import writes

    files = _stamped(tmp_path)
    syncs: list[int] = []
    monkeypatch.setattr(writes, "sync_filesystem", lambda fd: syncs.append(fd))
    files[0] = tf("cfg/a", "a2")
    assert publish(files, tmp_path).written == ["cfg/a"]
    assert syncs == []                   # cfg/a fsynced itself; cfg/b and k were on disk
    files[1] = tf("cfg/b", "b2")
    publish(files, tmp_path, durable=False)
    assert syncs == [] and "stamps" not in (read_manifest(tmp_path) or {})
    files[1] = tf("cfg/b", "b3")
    publish(files, tmp_path)             # nothing trusted (no stamps): one syncfs
    assert len(syncs) == 1
