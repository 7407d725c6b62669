"""A tiny busybox root filesystem that the boot lab exports over NFS.

Its /init proves three things on the console: the root is mounted over NFS
(it prints the root mount line), init runs from that root (it prints a token
that exists only in this export), and, for Xen, that it runs as dom0.
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

from kbuild.errors import InfraError
from kbuild.util.files import atomic_write_bytes, atomic_write_text, write_text_if_changed

BUSYBOX = Path("/bin/busybox")
MARKER = "KBUILD-MARKER"
DONE = "KBUILD-DONE"

INIT = """#!/bin/sh
# kbuild boot lab init: runs from the NFS root and reports what it sees.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
[ -c /dev/null ] || mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp 2>/dev/null
token=$(cat /etc/kbuild-token)
echo "kbuild-lab: root $(awk '$2 == "/" && $1 != "rootfs" {print $1, $3}' /proc/mounts)"
echo "kbuild-lab: kernel $(uname -r) $(uname -m)"
if [ -r /sys/hypervisor/type ]; then
    v=/sys/hypervisor/version
    echo "kbuild-lab: hypervisor $(cat /sys/hypervisor/type) $(cat $v/major).$(cat $v/minor)$(cat $v/extra)"
fi
if mount -t xenfs xenfs /proc/xen 2>/dev/null && [ -r /proc/xen/capabilities ]; then
    echo "kbuild-lab: xen capabilities '$(cat /proc/xen/capabilities)'"
fi
echo "{marker} $token"
for t in /lab/*.sh; do
    [ -f "$t" ] || continue
    echo "kbuild-lab: running $t"
    if sh "$t"; then echo "kbuild-lab: PASS $t"; else echo "kbuild-lab: FAIL $t"; fi
done
echo "{done} $token"
sync
poweroff -f
""".replace("{marker}", MARKER).replace("{done}", DONE)


def build_root(root: Path) -> Path:
    """Create (or refresh) the busybox root at ``root``; cheap when already there."""
    if not BUSYBOX.is_file():
        raise InfraError(f"{BUSYBOX} not found", hint="install busybox-static (scripts/setup does)")
    for d in ("bin", "dev", "proc", "sys", "tmp", "etc", "lab", "root"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    target = root / "bin" / "busybox"
    if not target.is_file() or target.stat().st_size != BUSYBOX.stat().st_size:
        tmp = target.with_suffix(".tmp")
        shutil.copy2(BUSYBOX, tmp)
        os.replace(tmp, target)
    applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        if applet in ("busybox",) or "/" in applet:
            continue
        link = root / "bin" / applet
        if not link.is_symlink():
            if link.exists():
                link.unlink()
            link.symlink_to("busybox")
    write_text_if_changed(root / "init", INIT, mode=0o755)
    write_text_if_changed(root / "etc" / "passwd", "root:x:0:0:root:/root:/bin/sh\n")
    write_text_if_changed(root / "etc" / "group", "root:x:0:\n")
    return root


def new_token(root: Path) -> str:
    """A fresh random token in the root: the marker must carry this run's token."""
    token = secrets.token_hex(8)
    atomic_write_text(root / "etc" / "kbuild-token", token + "\n")
    return token


def set_workloads(root: Path, files: dict[str, bytes]) -> None:
    """Put exactly these files into /lab of the root (others are removed);
    init runs every /lab/*.sh and reports PASS or FAIL for each."""
    lab = root / "lab"
    lab.mkdir(exist_ok=True)
    for old in lab.iterdir():
        if old.name not in files:
            old.unlink()
    for name, data in files.items():
        p = lab / name
        if not p.is_file() or p.read_bytes() != data:
            atomic_write_bytes(p, data, mode=0o755)
