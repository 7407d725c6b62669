"""UEFI network boot: which loader files a UEFI client needs, and GRUB's one menu shared
by its BIOS image (``core.0``) and Debian's signed EFI image (``grubx64.efi`` behind shim).

The chains (docs/uefi.md): firmware → DHCP (option 93 = 7 or 9) → ``bootx64.efi`` (shim,
signed by Microsoft) → ``grubx64.efi`` (Debian's signed ``grubnetx64``, found beside shim)
→ ``grub/grub.cfg`` → the kernel's EFI stub; or (``ipxe-efi``) firmware → DHCP →
``snponly.efi`` (Debian's iPXE, unsigned) → DHCP again, now with user class ``iPXE`` →
the host's iPXE script → kernel (over HTTP when the site has ``http_base``).
"""
from __future__ import annotations

from collections.abc import Sequence

from kbuild.boot.entry import BootEntry
from kbuild.boot.grub_image import BOOT_FILE as GRUB_IMAGE_BOOT_FILE

# DHCP boot file first; shim loads the other two from its own directory by these names
GRUB_EFI_FILES = ("bootx64.efi", "grubx64.efi", "mmx64.efi")
# iPXE's EFI builds: snponly.efi drives the NIC through the firmware's own network driver
# (the one it was loaded by: any NIC the firmware can PXE with), so it is the DHCP boot
# file; ipxe.efi (iPXE's own NIC drivers) is staged beside it for sites that point a
# client at it by hand
IPXE_EFI_FILES = ("snponly.efi", "ipxe.efi")
# the DHCP boot file a UEFI x86-64 client gets, per UEFI loader
# the first of these a profile lists is what its UEFI clients get from DHCP
EFI_BOOT_FILES = {"grub-efi": "bootx64.efi", "ipxe-efi": "snponly.efi",
                  "grub-efi-unsigned": GRUB_IMAGE_BOOT_FILE}
# boot files that are iPXE: a client running one asks DHCP again with user class "iPXE"
# (option 77) and must then get its script, not the same binary (a loop)
IPXE_BOOT_FILES = frozenset({"undionly.kpxe", "snponly.efi", "ipxe.efi"})
IPXE_USER_CLASS = "iPXE"

# RFC 4578 option 93 (client system architecture), the values a PC sends
ARCH_BIOS = 0
ARCH_EFI_X64 = (7, 9)      # 9 is "EFI x86-64" by the RFC, 7 what firmware sends in practice
ARCH_EFI_X64_HTTP = 16


# the unsigned GRUB EFI image with multiboot2 (kbuild/boot/grub_image.py): Xen under UEFI,
# Secure Boot off; booted by the firmware directly (DHCP boot file), no shim
GRUB_EFI_UNSIGNED = "grub-efi-unsigned"


def boot_file(loaders: Sequence[str]) -> str | None:
    """The DHCP boot file a UEFI x86-64 client of these loaders gets: the first UEFI loader
    the profile lists (None: no UEFI loader)."""
    for loader in loaders:
        if loader in EFI_BOOT_FILES:
            return EFI_BOOT_FILES[loader]
    return None


def grub_menu_entries(bios: Sequence[BootEntry], uefi: Sequence[BootEntry],
                      uefi_unsigned: Sequence[BootEntry] = ()
                      ) -> tuple[list[BootEntry], dict[str, str]]:
    """The entries of grub/grub.cfg, and the platform of those offered on one only: a
    multiboot (Xen) entry cannot run in the signed EFI image, which has no multiboot, so
    it is offered on ``pc`` only; when the unsigned EFI image is staged too
    (``uefi_unsigned``), a multiboot2 entry is offered on ``multiboot2``: pc, or an EFI
    GRUB that says it has multiboot2 (:mod:`kbuild.boot.grub_image`). A UEFI profile's
    plain Linux entry boots on both (GRUB's BIOS image starts a bzImage as well), so it
    is not wrapped."""
    entries: list[BootEntry] = []
    platform_of: dict[str, str] = {}
    efi_labels = {e.label for e in list(uefi) + list(uefi_unsigned)}
    seen: set[str] = set()
    for e in list(bios) + list(uefi) + list(uefi_unsigned):
        if e.label in seen:
            continue
        seen.add(e.label)
        entries.append(e)
        if e.hypervisor and e.multiboot2 and uefi_unsigned:
            platform_of[e.label] = "multiboot2"
        elif e.label not in efi_labels or e.hypervisor:
            platform_of[e.label] = "pc"
    return entries, platform_of
