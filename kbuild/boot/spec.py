"""What one boot entry read back gives the kernel (:class:`BootSpec`), whatever loader it
is written for: what ``kbuild verify`` checks. Apart from :mod:`kbuild.boot.entry` so that
verify imports only this and :mod:`kbuild.boot.cmdline` (no dataclasses, no site model)."""
from __future__ import annotations

from kbuild.boot.cmdline import KernelCmdline, check_cmdline_text
from kbuild.util.record import record


@record(frozen=True)
class BootSpec:
    """What one boot entry gives the kernel, whatever loader it is written for."""

    cmdline: KernelCmdline
    source: str                     # "path:line" of the entry, or "--cmdline"
    format: str                     # pxelinux grub2 grub-legacy ipxe cmdline
    label: str | None = None
    kernel: str | None = None       # the kernel image the entry loads
    initrd: bool = False
    hypervisor: str | None = None   # Xen: the hypervisor image
    hypervisor_args: tuple[str, ...] = ()
    extra_bytes: int = 0            # what the loader adds to the command line (BOOT_IMAGE=...)
    multiboot_bytes: int | None = None
    notes: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()

    @property
    def cmdline_bytes(self) -> int:
        return len(self.cmdline.text.encode()) + self.extra_bytes


def entry_from_cmdline(text: str, source: str = "--cmdline", *, dom0: bool = False) -> BootSpec:
    check_cmdline_text(text, source)
    cmd = KernelCmdline.parse(text)
    return BootSpec(cmdline=cmd, source=source, format="cmdline",
                    initrd=cmd.has("initrd"), hypervisor="xen" if dom0 else None)
