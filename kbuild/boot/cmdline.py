"""Kernel command lines, and the boot entries that carry them.

Parses what the kernel parses (``nfsroot=``, ``ip=``, quoting, ``--``) the
way Linux 6.1 does, and reads the kernel arguments out of PXELINUX, GRUB 2,
GRUB legacy (menu.lst) and iPXE entries, Xen multiboot entries included, so
``kbuild verify --entry FILE`` can check the entry against the kernel's config.
Nothing here prints or decides pass/fail: that is :mod:`kbuild.verify`.
"""
from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kbuild.errors import UserError
from kbuild.util.files import read_input

_KSPACE = " \t\n\v\f\r"
# Longest strings PXELINUX adds for IPAPPEND 1 and 2 (the real ones depend on the lease).
IPAPPEND_IP = "ip=255.255.255.255:255.255.255.255:255.255.255.255:255.255.255.255"
IPAPPEND_BOOTIF = "BOOTIF=01-ff-ff-ff-ff-ff-ff"


def split_args(text: str) -> list[str]:
    """Split a command line into arguments like the kernel's ``next_arg``.

    Whitespace separates arguments except inside double quotes; the quotes
    stay in the token (``param_value`` strips them).
    """
    out = []
    i = 0
    n = len(text)
    while i < n:
        while i < n and text[i] in _KSPACE:
            i += 1
        if i >= n:
            break
        start = i
        in_quote = False
        while i < n and (in_quote or text[i] not in _KSPACE):
            if text[i] == '"':
                in_quote = not in_quote
            i += 1
        out.append(text[start:i])
    return out


def param_key_value(arg: str) -> tuple[str, str | None]:
    """``key=value`` -> (key, value without surrounding quotes); a flag has value None."""
    quoted = arg.startswith('"')
    body = arg[1:] if quoted else arg
    if quoted and body.endswith('"') and "=" not in body:
        body = body[:-1]
    key, eq, value = body.partition("=")
    if not eq:
        return key, None
    if value.startswith('"'):
        value = value[1:]
        if value.endswith('"'):
            value = value[:-1]
    elif quoted and value.endswith('"'):
        value = value[:-1]
    return key, value


@dataclass(frozen=True)
class KernelCmdline:
    """The arguments the kernel sees, split at ``--`` (the rest goes to init)."""

    args: tuple[str, ...]
    init_args: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> KernelCmdline:
        return cls.from_args(split_args(text))

    @classmethod
    def from_args(cls, args: list[str] | tuple[str, ...]) -> KernelCmdline:
        args = list(args)
        if "--" in args:
            cut = args.index("--")
            return cls(tuple(args[:cut]), tuple(args[cut + 1:]))
        return cls(tuple(args))

    @property
    def text(self) -> str:
        parts = list(self.args)
        if self.init_args:
            parts += ["--", *self.init_args]
        return " ".join(parts)

    def params(self) -> list[tuple[str, str | None]]:
        return [param_key_value(a) for a in self.args]

    def get(self, key: str) -> str | None:
        """The last value of ``key=`` (the kernel keeps the last one)."""
        found = None
        for k, v in self.params():
            if k == key and v is not None:
                found = v
        return found

    def all(self, key: str) -> list[str]:
        return [v for k, v in self.params() if k == key and v is not None]

    def has(self, key: str) -> bool:
        return any(k == key for k, _ in self.params())


# ---------------------------------------------------------------------------
# nfsroot=

_QUAD_PREFIX = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?=:|$)")
NFS_ROOT_DEFAULT = "/tftpboot/%s"
NFS_DEF_OPTIONS_LEN = len("vers=4,tcp,rsize=4096,wsize=4096")
_VERSION_FLAGS = {"v2": "2", "v3": "3", "v4": "4", "v4.0": "4.0", "v4.1": "4.1", "v4.2": "4.2"}
_VERSIONS = {"2", "3", "4", "4.0", "4.1", "4.2"}


@dataclass(frozen=True)
class NfsRootArg:
    """``nfsroot=[server-ip:]root-dir[,options]`` as nfsroot.c and ipconfig.c read it."""

    raw: str
    form: str                    # server-path | path | tftpboot-name | bad-server
    server: str | None
    path: str                    # export path ("" = the default /tftpboot/%s)
    options: tuple[str, ...]
    version: str                 # 2, 3, 4, 4.0, 4.1, 4.2 or "default"
    version_option: str | None   # the option that set it
    transport: str               # tcp | udp | rdma | default

    @property
    def effective_path(self) -> str:
        return self.path if self.path and self.path != "default" else NFS_ROOT_DEFAULT


