"""A tiny site in a temporary directory: one file:// kernel source, one profile, optional
hosts. No network, no kernel tree: for tests of the task creators and of commands."""
from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

PROFILE = """
[profiles.nfsroot]
description = "tiny test client"
source = "tiny"
arch = "x86_64"
base = "tinyconfig"
fragments = ["net"]
nics = ["e1000"]
console = ["ttyS0,115200"]
cmdline = ["rw", "init=/init"]

[profiles.nfsroot.nfsroot]
path = "/nfsroot"
version = "4.2"
"""


def make_site(root: Path, hosts: str = "") -> Path:
    """Write kbuild.toml (and what it names) under ``root``; returns the site file."""
    root.mkdir(parents=True, exist_ok=True)
    tarball = root / "linux-tiny.tar.xz"
    with tarfile.open(tarball, "w:xz") as t:
        data = b"VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\nEXTRAVERSION =\n"
        info = tarfile.TarInfo("linux-tiny/Makefile")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    sha = hashlib.sha256(tarball.read_bytes()).hexdigest()
    (root / "fragments").mkdir(exist_ok=True)
    (root / "fragments" / "net.config").write_text("CONFIG_NET=y\n")
    site = root / "kbuild.toml"
    site.write_text(f'[sources.tiny]\nurl = "file://{tarball}"\nsha256 = "{sha}"\n' + PROFILE + hosts)
    return site
