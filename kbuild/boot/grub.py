"""GRUB 2 network-boot configuration (grub.cfg and per-host grub.cfg-01-<mac>)."""
from __future__ import annotations

from collections.abc import Sequence

from kbuild.boot.entry import GENERATED, BootEntry
from kbuild.errors import UserError

_SPECIAL = set(" \t\n\"'\\$;|&<>(){}[]#")


def quote_arg(arg: str) -> str:
    """Quote one word for grub.cfg's shell-like lexer (single quotes, no expansion)."""
    if "\n" in arg:
        raise UserError(f"GRUB argument {arg!r} contains a line break")
    if arg and not (set(arg) & _SPECIAL):
        return arg
    return "'" + arg.replace("'", "'\\''") + "'"


def _words(args: Sequence[str]) -> str:
    return " ".join(quote_arg(a) for a in args)


def menuentry(e: BootEntry) -> str:
    lines = [f"menuentry {quote_arg(e.title)} --id {quote_arg(e.label)} {{"]
    if e.hypervisor:
        # Xen and the dom0 kernel treat the first word of a multiboot command
        # line as the image name, hence GRUB's customary "placeholder".
        mb, mod = ("multiboot2", "module2") if e.multiboot2 else ("multiboot", "module")
        lines.append(f"    {mb} /{e.hypervisor} placeholder {_words(e.hypervisor_args)}".rstrip())
        lines.append(f"    {mod} /{e.kernel} placeholder {_words(e.kernel_args)}".rstrip())
    else:
        lines.append(f"    linux /{e.kernel} {_words(e.kernel_args)}".rstrip())
    lines.append("}")
    return "\n".join(lines) + "\n"


def _header(default: str, timeout_s: int) -> list[str]:
    return [f"# {GENERATED}",
            "insmod gzio",  # Xen is staged gzipped; multiboot loads it through gzio
            "serial --unit=0 --speed=115200",
            "terminal_input serial console",
            "terminal_output serial console",
            f"set default={quote_arg(default)}",
            f"set timeout={timeout_s}",
            ""]


def menu_config(entries: Sequence[BootEntry], default: str | None, timeout_s: int = 3) -> str:
    if not entries:
        raise UserError("no GRUB entries to write")
    return "\n".join(_header(default or entries[0].label, timeout_s)) + "\n".join(
        menuentry(e) for e in entries)


def host_config(entry: BootEntry) -> str:
    return "\n".join(_header(entry.label, 0)) + menuentry(entry)
