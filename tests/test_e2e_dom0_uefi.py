"""Xen dom0 under UEFI, Secure Boot off: OVMF PXE → kbuild's unsigned GRUB EFI image
(grub/x86_64-efi/core.efi, multiboot2) → Xen 4.17 (its EFI entry) → the dom0 kernel →
NFS root → init's marker, with /sys/hypervisor showing Xen and dom0's control_d.

`doit boot:dom0` (tests/test_e2e_dom0.py) boots this path too, beside the BIOS ones;
this test asserts what the UEFI console shows."""
from __future__ import annotations

import re

import pytest

from kbuild.boot import grub_image
from kbuild.lab.qemu import QEMU_MAC, UEFI, boot_pxe

pytestmark = [pytest.mark.build, pytest.mark.boot]


@pytest.fixture
def built(work_site):
    """`doit kernel:dom0` in the session's work site (builds once, then a no-op)."""
    work_site.kernel("dom0")
    return work_site.site


def test_dom0_boots_under_uefi_through_the_unsigned_grub(work_site, built):
    site = built
    profile = site.profiles["dom0"]
    assert "grub-efi-unsigned" in profile.loaders
    staged = work_site.tftp / grub_image.BOOT_FILE
    assert staged.read_bytes()[:2] == b"MZ"
    result = boot_pxe(site, profile, timeout=300, loader="grub-efi-unsigned",
                      nic="virtio-net-pci", firmware=UEFI)
    # boot_result has checked the marker, the NFS root, Xen and control_d
    assert result.ok and result.marker_seconds is not None
    assert any(e.startswith("hypervisor xen 4.17") for e in result.evidence), result.evidence
    assert any("control_d" in e for e in result.evidence)
    console = result.console.read_bytes().decode(errors="replace")
    # the firmware's own PXE fetched kbuild's image (no shim), which found the host's file
    assert f"NBP filename is {grub_image.BOOT_FILE}" in console
    assert "Welcome to GRUB!" in console
    assert f"grub host file grub.cfg-01-{QEMU_MAC.replace(':', '-')}" in console
    # Xen started from its multiboot2 EFI entry: it reads the firmware's memory map
    assert "(XEN) Bootloader: GRUB 2" in console and "(XEN) EFI RAM map:" in console
    # dom0 found ACPI through Xen's EFI tables (XEN_EFI), so PCI interrupts and the NIC work
    assert "A valid RSDP was not found" not in console
    assert re.search(r"VFS: Mounted root \(nfs4? filesystem\)", console), console[-2000:]
    assert "KBUILD-MARKER" in console
