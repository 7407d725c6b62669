#!/usr/bin/env python3
"""Boot-to-marker times of the nfsroot kernel (issue 10): BIOS (pxelinux), UEFI (OVMF →
shim → signed GRUB → EFI stub) and UEFI with Secure Boot (site key in db, signed kernel).

Needs a built and staged nfsroot in the site (`doit kernel:nfsroot`) and root. Each
variant boots RUNS times (default 5); prints median, min and max of the seconds from
QEMU's start to init's marker on the NFS root. A throwaway site key signs the kernel for
the Secure Boot runs; the staged tree is not changed (the lab serves its own copy).

Usage: .venv/bin/python bench/uefi_boot.py [RUNS=5] [SITE=kbuild.toml]
       .venv/bin/python bench/uefi_boot.py dom0 [RUNS=5] [SITE=kbuild.toml]   (see dom0_main)
"""
from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kbuild.lab.qemu import UEFI, boot_pxe, secure_boot_firmware  # noqa: E402
from kbuild.signing import keys, sign  # noqa: E402
from kbuild.site import layout  # noqa: E402
from kbuild.site.load import load_site  # noqa: E402


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "dom0":
        return dom0_main(sys.argv[2:])
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    site = load_site(Path(sys.argv[2]) if len(sys.argv) > 2 else REPO / "kbuild.toml")
    profile = site.profiles["nfsroot"]
    image = layout.build_dir(site, profile) / "arch/x86/boot/bzImage"
    staged = sorted((layout.stage_dir(site) / "images/nfsroot").glob("vmlinuz-*"))
    rel = str(staged[-1].relative_to(layout.stage_dir(site)))
    with tempfile.TemporaryDirectory() as tmp:
        key = keys.init_key(Path(tmp) / "k.key", Path(tmp) / "k.crt")
        signed = sign.signed_copy(image, key, Path(tmp) / "signed", rel)
        sb = secure_boot_firmware(key.cert, Path(tmp) / "fw")
        variants = {
            "BIOS pxelinux (e1000)": dict(loader="pxelinux"),
            "UEFI shim+GRUB (virtio)": dict(loader="grub-efi", nic="virtio-net-pci", firmware=UEFI),
            "UEFI+SB shim+GRUB, signed (virtio)": dict(loader="grub-efi", nic="virtio-net-pci",
                                                       firmware=sb, replace={rel: signed}),
        }
        for name, kw in variants.items():
            times = []
            for _ in range(runs):
                r = boot_pxe(site, profile, timeout=300, **kw)  # type: ignore[arg-type]
                times.append(r.marker_seconds or float("nan"))
            print(f"{name:38s} median {statistics.median(times):6.1f} s  min {min(times):6.1f}  "
                  f"max {max(times):6.1f}  (n={runs})", flush=True)
    return 0


# --- Xen dom0: BIOS vs UEFI (issue 10b) -------------------------------------------------

def dom0_main(args: list[str]) -> int:
    """Xen dom0 boot-to-marker, BIOS vs UEFI, both with virtio-net (OVMF's own network
    stack has no e1000 driver): SeaBIOS + iPXE ROM → pxelinux mboot.c32 → Xen, and OVMF →
    kbuild's unsigned GRUB EFI (multiboot2) → Xen. Needs `doit kernel:dom0`."""
    runs = int(args[0]) if args else 5
    site = load_site(Path(args[1]) if len(args) > 1 else REPO / "kbuild.toml")
    profile = site.profiles["dom0"]
    variants = {
        "dom0 BIOS pxelinux mboot.c32 (virtio)": dict(loader="pxelinux", nic="virtio-net-pci"),
        "dom0 BIOS GRUB 2 core.0 (virtio)": dict(loader="grub2", nic="virtio-net-pci"),
        "dom0 UEFI unsigned GRUB EFI (virtio)": dict(loader="grub-efi-unsigned",
                                                     nic="virtio-net-pci", firmware=UEFI),
    }
    for name, kw in variants.items():
        times = []
        for _ in range(runs):
            r = boot_pxe(site, profile, timeout=300, **kw)  # type: ignore[arg-type]
            times.append(r.marker_seconds or float("nan"))
        print(f"{name:38s} median {statistics.median(times):6.1f} s  min {min(times):6.1f}  "
              f"max {max(times):6.1f}  (n={runs})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
