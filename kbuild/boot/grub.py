"""GRUB 2 network-boot configuration (grub.cfg and per-host grub.cfg-01-<mac>)."""
from __future__ import annotations

import re
from collections.abc import Sequence

from kbuild.boot.draft import Draft, pick, shell_words, statements
from kbuild.boot.entry import GENERATED, BootEntry, BootSpec
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


# ``platform_of`` values that are not a $grub_platform name: a multiboot2 entry runs in
# GRUB's BIOS image and in an EFI image with multiboot2 (kbuild/boot/grub_image.py sets
# kb_multiboot2 in its embedded config; Debian's signed image has no multiboot2)
_PLATFORM_TEST = {"multiboot2": '"$grub_platform" = pc -o "$kb_multiboot2" = yes'}


def menu_config(entries: Sequence[BootEntry], default: str | None, timeout_s: int = 3,
                efi_lookup: bool = False, platform_of: dict[str, str] | None = None) -> str:
    """The menu every GRUB image reads (``grub/grub.cfg``). ``efi_lookup`` adds the per-host
    lookup that Debian's signed EFI image does not do itself; ``platform_of`` maps a label to
    the one ``$grub_platform`` (``pc`` or ``efi``) its entry is offered on, or
    ``multiboot2`` (pc, or an EFI image with multiboot2)."""
    if not entries:
        raise UserError("no GRUB entries to write")
    text = "\n".join(_header(default or entries[0].label, timeout_s))
    if efi_lookup:
        text += efi_host_lookup()
    for e in entries:
        only = (platform_of or {}).get(e.label)
        body = menuentry(e)
        if only:
            test = _PLATFORM_TEST.get(only) or f'"$grub_platform" = {only}'
            body = (f"if [ {test} ]; then\n"
                    + "".join("    " + line + "\n" for line in body.splitlines()) + "fi\n")
        text += body
    return text


# The signed grubnetx64 has regexp but no arithmetic: the hex digits of an octet come
# from a table ":0=00:1=01:...:255=FF:" matched with the octet.
_HEX_TABLE = ":" + ":".join(f"{n}={n:02X}" for n in range(256)) + ":"
_OCTET = "([0-9a-f][0-9a-f])"


def efi_host_lookup() -> str:
    """grub.cfg lines that load the client's own file on UEFI, in the order of
    :func:`kbuild.boot.lookup.grub_efi_lookup_order`: ``grub.cfg-01-<mac>``, then
    ``grub.cfg-<HEX IP>``; with neither, the menu below is shown. Debian's signed
    ``grubnetx64`` does not search these names itself (its built-in config reads
    ``$prefix/grub.cfg``); GRUB's BIOS image does, before it reads this file."""
    mac_re = "^" + ":".join([_OCTET] * 6) + "$"
    ip_re = "^" + "\\.".join(["([0-9]+)"] * 4) + "$"
    m = " ".join(f"--set={i}:kb_m{i}" for i in range(1, 7))
    ip = " ".join(f"--set={i}:kb_i{i}" for i in range(1, 5))
    lines = [
        "# UEFI: the signed GRUB reads only this file; load the host's own file by MAC, then IP",
        # once: a host file that is a copy of this menu must not look itself up again
        'if [ "$grub_platform" = efi ]; then',
        '  if [ -z "$kb_host_lookup" ]; then',
        "    set kb_host_lookup=done",
        "    export kb_host_lookup",
        f"    regexp {m} '{mac_re}' \"$net_default_mac\"",
        '    if [ -n "$kb_m6" ]; then',
        '        configfile "$prefix/grub.cfg-01-$kb_m1-$kb_m2-$kb_m3-$kb_m4-$kb_m5-$kb_m6"',
        "    fi",
        f"    regexp {ip} '{ip_re}' \"$net_default_ip\"",
        f"    set kb_hex='{_HEX_TABLE}'",
    ]
    for i in range(1, 5):
        lines.append(f'    regexp --set=1:kb_h{i} ":${{kb_i{i}}}=([0-9A-F][0-9A-F]):" "$kb_hex"')
    lines += ['    if [ -n "$kb_h4" ]; then',
              '        configfile "$prefix/grub.cfg-$kb_h1$kb_h2$kb_h3$kb_h4"',
              "    fi",
              "  fi",
              "fi",
              ""]
    return "\n".join(lines) + "\n"


def host_config(entry: BootEntry) -> str:
    return "\n".join(_header(entry.label, 0)) + menuentry(entry)


_MENUENTRY = re.compile(r"""^menuentry\s+(?:'([^']*)'|"([^"]*)"|(\S+))""")


_MENU_ID = re.compile(r"""\s--id[ =](?:'([^']*)'|"([^"]*)"|([^\s{]+))""")


_GRUB_DEFAULT = re.compile(r"""^set\s+default\s*=\s*["']?([^"'\s]*)""")


def _drop_placeholder(args: list[str]) -> list[str]:
    # grub-mkconfig's Xen entries put a dummy first word where the image name goes
    return args[1:] if args and args[0] == "placeholder" else args


def read_grub2(text: str, shown: str, label: str | None) -> BootSpec:
    entries: list[Draft] = []
    default = None
    current: Draft | None = None
    for lineno, line in statements(text):
        m = _GRUB_DEFAULT.match(line)
        if m:
            default = m.group(1)
            continue
        m = _MENUENTRY.match(line)
        if m:
            current = Draft(label=next(g for g in m.groups() if g is not None), line=lineno)
            ident = _MENU_ID.search(line)
            if ident:
                current.ident = next(g for g in ident.groups() if g is not None)
            entries.append(current)
            continue
        if current is None:
            continue
        word, _, rest = line.partition(" ")
        words = [w for w in shell_words(rest) if not w.startswith("--")]
        if not words:
            continue
        if word in ("linux", "linux16", "linuxefi"):
            current.kernel, current.args = words[0], words[1:]
            current.extra = len("BOOT_IMAGE=") + len(words[0]) + 1
        elif word in ("initrd", "initrd16", "initrdefi"):
            current.initrd = True
        elif word in ("multiboot2", "multiboot"):
            current.hypervisor = words[0]
            current.hypervisor_args = _drop_placeholder(words[1:])
        elif word in ("module2", "module"):
            current.modules.append(words)
    for e in entries:
        if e.hypervisor and e.modules:
            e.kernel = e.modules[0][0]
            e.args = _drop_placeholder(e.modules[0][1:])
            e.initrd = len(e.modules) > 1
    return pick(entries, label, [default], shown, "menuentry", "grub2")
