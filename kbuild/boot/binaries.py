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
    # UEFI (x86-64). shim is the DHCP boot file and loads grubx64.efi and mmx64.efi from
    # its own directory: these are the names shim expects, not the packages' names.
    "bootx64.efi": (("/usr/lib/shim/shimx64.efi.signed",), "shim-signed"),
    "grubx64.efi": (("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed",), "grub-efi-amd64-signed"),
    "mmx64.efi": (("/usr/lib/shim/mmx64.efi.signed",), "shim-helpers-amd64-signed"),
    "ipxe.efi": (("/usr/lib/ipxe/ipxe.efi", "/boot/ipxe.efi"), "ipxe"),
    "snponly.efi": (("/usr/lib/ipxe/snponly.efi",), "ipxe"),
    "syslinux.efi": (("/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi",), "syslinux-efi"),
    "ldlinux.e64": (("/usr/lib/syslinux/modules/efi64/ldlinux.e64",), "syslinux-common"),
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


GRUB_PC_MODULES = Path("/usr/lib/grub/i386-pc")


def grub_netboot_files(cache: Path) -> dict[str, Path]:
    """GRUB 2's BIOS network boot image and modules, as ``grub-mknetdir`` lays them out
    (``grub/i386-pc/core.0`` + ``*.mod``; core.0 reads ``grub/grub.cfg`` from the TFTP
    server). Generated once per GRUB installation and cached, so publishing stays
    byte-for-byte stable. Returns relpath -> file."""
    import hashlib
    import os
    import shutil
    import subprocess

    tool = shutil.which("grub-mknetdir")
    if tool is None or not GRUB_PC_MODULES.is_dir():
        raise InfraError("grub-mknetdir or /usr/lib/grub/i386-pc not found",
                         hint="install grub-pc-bin (scripts/setup does)")
    ident = hashlib.sha256()
    for p in sorted(GRUB_PC_MODULES.iterdir()):
        st = p.stat()
        ident.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    out = cache / f"grub-netdir-{ident.hexdigest()[:16]}"
    if not (out / "grub" / "i386-pc" / "core.0").is_file():
        tmp = cache / f".{out.name}.{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        r = subprocess.run([tool, f"--net-directory={tmp}", "--subdir=grub", "-d", str(GRUB_PC_MODULES)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise InfraError(f"grub-mknetdir failed: {r.stderr.strip()[-300:]}")
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    return {str(p.relative_to(out)): p for p in sorted((out / "grub").rglob("*")) if p.is_file()}
