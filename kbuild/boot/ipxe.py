"""iPXE scripts: one per profile or host, and a menu."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from kbuild.boot.cmdline import split_args
from kbuild.boot.draft import Draft, pick, statements
from kbuild.boot.entry import GENERATED, BootEntry, BootSpec
from kbuild.errors import UserError

# iPXE's multiboot loader keeps all command lines (each prefixed with the
# image URI) in one 512-byte buffer (src/arch/x86/image/multiboot.c).
MULTIBOOT_CMDLINE_MAX = 512


def _check(args: Sequence[str], label: str) -> None:
    for a in args:
        if "\n" in a or " " in a:
            raise UserError(f"iPXE entry {label!r}: argument {a!r} cannot be passed")


def multiboot_cmdline_bytes(e: BootEntry, base_uri: str = "") -> int:
    assert e.hypervisor is not None
    hyp = " ".join([base_uri + e.hypervisor, *e.hypervisor_args])
    ker = " ".join([base_uri + e.kernel, *e.kernel_args])
    return len(hyp) + 1 + len(ker) + 1


def commands(e: BootEntry, hypervisor_plain: str | None = None,
             base_uri: str = "tftp://0.0.0.0", http_base: str | None = None) -> list[str]:
    """iPXE commands; paths start with '/' so they resolve against the server root,
    not against the directory of the script. With ``http_base`` (the site's, "/"-ended)
    kernel and hypervisor are fetched from there over HTTP instead."""
    _check(e.kernel_args, e.label)
    _check(e.hypervisor_args, e.label)
    prefix = http_base or "/"
    kernel = prefix + e.kernel
    if e.hypervisor:
        hyp = prefix + (hypervisor_plain or e.hypervisor)
        hyp_rel = hypervisor_plain or e.hypervisor
        size = multiboot_cmdline_bytes(dataclasses.replace(e, hypervisor=hyp_rel),
                                       http_base or base_uri + "/")
        if size > MULTIBOOT_CMDLINE_MAX:
            raise UserError(f"iPXE entry {e.label!r}: multiboot command lines take {size} bytes, "
                            f"iPXE allows {MULTIBOOT_CMDLINE_MAX}",
                            hint="shorten the kernel arguments or boot Xen through pxelinux/GRUB")
        return [" ".join(["kernel", hyp, *e.hypervisor_args]),
                " ".join(["module", kernel, *e.kernel_args]), "boot"]
    return [" ".join(["kernel", kernel, *e.kernel_args]), "boot"]


def script(e: BootEntry, hypervisor_plain: str | None = None, base_uri: str = "tftp://0.0.0.0",
           http_base: str | None = None) -> str:
    return "\n".join(["#!ipxe", f"# {GENERATED}", f"echo kbuild: {e.title}",
                      *commands(e, hypervisor_plain, base_uri, http_base)]) + "\n"


def menu_script(entries: Sequence[BootEntry], default: str | None, timeout_s: int = 3) -> str:
    if not entries:
        raise UserError("no iPXE entries to write")
    default = default or entries[0].label
    lines = ["#!ipxe", f"# {GENERATED}",
             "# a host with its own script boots it straight away",
             "chain --autofree /ipxe/${mac:hexhyp}.ipxe ||",
             "menu kbuild diskless boot"]
    lines += [f"item {e.label} {e.title}" for e in entries]
    lines += [f"choose --default {default} --timeout {timeout_s * 1000} target && "
              "chain ${target}.ipxe || shell", ""]
    return "\n".join(lines)


def read_ipxe(text: str, shown: str, label: str | None) -> BootSpec:
    entries: list[Draft] = []
    section = None
    current: Draft | None = None
    for lineno, line in statements(text):
        if line.startswith(":"):
            section = line[1:].split()[0] if len(line) > 1 else None
            current = None
            continue
        words = split_args(line)
        word = words[0]
        rest = [w for w in words[1:] if not w.startswith("--")]
        if word in ("kernel", "imgselect", "imgload", "chain") and rest:
            uri = rest[0]
            if word == "chain" and (len(rest) == 1 or uri.endswith((".ipxe", ".cfg", ".php"))):
                continue      # chaining to another script, not to a kernel
            current = Draft(label=section or f"entry{len(entries) + 1}", line=lineno,
                             kernel=uri, args=rest[1:])
            entries.append(current)
        elif word in ("initrd", "imgfetch", "module") and rest and current is not None:
            current.modules.append(rest)
        elif word == "imgargs" and rest and current is not None:
            current.args = rest[1:]
        elif word == "boot":
            current = None
    for e in entries:
        kernel = e.kernel or ""
        if "xen" in kernel.rsplit("/", 1)[-1].lower() and e.modules:
            # multiboot: the image is Xen, the first module the dom0 kernel; iPXE
            # prefixes every command line with its image URI in one buffer
            e.multiboot = sum(len(" ".join(m)) + 1 for m in [[kernel, *e.args], *e.modules])
            e.hypervisor, e.hypervisor_args = kernel, e.args
            e.kernel, e.args = e.modules[0][0], e.modules[0][1:]
            e.initrd = len(e.modules) > 1
        else:
            e.initrd = bool(e.modules)
    return pick(entries, label, [], shown, "iPXE entry", "ipxe")
