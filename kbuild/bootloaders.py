"""Boot loader binaries taken from the system's Debian packages."""
from __future__ import annotations

from pathlib import Path

from kbuild.errors import InfraError

# file name in the TFTP root -> (candidate locations, Debian package)
_FILES: dict[str, tuple[tuple[str, ...], str]] = {
    "pxelinux.0": (("/usr/lib/PXELINUX/pxelinux.0",), "pxelinux"),
    "lpxelinux.0": (("/usr/lib/PXELINUX/lpxelinux.0",), "pxelinux"),
    "ldlinux.c32": (("/usr/lib/syslinux/modules/bios/ldlinux.c32",), "syslinux-common"),
    "menu.c32": (("/usr/lib/syslinux/modules/bios/menu.c32",), "syslinux-common"),
    "libutil.c32": (("/usr/lib/syslinux/modules/bios/libutil.c32",), "syslinux-common"),
    "libcom32.c32": (("/usr/lib/syslinux/modules/bios/libcom32.c32",), "syslinux-common"),
    "mboot.c32": (("/usr/lib/syslinux/modules/bios/mboot.c32",), "syslinux-common"),
    "undionly.kpxe": (("/usr/lib/ipxe/undionly.kpxe",), "ipxe"),
    "ipxe.pxe": (("/usr/lib/ipxe/ipxe.pxe",), "ipxe"),
}


def locate(name: str) -> Path:
    """Path of a boot loader file on this machine, or an error naming the package."""
    try:
        candidates, package = _FILES[name]
    except KeyError:
        raise InfraError(f"kbuild does not know the boot loader file {name!r}") from None
    for c in candidates:
        p = Path(c)
        if p.is_file():
            return p
    raise InfraError(f"{name} not found (looked in {', '.join(candidates)})",
                     hint=f"install the Debian package {package} (scripts/setup does)")
