"""Unpacking kernel tarballs safely: nothing outside the tree, nothing half-unpacked."""
from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from kbuild.errors import UserError
from kbuild.source import archive


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:xz") as t:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            else:
                t.addfile(info)
    return path


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    i = tarfile.TarInfo(name)
    i.type = kind
    i.linkname = target
    return i, None


def test_unpack_strips_top_directory(tmp_path):
    arc = _tar(tmp_path / "a.tar.xz", [_file("linux-x/Makefile", b"VERSION = 6\n"),
                                        _link("linux-x/l", "Makefile")])
    dest = archive.unpack(arc, tmp_path / "tree")
    assert (dest / "Makefile").read_bytes() == b"VERSION = 6\n"
    assert os.readlink(dest / "l") == "Makefile"


@pytest.mark.parametrize("member,needle", [
    (_file("linux/../../evil"), "contains '..'"),
    (_file("/etc/evil"), "absolute path"),
    (_link("linux/l", "/etc/passwd"), "links to absolute path"),
    (_link("linux/sub/l", "../../../etc"), "links outside the tree"),
    (_link("linux/h", "../outside", tarfile.LNKTYPE), "links outside the tree"),
])
def test_unpack_rejects_escapes_naming_the_member(tmp_path, member, needle):
    arc = _tar(tmp_path / "a.tar.xz", [_file("linux/ok"), member])
    with pytest.raises(UserError) as e:
        archive.unpack(arc, tmp_path / "tree")
    assert needle in str(e.value) and member[0].name in str(e.value)
    assert not (tmp_path / "tree").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["a.tar.xz"]  # nothing half-unpacked
    assert not Path("/etc/evil").exists()


def test_unpack_rejects_device_nodes(tmp_path):
    dev = tarfile.TarInfo("linux/dev/sda")
    dev.type = tarfile.BLKTYPE
    arc = _tar(tmp_path / "a.tar.xz", [_file("linux/ok"), (dev, None)])
    with pytest.raises(UserError) as e:
        archive.unpack(arc, tmp_path / "tree")
    assert "device node" in str(e.value)


def test_unpack_truncated_archive(tmp_path):
    arc = _tar(tmp_path / "a.tar.xz", [_file(f"linux/f{i}", os.urandom(20000)) for i in range(20)])
    data = arc.read_bytes()
    arc.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError) as e:
        archive.unpack(arc, tmp_path / "tree")
    assert "truncated or corrupt" in str(e.value)
    assert not (tmp_path / "tree").exists()
    assert not list(tmp_path.glob(".tree.unpack-*"))


def test_stale_unpack_dirs_of_dead_processes_are_removed(tmp_path):
    stale = tmp_path / ".tree.unpack-999999999"
    stale.mkdir()
    arc = _tar(tmp_path / "a.tar.xz", [_file("linux/ok")])
    archive.unpack(arc, tmp_path / "tree")
    assert not stale.exists()
