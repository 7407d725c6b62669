"""The pool's pieces without booting: each client's own MAC, tap, IP and hostname with
the shared-root entry, the export digest, and the lab server's access."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from kbuild.lab import pool, run
from kbuild.site.model import NfsRoot, Profile, UmlSpec

PROFILE = Profile(name="uml", source="s", arch="um", base="tinyconfig", fragments=(),
                  nfsroot=NfsRoot("10.0.3.1", "/nfsroot"), console=("tty0",),
                  cmdline=("rw", "init=/init"), uml=UmlSpec())


def test_every_client_has_its_own_address_and_the_shared_entry(tmp_path):
    seen = set()
    for i in range(16):
        name, argv = pool.client_args(PROFILE, "overlay", i, tmp_path / "linux", tmp_path)
        line = " ".join(argv)
        mac = f"52:54:00:4b:50:{i:02x}"
        assert f"vec0:transport=tap,ifname=kbp{i},mac={mac},gro=1" in line
        assert f"ip=10.0.3.{10 + i}:10.0.3.1::255.255.255.0:{name}:vec0:off" in line
        assert line.endswith(f"umid={name}")
        assert " ro init=/sbin/kbuild-root kbroot=overlay kbroot_init=/init " in line
        assert " rw " not in line
        seen.add((name, mac))
    assert len(seen) == 16


def test_tree_digest_sees_content_modes_and_links(tmp_path: Path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d/f").write_text("a")
    (tmp_path / "l").symlink_to("/d/f")
    before = pool.tree_digest(tmp_path)
    assert set(before) == {"d", "d/f", "l"} and before["l"] == "link:/d/f"
    (tmp_path / "d/f").write_text("b")
    assert pool.tree_digest(tmp_path) != before
    (tmp_path / "d/f").write_text("a")
    (tmp_path / "d/f").chmod(0o600)
    assert pool.tree_digest(tmp_path) != before


def test_lab_export_is_read_only_for_a_shared_profile(tmp_path):
    rw = run.ganesha_config(tmp_path, "/nfsroot", [4], tmp_path / "rec")
    ro = run.ganesha_config(tmp_path, "/nfsroot", [4], tmp_path / "rec", access="RO")
    assert "Access_Type = RW;" in rw and "Access_Type = RO;" in ro
    shared = dataclasses.replace(PROFILE, root_mode="ro-shared")
    spec = run.lab_spec(None, shared, shared.nfsroot, tmp_path, "t", tmp_path / "c", 10, tmp_path)  # type: ignore[arg-type]
    assert "Access_Type = RO;" in spec["nfs"]["config"]
