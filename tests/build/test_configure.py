"""kconfiglib (through kbuild's adapter) against the kernel's own `make` on Linux 6.1."""
from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from kbuild.build import configure as pipeline
from kbuild.build import make as toolchain_make
from kbuild.kconfig import base as kconfig_base
from kbuild.kconfig import environment as toolchain
from kbuild.kconfig import tree as kconfig
from kbuild.source import tree as pipeline_tree

pytestmark = pytest.mark.realtree


def _make(srctree: Path, out: Path, arch: str, *targets: str) -> None:
    tc = toolchain.detect_toolchain()
    argv = ["make", "-s", "-C", str(srctree), f"O={out}", *toolchain_make.make_variables(arch, tc), *targets]
    r = subprocess.run(argv, env=toolchain.base_environment(), capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("profile_name", ["nfsroot"])
def test_profile_config_equals_make_olddefconfig(repo_site, linux_src, tmp_path, profile_name):
    profile = repo_site.profile(profile_name)
    kt, merged, drops = pipeline.resolve_profile_config(repo_site, profile, linux_src)
    assert merged.errors == [] and drops == []
    ours = kconfig.config_text(kt)

    # The same input through the kernel's tools: tinyconfig, fragments appended, olddefconfig.
    out = tmp_path / "make"
    _make(linux_src, out, profile.arch, "tinyconfig")
    with open(out / ".config", "a") as f:
        for frag in profile.fragments:
            f.write(repo_site.fragment_path(frag).read_text())
    _make(linux_src, out, profile.arch, "olddefconfig")
    theirs = (out / ".config").read_text()
    assert ours == theirs  # byte for byte, header included
    assert len(kconfig.values_of(ours)) > 1000


def test_um_tinyconfig_equals_make(repo_site, linux_src, tmp_path):
    tc = toolchain.detect_toolchain()
    kt = kconfig.load_tree(linux_src, "um", toolchain.kconfig_environment(linux_src, "um", tc),
                           tmp_path / "kc")
    kconfig_base.apply_base(kt, "tinyconfig")
    _make(linux_src, tmp_path / "make", "um", "tinyconfig")
    assert kconfig.config_text(kt) == (tmp_path / "make" / ".config").read_text()
    # UML tinyconfig on x86 is 32-bit unless told otherwise: the trap the uml profile avoids.
    assert kconfig.values_of(kconfig.config_text(kt)).get("64BIT", "n") == "n"


def test_without_file_locking_configure_names_nfs_fs_and_the_dependency(repo_site, linux_src):
    profile = repo_site.profile("nfsroot")
    frags = tuple(f for f in profile.fragments)
    # drop FILE_LOCKING from the fragment that asks for it, in a copy of the site
    nfs_frag = repo_site.fragment_path("nfsroot")
    text = nfs_frag.read_text()
    assert "CONFIG_FILE_LOCKING=y" in text
    tmp_frag = repo_site.fragments_dir / "test-nofilelocking.config"
    tmp_frag.write_text(text.replace("CONFIG_FILE_LOCKING=y\n", ""))
    try:
        frags = tuple("test-nofilelocking" if f == "nfsroot" else f for f in frags)
        _, merged, drops = pipeline.resolve_profile_config(repo_site, profile, linux_src, frags)
    finally:
        tmp_frag.unlink()
    names = {d.name: d for d in drops}
    assert {"NFS_FS", "ROOT_NFS"} <= set(names)
    assert any("FILE_LOCKING=n [fs/Kconfig:" in r for r in names["NFS_FS"].reasons)
    assert any("NFS_FS" in r for r in names["ROOT_NFS"].reasons)
    assert "FILE_LOCKING=y" in names["NFS_FS"].blockers


def test_configure_refuses_and_writes_nothing(repo_site, linux_src, tmp_path):
    """The pipeline's configure raises (no .config written) when a value did not stick."""
    from kbuild.errors import RequirementError

    profile = repo_site.profile("nfsroot")
    frag = repo_site.fragments_dir / "test-drop.config"
    frag.write_text("CONFIG_ROOT_NFS=y\n# CONFIG_IP_PNP is not set\n")
    site = dataclasses.replace(repo_site, artifacts=tmp_path / "artifacts")
    try:
        bad = dataclasses.replace(profile, fragments=("test-drop",))
        tree_stamp = pipeline_tree.profile_tree(repo_site, profile)
        assert tree_stamp.is_dir()
        # point the copy of the site at the real, already unpacked tree
        (site.artifacts / "src").mkdir(parents=True)
        (site.artifacts / "src" / tree_stamp.name).symlink_to(tree_stamp)
        with pytest.raises(RequirementError) as e:
            pipeline.configure(site, bad)
    finally:
        frag.unlink()
    msg = str(e.value)
    assert "CONFIG_ROOT_NFS=y did not stick" in msg and "no build was started" in msg
    assert not (site.artifacts / "build" / "nfsroot" / ".config").exists()
