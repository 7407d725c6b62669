"""Read any boot entry file: PXELINUX, GRUB 2, GRUB legacy (menu.lst), iPXE, a UML
launch script or a bare command line, so ``kbuild verify --entry FILE`` can check the
entry against the kernel's config. Each format's reader lives beside its writer.
"""
from __future__ import annotations

from pathlib import Path

from kbuild.boot import grub, grub_legacy, ipxe, pxelinux, uml
from kbuild.boot.cmdline import KernelCmdline, check_cmdline_text
from kbuild.boot.entry import BootSpec
from kbuild.errors import UserError
from kbuild.util.files import decode_text, read_input


def read_entry(path: str | Path, label: str | None = None) -> BootSpec:
    """Read a PXELINUX, GRUB 2, GRUB legacy or iPXE entry file (or a bare command line)."""
    shown = str(path)
    data = read_input(path, shown, "a boot entry", "check the --entry path")
    text = decode_text(data, shown, "a boot entry",
                       "pass a pxelinux.cfg file, grub.cfg, menu.lst, an iPXE script "
                       "or a file holding a kernel command line")
    return parse_entry(text, shown, label)


def detect_format(text: str) -> str | None:
    lines = [ln.strip() for ln in text.splitlines()]
    if lines and lines[0].startswith("#!") and "sh" in lines[0] and uml.uml_exec(text) is not None:
        return "uml"
    meaningful = [ln for ln in lines if ln and not ln.startswith("#")]
    if lines and lines[0].lower().startswith(("#!ipxe", "#!gpxe")):
        return "ipxe"
    words = [ln.split(None, 1)[0].lower() for ln in meaningful]
    if "menuentry" in words or any(w in ("linux", "linux16", "linuxefi", "multiboot2") for w in words):
        return "grub2"
    if "title" in words:
        return "grub-legacy"
    if any(w in ("label", "append", "kernel", "default", "ipappend", "sysappend") for w in words):
        return "pxelinux"
    if meaningful and any("=" in tok for ln in meaningful for tok in ln.split()):
        return "cmdline"
    return None


def parse_entry(text: str, shown: str, label: str | None = None) -> BootSpec:
    fmt = detect_format(text)
    if fmt == "uml":
        return uml.read_uml(text, shown)
    if fmt == "ipxe":
        return ipxe.read_ipxe(text, shown, label)
    if fmt == "grub2":
        return grub.read_grub2(text, shown, label)
    if fmt == "grub-legacy":
        return grub_legacy.read_grub_legacy(text, shown, label)
    if fmt == "pxelinux":
        return pxelinux.read_pxelinux(text, shown, label)
    if fmt == "cmdline":
        lines = [(i, ln.strip()) for i, ln in enumerate(text.splitlines(), 1)
                 if ln.strip() and not ln.strip().startswith("#")]
        first = lines[0][0] if lines else 1
        for lineno, ln in enumerate(text.split("\n"), 1):   # splitlines() eats \f, \v, \x1c...
            check_cmdline_text(ln.rstrip("\r"), shown, lineno)
        cmd = KernelCmdline.parse(" ".join(ln for _, ln in lines))
        return BootSpec(cmdline=cmd, source=f"{shown}:{first}", format="cmdline",
                        initrd=cmd.has("initrd"))
    raise UserError("not a boot entry: no PXELINUX, GRUB or iPXE keywords and no kernel "
                    "arguments (key=value)", path=shown,
                    hint="pass a pxelinux.cfg file, grub.cfg, menu.lst, an iPXE script "
                         "(#!ipxe) or a file holding a kernel command line")