def parse_nfsroot(value: str) -> NfsRootArg:
    # nfs_root_setup(): only '/', ',' or a digit start an address/path; anything
    # else is a name substituted into /tftpboot/%s.
    if not value or not (value[0] in "/," or value[0].isdigit()):
        parms = NFS_ROOT_DEFAULT.replace("%s", value)
        form = "tftpboot-name"
        server = None
    else:
        parms = value
        m = _QUAD_PREFIX.match(parms)
        if m and all(int(g) <= 255 for g in m.groups()):
            server = ".".join(str(int(g)) for g in m.groups())
            parms = parms[m.end():].removeprefix(":")
            form = "server-path"
        elif value[0].isdigit():
            server = None
            form = "bad-server"
        else:
            server = None
            form = "path"
    path, _, rest = parms.partition(",")
    options = tuple(o for o in rest.split(",") if o) if rest else ()
    version, version_option = "default", None
    transport = "default"
    for opt in options:
        key, _, val = opt.partition("=")
        if key in ("vers", "nfsvers") and val in _VERSIONS:
            version, version_option = val, opt
        elif opt in _VERSION_FLAGS:
            version, version_option = _VERSION_FLAGS[opt], opt
        elif opt in ("tcp", "udp", "rdma"):
            transport = opt
        elif key == "proto" and val.rstrip("6") in ("tcp", "udp", "rdma"):
            transport = val.rstrip("6")
    return NfsRootArg(raw=value, form=form, server=server, path=path, options=options,
                      version=version, version_option=version_option, transport=transport)


def nfsroot_option_bytes(arg: NfsRootArg, server: str | None) -> int:
    """Length of the option string nfsroot.c assembles in its 256-byte buffer
    (defaults, then the user's options, then ``nolock,addr=SERVER``)."""
    total = NFS_DEF_OPTIONS_LEN
    user = ",".join(arg.options)
    if user:
        total += 1 + len(user)
    total += 1 + len("nolock,addr=") + len(server or "255.255.255.255")
    return total


def nfsroot_device_bytes(arg: NfsRootArg, server: str | None, nodename: str | None) -> int:
    """Length of ``server-ip:path`` with %s expanded to the node name (IP or hostname)."""
    path = arg.effective_path.replace("%s", nodename or "255.255.255.255")
    return len(server or "255.255.255.255") + 1 + len(path)


# ---------------------------------------------------------------------------
# ip= / nfsaddrs=


@dataclass(frozen=True)
class IpArg:
    """``ip=`` as ip_auto_config_setup() reads it (6.1)."""

    raw: str
    autoconf: str          # dhcp bootp rarp both any static off
    client: str | None = None
    server: str | None = None
    gateway: str | None = None
    netmask: str | None = None
    hostname: str | None = None
    device: str | None = None
    fields: tuple[str, ...] = field(default=())


def _proto(name: str) -> str | None:
    """ic_proto_name(), without the 'is it compiled in' part (that is what verify checks)."""
    if name in ("on", "any"):
        return "any"
    if name.startswith("dhcp"):
        return "dhcp"
    if name in ("bootp", "rarp", "both"):
        return name
    return None


def _quad(text: str) -> str | None:
    m = re.fullmatch(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})", text)
    if not m or not all(int(g) <= 255 for g in m.groups()):
        return None
    if all(int(g) == 0 for g in m.groups()):
        return None          # 0.0.0.0 means "not set"
    return text


def parse_ip(value: str) -> IpArg:
    proto = _proto(value)
    if proto is not None:
        return IpArg(raw=value, autoconf=proto)
    if value in ("", "off", "none"):
        return IpArg(raw=value, autoconf="off")
    fields = tuple(value.split(":"))

    def f(i: int) -> str | None:
        return fields[i] if i < len(fields) and fields[i] else None

    client = _quad(f(0) or "")
    hostname = f(4)
    if hostname and "." in hostname:
        hostname = hostname.split(".", 1)[0]
    auto = f(6)
    if client is not None:
        autoconf = "static"
    elif auto is None:
        autoconf = "any"
    else:
        autoconf = _proto(auto) or "off"
    return IpArg(raw=value, autoconf=autoconf, client=client, server=_quad(f(1) or ""),
                 gateway=_quad(f(2) or ""), netmask=_quad(f(3) or ""), hostname=hostname,
                 device=f(5), fields=fields)


