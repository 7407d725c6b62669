#!/usr/bin/env python3
"""Boot-to-marker times of the nfsroot kernel (issue 10): BIOS (pxelinux), UEFI (OVMF →
shim → signed GRUB → EFI stub), UEFI with Secure Boot (site key in db, signed kernel) and
UEFI iPXE with the kernel over HTTP (OVMF → snponly.efi → iPXE script → nginx from the
generated server block; a throwaway copy of the site with ``http_base``, ``ipxe-efi`` and
one host stages the same kernel, and the lab runs its generated dnsmasq and nginx files).

Needs a built and staged nfsroot in the site (`doit kernel:nfsroot`) and root. Each
variant boots RUNS times (default 5); prints median, min and max of the seconds from
QEMU's start to init's marker on the NFS root. A throwaway site key signs the kernel for
the Secure Boot runs; the staged tree is not changed (the lab serves its own copy).

Usage: .venv/bin/python bench/uefi_boot.py [RUNS=5] [SITE=kbuild.toml] [ONLY]
       (ONLY: run just the chains whose name contains it, e.g. iPXE)
       .venv/bin/python bench/uefi_boot.py dom0 [RUNS=5] [SITE=kbuild.toml]   (see dom0_main)
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kbuild.errors import InfraError  # noqa: E402
from kbuild.lab.httplab import boot_http  # noqa: E402
from kbuild.lab.qemu import UEFI, boot_pxe, secure_boot_firmware  # noqa: E402
from kbuild.signing import keys, sign  # noqa: E402
from kbuild.site import layout  # noqa: E402
from kbuild.site.load import load_site  # noqa: E402
from kbuild.site.model import Site  # noqa: E402


def http_site(site: Site, root: Path) -> Site:
    """A copy of ``site`` whose nfsroot boots UEFI clients through iPXE with http_base set,
    with one host (the lab's MAC), staging the kernel ``site`` built."""
    from kbuild.publish import stage

    text = site.path.read_text()
    text = text.replace('loaders = ["pxelinux", "grub-efi"]', 'loaders = ["pxelinux", "ipxe-efi"]', 1)
    text = text.replace("[site]\n", '[site]\nhttp_base = "http://10.0.2.2:8080/"\n', 1)
    text += ('\n[[hosts]]\nname = "efi-http"\nmac = "52:54:00:12:34:56"\nip = "10.0.2.15"\n'
             'profile = "nfsroot"\n')
    root.mkdir(parents=True)
    (root / "kbuild.toml").write_text(text)
    for name in ("kbuild.lock",):
        (root / name).write_bytes((site.root / name).read_bytes())
    for name in ("fragments", "patches"):
        os.symlink(site.root / name, root / name)
    (root / "artifacts/build").mkdir(parents=True)
    os.symlink(layout.build_dir(site, site.profiles["nfsroot"]), root / "artifacts/build/nfsroot")
    copy = load_site(root / "kbuild.toml")
    stage.stage(copy)
    return copy


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "dom0":
        return dom0_main(sys.argv[2:])
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    only = sys.argv[3] if len(sys.argv) > 3 else ""
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
        hsite = http_site(site, Path(tmp) / "http-site")
        for name, kw in variants.items():
            if only not in name:
                continue
            times = []
            for _ in range(runs):
                r = boot_pxe(site, profile, timeout=300, **kw)  # type: ignore[arg-type]
                times.append(r.marker_seconds or float("nan"))
            _print(name, times)
        name = "UEFI iPXE, kernel over HTTP (virtio)"
        times = []
        failed = []
        for i in range(runs if only in name else 0):
            try:
                hr = boot_http(hsite, hsite.profiles["nfsroot"], hsite.hosts[0],
                               Path(tmp) / f"http-lab{i}", timeout=300)
            except InfraError as e:   # reported, not timed: the figure is over the boots that ran
                failed.append(e.message)
                continue
            times.append(hr.marker_seconds or float("nan"))
        for f in failed:
            print(f"  {name}: a run failed: {f}", flush=True)
        if times:
            _print(name, times)
    return 0


def _print(name: str, times: list[Any]) -> None:
    load = os.getloadavg()
    print(f"{name:38s} median {statistics.median(times):6.1f} s  min {min(times):6.1f}  "
          f"max {max(times):6.1f}  (n={len(times)}; load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f})",
          flush=True)


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
        _print(name, times)
    return 0


if __name__ == "__main__":
    sys.exit(main())
