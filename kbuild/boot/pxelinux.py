"""PXELINUX configuration files (pxelinux.cfg/default and per-host files)."""
from __future__ import annotations

from collections.abc import Sequence

from kbuild.boot.entry import GENERATED, BootEntry
from kbuild.errors import UserError

# PXELINUX >= 5 loads these from the TFTP root beside pxelinux.0.
CORE_FILES = ("pxelinux.0", "ldlinux.c32")
MENU_FILES = ("menu.c32", "libutil.c32")
MBOOT_FILES = ("mboot.c32", "libcom32.c32")

# syslinux's config parser reads lines of at most this many bytes.
MAX_LINE = 4096


def _check_arg(entry: BootEntry, arg: str) -> None:
    if "\n" in arg or "\r" in arg:
        raise UserError(f"entry {entry.label!r}: argument {arg!r} contains a line break")


def label_block(entry: BootEntry, ipappend: int = 2) -> str:
    for arg in (*entry.kernel_args, *entry.hypervisor_args):
        _check_arg(entry, arg)
    lines = [f"LABEL {entry.label}", f"  MENU LABEL {entry.title}"]
    if entry.hypervisor:
        # mboot.c32 takes: hypervisor [args] --- kernel [args] [--- module ...]
        append = " ".join([entry.hypervisor, *entry.hypervisor_args, "---", entry.kernel,
                           *entry.kernel_args])
        lines += ["  KERNEL mboot.c32", f"  APPEND {append}"]
    else:
        lines += [f"  KERNEL {entry.kernel}", f"  APPEND {entry.cmdline}"]
        if ipappend:
            # IPAPPEND 2 adds BOOTIF=01-<mac>: which NIC PXE used, for multi-NIC hosts.
            lines.append(f"  IPAPPEND {ipappend}")
    for line in lines:
        if len(line.encode()) >= MAX_LINE:
            raise UserError(f"entry {entry.label!r}: line longer than PXELINUX's {MAX_LINE} bytes")
    return "\n".join(lines) + "\n"


def needed_files(entries: Sequence[BootEntry], menu: bool) -> tuple[str, ...]:
    files = list(CORE_FILES)
    if menu:
        files += MENU_FILES
    if any(e.hypervisor for e in entries):
        files += MBOOT_FILES
    return tuple(dict.fromkeys(files))


def menu_config(entries: Sequence[BootEntry], default: str | None, timeout_s: int = 3,
                title: str = "kbuild diskless boot") -> str:
    """pxelinux.cfg/default: a menu of every entry, booting ``default`` on timeout."""
    if not entries:
        raise UserError("no boot entries to write", hint="build at least one profile first")
    default = default or entries[0].label
    out = [f"# {GENERATED}",
           "SERIAL 0 115200",
           "UI menu.c32",
           f"MENU TITLE {title}",
           "PROMPT 0",
           f"TIMEOUT {timeout_s * 10}",
           f"ONTIMEOUT {default}",
           f"DEFAULT {default}",
           ""]
    for e in entries:
        out.append(label_block(e))
    return "\n".join(out)


def host_config(entry: BootEntry) -> str:
    """A per-host file: boots its one entry straight away (no menu, no wait)."""
    return "\n".join([f"# {GENERATED}", f"# host {entry.host}", "SERIAL 0 115200",
                      f"DEFAULT {entry.label}", "PROMPT 0", "TIMEOUT 0", "", label_block(entry)])
