"""kconfiglib (through kbuild's adapter) against the kernel's own `make` on Linux 6.1."""
from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest

from kbuild.build import configure as pipeline
from kbuild.build import make as toolchain_make
from kbuild.kconfig import base as kconfig_base
from kbuild.kconfig import environment as toolchain
from kbuild.kconfig import tree as kconfig
from kbuild.site import layout
from kbuild.source import tree as pipeline_tree

pytestmark = pytest.mark.realtree


@pytest.fixture
def scratch_site(work_site, linux_src, tmp_path):
    """The work site with its own fragments/ (a copy to add fragments to) and artifacts/,
    sharing the unpacked pristine tree through a symlink."""
    site = work_site.site
    root = tmp_path / "site"
    shutil.copytree(site.fragments_dir, root / "fragments")
    scratch = dataclasses.replace(site, root=root, path=root / "kbuild.toml",
                                  artifacts=root / "artifacts", tftp_root=root / "artifacts/tftpboot")
    link = layout.pristine_tree(scratch, scratch.sources["debian-6.1"])
    link.parent.mkdir(parents=True)
    link.symlink_to(linux_src)
    return scratch


def _make(srctree: Path, out: Path, arch: str, *targets: str) -> None:
    tc = toolchain.detect_toolchain()
    argv = ["make", "-s", "-C", str(srctree), f"O={out}", *toolchain_make.make_variables(arch, tc), *targets]
    r = subprocess.run(argv, env=toolchain.base_environment(), capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("profile_name,tree_fixture", [("nfsroot", "linux_src"),
                                                        ("nfsroot-6.12", "linux_src_612")])
def test_profile_config_equals_make_olddefconfig(work_site, request, tmp_path, profile_name, tree_fixture):
    linux_src = request.getfixturevalue(tree_fixture)
    site = work_site.site
    profile = site.profile(profile_name)
    kt, merged, drops = pipeline.resolve_profile_config(site, profile, linux_src)
    assert merged.errors == [] and drops == []
    ours = kconfig.config_text(kt)

    # The same input through the kernel's tools: tinyconfig, fragments appended, olddefconfig.
    out = tmp_path / "make"
    _make(linux_src, out, profile.arch, "tinyconfig")
    with open(out / ".config", "a") as f:
        for frag in profile.fragments:
            f.write(site.fragment_path(frag).read_text())
    _make(linux_src, out, profile.arch, "olddefconfig")
    theirs = (out / ".config").read_text()
    assert ours == theirs  # byte for byte, header included
    assert len(kconfig.values_of(ours)) > 1000


def test_um_tinyconfig_equals_make(linux_src, tmp_path):
    tc = toolchain.detect_toolchain()
    kt = kconfig.load_tree(linux_src, "um", toolchain.kconfig_environment(linux_src, "um", tc),
                           tmp_path / "kc")
    kconfig_base.apply_base(kt, "tinyconfig")
    _make(linux_src, tmp_path / "make", "um", "tinyconfig")
    assert kconfig.config_text(kt) == (tmp_path / "make" / ".config").read_text()
    # UML tinyconfig on x86 is 32-bit unless told otherwise: the trap the uml profile avoids.
    assert kconfig.values_of(kconfig.config_text(kt)).get("64BIT", "n") == "n"


def test_without_file_locking_configure_names_nfs_fs_and_the_dependency(scratch_site, linux_src):
    profile = scratch_site.profile("nfsroot")
    # drop FILE_LOCKING from the fragment that asks for it, in a copy of the site
    text = scratch_site.fragment_path("nfsroot").read_text()
    assert "CONFIG_FILE_LOCKING=y" in text
    scratch_site.fragment_path("test-nofilelocking").write_text(text.replace("CONFIG_FILE_LOCKING=y\n", ""))
    frags = tuple("test-nofilelocking" if f == "nfsroot" else f for f in profile.fragments)
    _, merged, drops = pipeline.resolve_profile_config(scratch_site, profile, linux_src, frags)
    names = {d.name: d for d in drops}
    assert {"NFS_FS", "ROOT_NFS"} <= set(names)
    assert any("FILE_LOCKING=n [fs/Kconfig:" in r for r in names["NFS_FS"].reasons)
    assert any("NFS_FS" in r for r in names["ROOT_NFS"].reasons)
    assert "FILE_LOCKING=y" in names["NFS_FS"].blockers


def test_configure_refuses_and_writes_nothing(scratch_site, linux_src):
    """The pipeline's configure raises (no .config written) when a value did not stick."""
    from kbuild.errors import RequirementError

    site = scratch_site
    profile = site.profile("nfsroot")
    site.fragment_path("test-drop").write_text("CONFIG_ROOT_NFS=y\n# CONFIG_IP_PNP is not set\n")
    bad = dataclasses.replace(profile, fragments=("test-drop",))
    # the scratch site builds from the real, already unpacked tree
    assert pipeline_tree.require_tree(site, bad).resolve() == linux_src.resolve()
    with pytest.raises(RequirementError) as e:
        pipeline.configure(site, bad)
    msg = str(e.value)
    assert "CONFIG_ROOT_NFS=y did not stick" in msg and "no build was started" in msg
    assert not (site.artifacts / "build" / "nfsroot" / ".config").exists()
