"""What the readers of each loader's entry files share: an entry while its file is
read (:class:`Draft`), choosing the entry the loader boots, and line handling."""
from __future__ import annotations

import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field

from kbuild.boot.cmdline import KernelCmdline
from kbuild.boot.entry import BootSpec
from kbuild.errors import UserError
from kbuild.util.versions import parse_number


@dataclass
class Draft:
    """An entry while its file is being read."""

    label: str
    line: int
    ident: str | None = None        # GRUB's --id
    kernel: str | None = None
    args: list[str] = field(default_factory=list)
    append: list[str] | None = None
    initrd: bool = False
    ipappend: int = 0
    hypervisor: str | None = None
    hypervisor_args: list[str] = field(default_factory=list)
    modules: list[list[str]] = field(default_factory=list)
    extra: int = 0
    multiboot: int | None = None
    notes: list[str] = field(default_factory=list)

    def spec(self, shown: str, fmt: str, labels: list[str]) -> BootSpec:
        cmd = KernelCmdline.from_args(self.args)
        return BootSpec(cmdline=cmd, source=f"{shown}:{self.line}", format=fmt, label=self.label,
                        kernel=self.kernel, initrd=self.initrd or cmd.has("initrd"),
                        hypervisor=self.hypervisor, hypervisor_args=tuple(self.hypervisor_args),
                        extra_bytes=self.extra, multiboot_bytes=self.multiboot,
                        notes=tuple(self.notes), labels=tuple(labels))


def pick(entries: list[Draft], label: str | None, defaults: list[str | None], shown: str,
          what: str, fmt: str) -> BootSpec:
    """The entry named by ``label``, else by the first of ``defaults`` that names one
    (a label, an id or an index), else the first entry with a kernel."""
    labels = [e.label for e in entries]
    usable = [e for e in entries if e.kernel]
    names = [d for d in defaults if d]
    if not usable:
        raise UserError(f"no {what} with a kernel in this file", path=shown)
    chosen = usable[0]
    if label is not None:
        found = [e for e in usable if label in (e.label, e.ident)]
        if not found:
            raise UserError(f"no {what} {label!r}", path=shown, hint="entries: " + ", ".join(labels))
        chosen = found[0]
    else:
        for name in names:
            by_name = [e for e in usable if name in (e.label, e.ident)]
            if by_name:
                chosen = by_name[0]
                break
            index = parse_number(name)
            if index is not None and index < len(entries) and entries[index].kernel:
                chosen = entries[index]
                break
    return chosen.spec(shown, fmt, labels)


def split_on(args: list[str], sep: str) -> list[list[str]]:
    parts: list[list[str]] = [[]]
    for a in args:
        if a == sep:
            parts.append([])
        else:
            parts[-1].append(a)
    return parts


def statements(text: str) -> Iterator[tuple[int, str]]:
    """(line number, stripped line) of every line that is neither blank nor a comment."""
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield lineno, line


def shell_words(rest: str) -> list[str]:
    try:
        return shlex.split(rest, comments=False, posix=True)
    except ValueError:
        return rest.split()
