"""An unsigned GRUB EFI network image with ``multiboot2``, for Xen dom0 under UEFI.

Debian's signed ``grubnetx64`` (behind shim) has no ``multiboot2``, so it cannot start
Xen. This image is made here by ``grub-mkimage -O x86_64-efi`` from Debian's
``grub-efi-amd64-bin`` modules: one self-contained file (every module it needs is inside,
no module directory on the TFTP server), booted by the firmware directly, without shim,
so only with Secure Boot off (docs/uefi.md). Its prefix is ``/grub`` on the server it
was loaded from, so it reads the same ``grub/grub.cfg`` (and, itself, the same
``grub.cfg-01-<mac>`` / hex-IP names) as GRUB's BIOS image.

The embedded config tells grub.cfg which image runs: ``kb_multiboot2=yes`` makes the
menu offer multiboot2 (Xen) entries, and ``kb_host_lookup=done`` skips grub.cfg's own
per-host lookup, which this image did already. Same modules + same GRUB build = same
bytes (grub-mkimage writes no time stamp); tests/boot/test_grub_image.py checks it.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from kbuild.errors import InfraError

MODULE_DIR = Path("/usr/lib/grub/x86_64-efi")
# where the image sits in the TFTP tree (grub-mknetdir's name) = the DHCP boot file
BOOT_FILE = "grub/x86_64-efi/core.efi"
PREFIX = "/grub"
# What grub.cfg, the lab's host files and the two kinds of entry use; nothing is loaded
# from the server at run time (insmod of an embedded module is a no-op).
MODULES = (
    "normal", "configfile", "echo", "test", "regexp",         # the menu and its lookup
    "net", "efinet", "tftp",                                    # the network (firmware's NIC)
    "serial", "terminal",                                       # the serial console
    "gzio",                                                     # Xen is staged gzipped
    "multiboot2",                                               # Xen: multiboot2 + module2
    "linux",                                                    # plain kernels (EFI stub)
    "chain",                                                    # chainloader (xen.efi, see docs)
    "boot",
)
EARLY_CONFIG = """\
set kb_multiboot2=yes
export kb_multiboot2
set kb_host_lookup=done
export kb_host_lookup
"""


def identity() -> str:
    """What the image is a function of: the GRUB build (every module file's name, size and
    mtime, as Debian's package installs them), the module list and the embedded config."""
    ident = hashlib.sha256()
    for p in sorted(MODULE_DIR.iterdir()):
        st = p.stat()
        ident.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    ident.update(("\0".join(MODULES) + "\0" + PREFIX + "\0" + EARLY_CONFIG).encode())
    return ident.hexdigest()[:16]


def efi_netboot_image(cache: Path) -> Path:
    """The unsigned GRUB EFI image (built once per GRUB installation, cached under
    ``cache``), or an InfraError naming the package to install."""
    tool = shutil.which("grub-mkimage")
    if tool is None or not (MODULE_DIR / "multiboot2.mod").is_file():
        raise InfraError(f"grub-mkimage or {MODULE_DIR}/multiboot2.mod not found",
                         hint="install grub-efi-amd64-bin (scripts/setup does)")
    out = cache / f"grub-efi-unsigned-{identity()}.efi"
    if out.is_file():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    tmp_cfg = cache / f".grub-early-{os.getpid()}.cfg"
    tmp = cache / f".{out.name}.{os.getpid()}"
    try:
        tmp_cfg.write_text(EARLY_CONFIG)
        r = subprocess.run([tool, "-O", "x86_64-efi", "-d", str(MODULE_DIR), "-p", PREFIX,
                            "-c", str(tmp_cfg), "-o", str(tmp), *MODULES],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise InfraError(f"grub-mkimage failed: {r.stderr.strip()[-300:]}")
        os.replace(tmp, out)
    finally:
        tmp_cfg.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return out
