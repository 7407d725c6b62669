"""Boot a profile the ways its users do: every network loader the lab can drive, or
UML variants for a UML profile (``doit boot:<profile>``)."""
from __future__ import annotations

from kbuild.lab.qemu import UEFI, boot_pxe, secure_boot_firmware
from kbuild.lab.run import BootResult
from kbuild.lab.uml import boot_uml
from kbuild.site import layout
from kbuild.site.model import Profile, Site


def boot_profile(site: Site, profile: Profile, timeout: float = 180.0) -> BootResult:
    """Boot a profile the ways its users do: every network loader the lab can drive."""
    if profile.arch == "um":
        return boot_uml(site, profile, timeout=timeout)
    result = boot_pxe(site, profile, timeout=timeout)
    # QEMU's own iPXE ROM runs the staged iPXE script; GRUB's staged core.0 reads the
    # staged grub.cfg: both entries are proven the same way as pxelinux's.
    for loader, what in (("ipxe", f"ipxe/{profile.name}.ipxe"), ("grub2", "grub/grub.cfg")):
        if loader in profile.loaders:
            extra = boot_pxe(site, profile, timeout=timeout, loader=loader)
            result.evidence.insert(0, f"{what}: marker after {extra.marker_seconds:.1f} s")
            result.variant += f"; {extra.variant}"
    if "grub-efi" in profile.loaders:
        # UEFI: OVMF PXE → shim → Debian's signed GRUB → grub.cfg-01-<mac> → EFI stub
        extra = boot_pxe(site, profile, timeout=timeout, loader="grub-efi", nic="virtio-net-pci",
                         firmware=UEFI)
        result.evidence.insert(0, f"uefi bootx64.efi (shim) → grubx64.efi: marker after "
                               f"{extra.marker_seconds:.1f} s")
        result.variant += f"; uefi {extra.variant}"
    if "grub-efi-unsigned" in profile.loaders:
        # UEFI without shim: OVMF PXE → kbuild's unsigned GRUB EFI → multiboot2 (Xen)
        extra = boot_pxe(site, profile, timeout=timeout, loader="grub-efi-unsigned",
                         nic="virtio-net-pci", firmware=UEFI)
        result.evidence.insert(0, f"uefi grub/x86_64-efi/core.efi (unsigned GRUB): marker after "
                               f"{extra.marker_seconds:.1f} s")
        result.variant += f"; uefi {extra.variant}"
    if profile.secure_boot is not None:
        # Secure Boot on: Microsoft's keys (shim) plus the site certificate in db
        fw = secure_boot_firmware(profile.secure_boot.cert, layout.boot_dir(site, profile) / "grub-efi-sb")
        extra = boot_pxe(site, profile, timeout=timeout, loader="grub-efi", nic="virtio-net-pci",
                         firmware=fw)
        result.evidence.insert(0, f"uefi secure boot (site key in db): marker after "
                               f"{extra.marker_seconds:.1f} s")
        result.variant += f"; uefi-sb {extra.variant}"
    return result