# ---------------------------------------------------------------------------
# Boot entries


@dataclass(frozen=True)
class BootSpec:
    """What one boot entry gives the kernel, whatever loader it is written for."""

    cmdline: KernelCmdline
    source: str                     # "path:line" of the entry, or "--cmdline"
    format: str                     # pxelinux grub2 grub-legacy ipxe cmdline
    label: str | None = None
    kernel: str | None = None       # the kernel image the entry loads
    initrd: bool = False
    hypervisor: str | None = None   # Xen: the hypervisor image
    hypervisor_args: tuple[str, ...] = ()
    extra_bytes: int = 0            # what the loader adds to the command line (BOOT_IMAGE=...)
    multiboot_bytes: int | None = None
    notes: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()

    @property
    def cmdline_bytes(self) -> int:
        return len(self.cmdline.text.encode()) + self.extra_bytes


def entry_from_cmdline(text: str, source: str = "--cmdline", *, dom0: bool = False) -> BootSpec:
    cmd = KernelCmdline.parse(text)
    return BootSpec(cmdline=cmd, source=source, format="cmdline",
                    initrd=cmd.has("initrd"), hypervisor="xen" if dom0 else None)


def read_entry(path: str | Path, label: str | None = None) -> BootSpec:
    """Read a PXELINUX, GRUB 2, GRUB legacy or iPXE entry file (or a bare command line)."""
    shown = str(path)
    data = read_input(path, shown, "a boot entry", "check the --entry path")
    if b"\0" in data[:65536]:
        raise UserError("binary file, not a boot entry", path=shown,
                        hint="pass a pxelinux.cfg file, grub.cfg, menu.lst, an iPXE script "
                             "or a file holding a kernel command line")
    return parse_entry(data.decode("utf-8", errors="replace"), shown, label)


def detect_format(text: str) -> str | None:
    lines = [ln.strip() for ln in text.splitlines()]
    if lines and lines[0].startswith("#!") and "sh" in lines[0] and _uml_exec(text) is not None:
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
        return _uml(text, shown)
    if fmt == "ipxe":
        return _ipxe(text, shown, label)
    if fmt == "grub2":
        return _grub2(text, shown, label)
    if fmt == "grub-legacy":
        return _grub_legacy(text, shown, label)
    if fmt == "pxelinux":
        return _pxelinux(text, shown, label)
    if fmt == "cmdline":
        lines = [(i, ln.strip()) for i, ln in enumerate(text.splitlines(), 1)
                 if ln.strip() and not ln.strip().startswith("#")]
        first = lines[0][0] if lines else 1
        cmd = KernelCmdline.parse(" ".join(ln for _, ln in lines))
        return BootSpec(cmdline=cmd, source=f"{shown}:{first}", format="cmdline",
                        initrd=cmd.has("initrd"))
    raise UserError("not a boot entry: no PXELINUX, GRUB or iPXE keywords and no kernel "
                    "arguments (key=value)", path=shown,
                    hint="pass a pxelinux.cfg file, grub.cfg, menu.lst, an iPXE script "
                         "(#!ipxe) or a file holding a kernel command line")


@dataclass
class _Draft:
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


