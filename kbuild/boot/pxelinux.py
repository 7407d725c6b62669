"""PXELINUX configuration files (pxelinux.cfg/default and per-host files)."""
from __future__ import annotations

from collections.abc import Sequence

from kbuild.boot.cmdline import split_args
from kbuild.boot.draft import Draft, pick, split_on, statements
from kbuild.boot.entry import GENERATED, BootEntry, BootSpec
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


# Longest strings PXELINUX adds for IPAPPEND 1 and 2 (the real ones depend on the lease).
IPAPPEND_IP = "ip=255.255.255.255:255.255.255.255:255.255.255.255:255.255.255.255"


IPAPPEND_BOOTIF = "BOOTIF=01-ff-ff-ff-ff-ff-ff"


def read_pxelinux(text: str, shown: str, label: str | None) -> BootSpec:
    entries: list[Draft] = []
    global_append: list[str] = []
    default = ontimeout = None
    current: Draft | None = None
    in_text = False
    for lineno, line in statements(text):
        if in_text:
            in_text = line.lower() != "endtext"
            continue
        word, _, rest = line.partition(" ")
        word = word.lower()
        rest = rest.strip()
        first = rest.split()[0] if rest else None
        if word == "text":
            in_text = True
        elif word == "label":
            current = Draft(label=rest, line=lineno)
            entries.append(current)
        elif word == "default":
            default = first
        elif word == "ontimeout":
            ontimeout = first
        elif word in ("kernel", "linux") and current is not None:
            current.kernel = first
        elif word == "append":
            args = split_args(rest) if rest != "-" else []
            if current is None:
                global_append = args
            else:
                current.append = args
        elif word == "initrd" and current is not None:
            current.initrd = True
        elif (word in ("ipappend", "sysappend") and current is not None and first
              and first.isascii() and len(first) <= 12):   # ASCII, bounded: never a huge int
            try:
                current.ipappend = int(first, 0)
            except ValueError:
                pass
    for e in entries:
        args = list(e.append if e.append is not None else global_append)
        kernel = e.kernel or ""
        if kernel.lower().endswith("mboot.c32"):
            # mboot.c32: hypervisor [args] --- kernel [args] [--- initrd]
            parts = split_on(args, "---")
            e.hypervisor = parts[0][0] if parts[0] else None
            e.hypervisor_args = parts[0][1:]
            dom0 = parts[1] if len(parts) > 1 else []
            e.kernel = dom0[0] if dom0 else None
            args = dom0[1:]
            e.initrd = e.initrd or len(parts) > 2
        else:
            e.extra = len("BOOT_IMAGE=") + len(kernel) + 1
        if e.ipappend & 1:
            args.append(IPAPPEND_IP)
            e.notes.append("IPAPPEND 1: PXELINUX appends ip=CLIENT:SERVER:GW:MASK from the PXE "
                           "lease (a static address; measured at its longest)")
        if e.ipappend & 2:
            args.append(IPAPPEND_BOOTIF)
        e.args = args
    return pick(entries, label, [default, ontimeout], shown, "LABEL", "pxelinux")
