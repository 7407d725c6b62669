"""Shared fixtures.

Unit tests use tiny synthetic Kconfig trees (``tiny_kconfig``). Integration
tests use the real Linux 6.1 source that the pipeline itself unpacks from
Debian's linux-source-6.1 (``linux_src``); it is unpacked once and reused.
"""
from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_site():
    from kbuild.site.load import load_site

    return load_site(REPO / "kbuild.toml")


@pytest.fixture(scope="session")
def linux_src(repo_site) -> Path:
    """The real, pristine 6.1 source tree of the default site (unpacked on first use)."""
    from kbuild.source import tree as pipeline

    src = repo_site.sources["debian-6.1"]
    return pipeline.unpack_source(repo_site, src)


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root


TINY_KCONFIG = {
    "Makefile": "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\nEXTRAVERSION =\n",
    "Kconfig": """\
        mainmenu "tiny"

        config MODULES
        \tbool "modules"
        \tmodules

        config EXPERT
        \tbool "expert"

        config MULTIUSER
        \tbool "multiuser"
        \tdefault y

        config FILE_LOCKING
        \tbool "file locking"

        config NET
        \tbool "net"

        config INET
        \tbool "inet"
        \tdepends on NET

        menuconfig NETWORK_FILESYSTEMS
        \tbool "network file systems"
        \tdepends on NET
        \tdefault y

        if NETWORK_FILESYSTEMS
        source "fs/nfs/Kconfig"
        endif

        config IP_PNP
        \tbool "ip pnp"
        \tdepends on INET

        config IP_PNP_DHCP
        \tbool "dhcp"
        \tdepends on IP_PNP

        config LOCKD
        \ttristate

        config SUNRPC
        \ttristate

        config NAME
        \tstring "a name"
        \tdefault "x"

        config COUNT
        \tint "count"
        \trange 1 10
        \tdefault 3

        config ADDR
        \thex "addr"
        \tdefault 0x10
        """,
    "fs/nfs/Kconfig": """\
        config NFS_FS
        \ttristate "NFS client"
        \tdepends on INET && FILE_LOCKING && MULTIUSER
        \tselect LOCKD
        \tselect SUNRPC
        \thelp
        \t  Help text that mentions, on a line of its own,
        \t  modules
        \t  and must not be rewritten.

        config NFS_V3
        \ttristate "v3"
        \tdepends on NFS_FS
        \tdefault y

        config NFS_V4
        \ttristate "v4"
        \tdepends on NFS_FS

        config ROOT_NFS
        \tbool "root over nfs"
        \tdepends on NFS_FS=y && IP_PNP
        """,
}


@pytest.fixture
def tiny_kconfig(tmp_path) -> Path:
    """A synthetic Kconfig tree shaped like the kernel's NFS corner."""
    return write_tree(tmp_path / "tiny", TINY_KCONFIG)


@pytest.fixture
def tiny_env():
    """The environment kconfiglib needs for the synthetic tree (no compiler probes)."""
    def make(srctree: Path, arch: str = "x86_64") -> dict[str, str]:
        import os
        env = dict(os.environ)
        env.update({"srctree": str(srctree), "ARCH": arch, "SRCARCH": "x86",
                    "KERNELVERSION": "6.1.0", "CC": "gcc", "LD": "ld"})
        return env
    return make


def have(cmd: str) -> bool:
    return shutil.which(cmd) is not None