def _pick(entries: list[_Draft], label: str | None, defaults: list[str | None], shown: str,
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
            if name.isdigit() and int(name) < len(entries) and entries[int(name)].kernel:
                chosen = entries[int(name)]
                break
    return chosen.spec(shown, fmt, labels)


def _split_on(args: list[str], sep: str) -> list[list[str]]:
    parts: list[list[str]] = [[]]
    for a in args:
        if a == sep:
            parts.append([])
        else:
            parts[-1].append(a)
    return parts


def _statements(text: str) -> Iterator[tuple[int, str]]:
    """(line number, stripped line) of every line that is neither blank nor a comment."""
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield lineno, line


def _pxelinux(text: str, shown: str, label: str | None) -> BootSpec:
    entries: list[_Draft] = []
    global_append: list[str] = []
    default = ontimeout = None
    current: _Draft | None = None
    in_text = False
    for lineno, line in _statements(text):
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
            current = _Draft(label=rest, line=lineno)
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
        elif word in ("ipappend", "sysappend") and current is not None and first:
            try:
                current.ipappend = int(first, 0)
            except ValueError:
                pass
    for e in entries:
        args = list(e.append if e.append is not None else global_append)
        kernel = e.kernel or ""
        if kernel.lower().endswith("mboot.c32"):
            # mboot.c32: hypervisor [args] --- kernel [args] [--- initrd]
            parts = _split_on(args, "---")
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
    return _pick(entries, label, [default, ontimeout], shown, "LABEL", "pxelinux")


def _words(rest: str) -> list[str]:
    try:
        return shlex.split(rest, comments=False, posix=True)
    except ValueError:
        return rest.split()


_MENUENTRY = re.compile(r"""^menuentry\s+(?:'([^']*)'|"([^"]*)"|(\S+))""")
_MENU_ID = re.compile(r"""\s--id[ =](?:'([^']*)'|"([^"]*)"|([^\s{]+))""")
_GRUB_DEFAULT = re.compile(r"""^set\s+default\s*=\s*["']?([^"'\s]*)""")


def _drop_placeholder(args: list[str]) -> list[str]:
    # grub-mkconfig's Xen entries put a dummy first word where the image name goes
    return args[1:] if args and args[0] == "placeholder" else args


def _grub2(text: str, shown: str, label: str | None) -> BootSpec:
    entries: list[_Draft] = []
    default = None
    current: _Draft | None = None
    for lineno, line in _statements(text):
        m = _GRUB_DEFAULT.match(line)
        if m:
            default = m.group(1)
            continue
        m = _MENUENTRY.match(line)
        if m:
            current = _Draft(label=next(g for g in m.groups() if g is not None), line=lineno)
            ident = _MENU_ID.search(line)
            if ident:
                current.ident = next(g for g in ident.groups() if g is not None)
            entries.append(current)
            continue
        if current is None:
            continue
        word, _, rest = line.partition(" ")
        words = [w for w in _words(rest) if not w.startswith("--")]
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
    return _pick(entries, label, [default], shown, "menuentry", "grub2")


def _grub_legacy(text: str, shown: str, label: str | None) -> BootSpec:
    entries: list[_Draft] = []
    default = None
    current: _Draft | None = None
    for lineno, line in _statements(text):
        word, _, rest = line.partition(" ")
        word = word.lower()
        rest = rest.strip()
        words = split_args(rest)
        if word == "default" and current is None:
            default = words[0] if words else None
        elif word == "title":
            current = _Draft(label=rest, line=lineno)
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
    return _pick(entries, label, [default], shown, "title", "grub-legacy")


def _ipxe(text: str, shown: str, label: str | None) -> BootSpec:
    entries: list[_Draft] = []
    section = None
    current: _Draft | None = None
    for lineno, line in _statements(text):
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
            current = _Draft(label=section or f"entry{len(entries) + 1}", line=lineno,
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
    return _pick(entries, label, [], shown, "iPXE entry", "ipxe")


def _uml_exec(text: str) -> tuple[int, list[str]] | None:
    """The ``exec BINARY ARGS`` line of a launch script (continuations joined), shell-split."""
    joined: list[tuple[int, str]] = []
    start = None
    buf = ""
    for lineno, raw in enumerate(text.splitlines(), 1):
        if start is None:
            start = lineno
        if raw.rstrip().endswith("\\"):
            buf += raw.rstrip()[:-1] + " "
            continue
        joined.append((start, buf + raw))
        buf, start = "", None
    for lineno, line in joined:
        words = _words(line.strip())
        if len(words) >= 2 and words[0] == "exec":
            return lineno, words[1:]
    return None


def _uml(text: str, shown: str) -> BootSpec:
    found = _uml_exec(text)
    assert found is not None
    lineno, words = found
    binary, args = words[0], [a for a in words[1:] if a not in ("$@", "$*")]
    cmd = KernelCmdline.from_args(args)
    return BootSpec(cmdline=cmd, source=f"{shown}:{lineno}", format="uml", kernel=binary,
                    initrd=cmd.has("initrd"))
