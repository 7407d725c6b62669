"""Legacy GRUB (0.97 / pxegrub) menu.lst: the format diskless Xen pools used."""
from __future__ import annotations

from collections.abc import Sequence

from kbuild.boot.entry import GENERATED, BootEntry
from kbuild.errors import UserError


def _check(args: Sequence[str]) -> None:
    for a in args:
        if "\n" in a or " " in a:
            raise UserError(f"legacy GRUB cannot pass the argument {a!r} (no quoting)")


def entry_block(e: BootEntry) -> str:
    _check(e.kernel_args)
    _check(e.hypervisor_args)
    lines = [f"title {e.title}"]
    if e.hypervisor:
        lines.append(" ".join(["kernel", f"/{e.hypervisor}", *e.hypervisor_args]))
        lines.append(" ".join(["module", f"/{e.kernel}", *e.kernel_args]))
    else:
        lines.append(" ".join(["kernel", f"/{e.kernel}", *e.kernel_args]))
    return "\n".join(lines) + "\n"


def menu_config(entries: Sequence[BootEntry], default: str | None, timeout_s: int = 3) -> str:
    if not entries:
        raise UserError("no legacy GRUB entries to write")
    labels = [e.label for e in entries]
    index = labels.index(default) if default in labels else 0
    head = [f"# {GENERATED}", f"default {index}", f"timeout {timeout_s}",
            "serial --unit=0 --speed=115200", f"terminal --timeout={timeout_s} serial console", ""]
    return "\n".join(head) + "\n".join(entry_block(e) for e in entries)


def host_config(entry: BootEntry) -> str:
    head = [f"# {GENERATED}", f"# host {entry.host}", "default 0", "timeout 0",
            "serial --unit=0 --speed=115200", "terminal serial console", ""]
    return "\n".join(head) + entry_block(entry)
