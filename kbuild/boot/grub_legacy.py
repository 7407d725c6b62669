"""Legacy GRUB (0.97 / pxegrub) menu.lst: the format diskless Xen pools used."""
from __future__ import annotations

from collections.abc import Sequence

from kbuild.boot.cmdline import split_args
from kbuild.boot.draft import Draft, pick, statements
from kbuild.boot.entry import GENERATED, BootEntry, BootSpec
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


def read_grub_legacy(text: str, shown: str, label: str | None) -> BootSpec:
    entries: list[Draft] = []
    default = None
    current: Draft | None = None
    for lineno, line in statements(text):
        word, _, rest = line.partition(" ")
        word = word.lower()
        rest = rest.strip()
        words = split_args(rest)
        if word == "default" and current is None:
            default = words[0] if words else None
        elif word == "title":
            current = Draft(label=rest, line=lineno)
            entries.append(current)
        elif current is None or not words and word != "initrd":
            continue
        elif word == "kernel":
            current.kernel, current.args = words[0], words[1:]
        elif word == "initrd":
            current.initrd = True
        elif word == "module":
            current.modules.append(words)
    for e in entries:
        if e.modules and e.kernel:
            # Xen: "kernel" is the hypervisor, the first module the dom0 kernel
            e.hypervisor, e.hypervisor_args = e.kernel, e.args
            e.kernel, e.args = e.modules[0][0], e.modules[0][1:]
            e.initrd = len(e.modules) > 1
    return pick(entries, label, [default], shown, "title", "grub-legacy")
