"""`doit kernel:dom0` stages Xen + the dom0 kernel with entries for every loader;
`doit boot:dom0` PXE-boots Xen through mboot.c32 and dom0 runs init from NFS."""
from __future__ import annotations

import hashlib
import re

import pytest

from kbuild.boot.read import read_entry

pytestmark = [pytest.mark.build, pytest.mark.boot]


@pytest.fixture
def built(work_site):
    """`doit kernel:dom0` in the session's work site before each test: builds once,
    then a no-op."""
    return work_site.kernel("dom0")


def test_stages_xen_kernel_and_every_loader_entry(work_site, built):
    tftp = work_site.tftp
    img = tftp / "images" / "dom0"
    # exactly the declared input: the file the site pins (fetched into the work site's
    # cache, whether from Debian's signed index or from the host), not whatever /boot holds
    xen = (img / "xen-4.17-amd64.gz").read_bytes()
    assert hashlib.sha256(xen).hexdigest() == work_site.site.sources["xen-4.17"].sha256
    assert (img / "xen-4.17-amd64").stat().st_size > (img / "xen-4.17-amd64.gz").stat().st_size
    kernels = list(img.glob("vmlinuz-*"))
    assert len(kernels) == 1
    rel = kernels[0].name
    px = (tftp / "pxelinux.cfg/default").read_text()
    assert re.search(rf"KERNEL mboot.c32\n  APPEND images/dom0/xen-4.17-amd64.gz dom0_mem=256M,max:256M "
                     rf"console=com1 com1=115200,8n1 --- images/dom0/{rel} console=hvc0 ip=dhcp", px)
    for f in ("mboot.c32", "libcom32.c32", "undionly.kpxe", "grub/i386-pc/core.0"):
        assert (tftp / f).is_file()
    grub = (tftp / "grub/grub.cfg").read_text()
    assert "multiboot2 /images/dom0/xen-4.17-amd64.gz placeholder" in grub  # Xen 4.17 has an MB2 header
    assert f"module2 /images/dom0/{rel} placeholder console=hvc0" in grub
    legacy = (tftp / "grub/menu.lst").read_text()
    assert f"module /images/dom0/{rel} console=hvc0" in legacy
    ipxe = (tftp / "ipxe/dom0.ipxe").read_text()
    assert "kernel /images/dom0/xen-4.17-amd64 dom0_mem" in ipxe


def test_every_entry_reads_back_to_the_same_command_line(work_site, built):
    """kbuild's own entry parser (used by verify) reads each loader's dom0 entry back."""
    tftp = work_site.tftp
    lines = set()
    for path, fmt, label in ((tftp / "pxelinux.cfg/default", "pxelinux", "dom0"),
                             (tftp / "grub/grub.cfg", "grub2", "dom0"),
                             (tftp / "ipxe/dom0.ipxe", "ipxe", None)):
        spec = read_entry(path, label=label)
        assert spec.hypervisor and "xen-4.17-amd64" in spec.hypervisor, (fmt, spec)
        lines.add(" ".join(a for a in spec.cmdline.args if not a.startswith("BOOT")))
    assert len(lines) == 1


def test_boot_dom0_under_xen_with_root_over_nfs(work_site, built):
    r = work_site.doit("boot:dom0", timeout=900)
    assert r.code == 0, r.out
    assert "hypervisor xen 4.17" in r.out and "control_d" in r.out
    assert re.search(r"root 10\.0\.2\.2:/nfsroot nfs4?", r.out)
    console = (work_site.artifacts / "boot/dom0/console.log").read_text(errors="replace")
    assert "(XEN)" in console and "KBUILD-MARKER" in console
    assert "(XEN) Bootloader: PXELINUX" in console
    # the iPXE script boots too: QEMU's iPXE ROM loads ipxe/dom0.ipxe, which multiboots Xen
    assert "ipxe/dom0.ipxe: marker after" in r.out
    ipxe = (work_site.artifacts / "boot/dom0/ipxe/console.log").read_text(errors="replace")
    assert "(XEN) Bootloader: iPXE" in ipxe and "KBUILD-MARKER" in ipxe
    # and GRUB 2: the staged core.0 reads grub/grub.cfg and multiboot2-loads Xen
    assert "grub/grub.cfg: marker after" in r.out
    grub = (work_site.artifacts / "boot/dom0/grub2/console.log").read_text(errors="replace")
    assert "(XEN) Bootloader: GRUB 2" in grub and "KBUILD-MARKER" in grub
