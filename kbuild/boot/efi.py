"""UEFI network boot: which loader files a UEFI client needs, and GRUB's one menu shared
by its BIOS image (``core.0``) and Debian's signed EFI image (``grubx64.efi`` behind shim).

The chain (docs/uefi.md): firmware → DHCP (option 93 = 7 or 9) → ``bootx64.efi`` (shim,
signed by Microsoft) → ``grubx64.efi`` (Debian's signed ``grubnetx64``, found beside shim)
→ ``grub/grub.cfg`` → the kernel's EFI stub.
"""
from __future__ import annotations

from collections.abc import Sequence

from kbuild.boot.entry import BootEntry

# DHCP boot file first; shim loads the other two from its own directory by these names
GRUB_EFI_FILES = ("bootx64.efi", "grubx64.efi", "mmx64.efi")
# located (binaries.py) but not a loader yet: iPXE EFI needs DHCP to tell its second
# request apart (user class "iPXE"), which the snippets do not do yet
IPXE_EFI_FILES = ("ipxe.efi", "snponly.efi")

# RFC 4578 option 93 (client system architecture), the values a PC sends
ARCH_BIOS = 0
ARCH_EFI_X64 = (7, 9)      # 9 is "EFI x86-64" by the RFC, 7 what firmware sends in practice
ARCH_EFI_X64_HTTP = 16


# the unsigned GRUB EFI image with multiboot2 (kbuild/boot/grub_image.py): Xen under UEFI,
# Secure Boot off; booted by the firmware directly (DHCP boot file), no shim
GRUB_EFI_UNSIGNED = "grub-efi-unsigned"


def boot_file(loaders: Sequence[str]) -> str | None:
    """The DHCP boot file a UEFI x86-64 client of these loaders gets (None: no UEFI loader)."""
    if "grub-efi" in loaders:
        return "bootx64.efi"
    if GRUB_EFI_UNSIGNED in loaders:
        from kbuild.boot.grub_image import BOOT_FILE

        return BOOT_FILE
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
