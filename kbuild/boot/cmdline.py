"""Kernel command lines: parsed the way Linux 6.1 parses them (quoting, ``--``,
``nfsroot=``, ``ip=``), with the lengths of the buffers the kernel fills from them.

The boot entries that carry a command line are read by :mod:`kbuild.boot.read`.
Nothing here prints or decides pass/fail: that is :mod:`kbuild.verify`.
"""
from __future__ import annotations

import re

from kbuild.util.record import record

_KSPACE = " \t\n\v\f\r"


# Control bytes (C0 but tab, and DEL) and lone surrogates (how Python hands over argv
# bytes that are not UTF-8) have no place in a kernel command line. The surrogates are
# found by encoding, not in this class: a class with \ud800-\udfff takes re ~1 ms to
# compile, on every `kbuild verify`.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def check_cmdline_text(text: str, where: str, line: int | None = None) -> None:
    """Refuse a command line holding control bytes or bytes that are not UTF-8
    (UserError naming ``where``)."""
    m = _CONTROL.search(text)
    surrogate = None
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:     # only lone surrogates fail to encode
            surrogate = e.start
    if m is None and surrogate is None:
        return
    from kbuild.errors import UserError

    if surrogate is not None and (m is None or surrogate < m.start()):
        raise UserError("not UTF-8 text: not a kernel command line", path=where, line=line,
                        hint="pass the command line as UTF-8 (ASCII in practice)")
    assert m is not None
    raise UserError(f"control byte {m.group()!r} at character {m.start() + 1}: not a kernel "
                    "command line", path=where, line=line,
                    hint="a command line is printable text on one line")


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


@record(frozen=True)
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

_QUAD_PREFIX = re.compile(r"^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})(?=:|$)")
NFS_ROOT_DEFAULT = "/tftpboot/%s"
NFS_DEF_OPTIONS_LEN = len("vers=4,tcp,rsize=4096,wsize=4096")
_VERSION_FLAGS = {"v2": "2", "v3": "3", "v4": "4", "v4.0": "4.0", "v4.1": "4.1", "v4.2": "4.2"}
_VERSIONS = {"2", "3", "4", "4.0", "4.1", "4.2"}


@record(frozen=True)
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
    if not value or not (value[0] in "/," or value[0] in "0123456789"):
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
        elif value[0] in "0123456789":
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


@record(frozen=True)
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
    fields: tuple[str, ...] = ()


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
    m = re.fullmatch(r"([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})", text)
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


