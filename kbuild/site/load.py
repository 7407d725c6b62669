"""Load and validate ``kbuild.toml``: sources, profiles, hosts, the boot server.

This is the only module that reads the site file. Every problem is reported as
``kbuild.toml:LINE: error: ...`` with the fix, and all problems of one file are
reported together. Unknown keys are errors: a typo must not be ignored.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbuild.errors import InputErrors, UserError
from kbuild.kconfig.environment import IMAGES, known_arches
from kbuild.site.lock import LockEntry, lock_path, read_lock
from kbuild.source.apt import AptConfig, Repository
from kbuild.util.toml import KeyLines, KeyPath, TomlChecker, load_toml

SITE_FILE = "kbuild.toml"
NFS_VERSIONS = ("3", "4", "4.0", "4.1", "4.2")
LOADERS = ("pxelinux", "grub2", "grub-legacy", "ipxe")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


class SiteError(InputErrors):
    """One or more problems in kbuild.toml, all reported together."""


@dataclass(frozen=True)
class Source:
    """One input of the site: a kernel tarball or a plain file (a hypervisor).

    Either a ``url`` source, pinned by its own ``sha256`` (optionally also checked
    against a detached OpenPGP ``signature``), or a ``deb`` source: a Debian
    ``package`` with a range of ``upstream`` versions, resolved against the signed
    package index of ``[apt]`` and locked in kbuild.lock. For a deb source ``sha256``
    and ``filename`` come from the lock (empty until the source was first resolved).
    """

    name: str
    url: str
    sha256: str
    mirrors: tuple[str, ...] = ()
    kind: str = "kernel"          # "kernel" (a tarball to unpack) or "file"
    line: int | None = None
    package: str | None = None    # deb sources: the Debian package
    upstream: str | None = None   # deb sources: accepted upstream versions (a glob: 6.1.*)
    member: str | None = None     # deb sources: the file inside the package (None: the kernel tarball)
    locked: LockEntry | None = None
    signature: str | None = None  # url sources: URL of a detached OpenPGP signature
    keyring: str | None = None    # url sources: keyring file that must have made it
    signed: str = "file"          # what the signature covers: "file", or "xz"/"gz" (the decompressed data)

    @property
    def is_deb(self) -> bool:
        return self.package is not None

    @property
    def urls(self) -> tuple[str, ...]:
        return (self.url, *self.mirrors) if self.url else ()

    @property
    def filename(self) -> str:
        if self.is_deb:
            if self.locked:
                return self.locked.filename
            return (self.member or f"{self.package}.tar.xz").rsplit("/", 1)[-1]
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    def describe(self) -> str:
        if self.is_deb:
            if self.locked:
                return self.locked.describe()
            return f"{self.package} {self.upstream} (not locked yet)"
        return f"{self.filename} (sha256 {self.sha256[:12]}…)"


@dataclass(frozen=True)
class NfsRoot:
    server: str
    path: str
    version: str = "4"
    options: tuple[str, ...] = ("tcp",)

    def argument(self, path: str | None = None) -> str:
        """The ``nfsroot=`` value: server:path,vers=N,options (vers always pinned)."""
        opts = [f"vers={self.version}", *self.options]
        return f"{self.server}:{path or self.path}," + ",".join(opts)


@dataclass(frozen=True)
class XenSpec:
    hypervisor: str                     # a [sources.X] of kind "file"
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class UmlSpec:
    mem: str = "256M"
    transport: str = "vector"           # vector | tuntap
    tap: str = "kbtap0"
    mac: str = "52:54:00:12:34:56"


@dataclass(frozen=True)
class Profile:
    name: str
    source: str
    arch: str
    base: str
    fragments: tuple[str, ...]
    nfsroot: NfsRoot
    description: str = ""
    patches: str | None = None
    ip: str = "dhcp"
    console: tuple[str, ...] = ()
    cmdline: tuple[str, ...] = ()
    nics: tuple[str, ...] = ()
    loaders: tuple[str, ...] = ("pxelinux",)
    xen: XenSpec | None = None
    uml: UmlSpec | None = None
    line: int | None = None

    @property
    def image(self) -> str:
        return IMAGES[self.arch]

    def kernel_args(self, nfsroot: NfsRoot | None = None, ip: str | None = None,
                    console: tuple[str, ...] | None = None,
                    extra: tuple[str, ...] = ()) -> list[str]:
        """The kernel command line for this profile (or a host's variant of it)."""
        n = nfsroot or self.nfsroot
        args = [f"console={c}" for c in (self.console if console is None else console)]
        args += [f"ip={ip or self.ip}", "root=/dev/nfs", f"nfsroot={n.argument()}"]
        args += list(self.cmdline) + list(extra)
        return args


@dataclass(frozen=True)
class Host:
    name: str
    profile: str
    mac: str | None = None
    ip: str | None = None
    nic: str | None = None
    console: tuple[str, ...] | None = None
    extra: tuple[str, ...] = ()
    nfs_path: str | None = None
    line: int | None = None


@dataclass
class Site:
    path: Path
    root: Path
    sources: dict[str, Source]
    profiles: dict[str, Profile]
    hosts: list[Host]
    artifacts: Path
    tftp_root: Path
    boot_server: str
    nfs_server: str
    keep_generations: int = 3
    nfs_clients: tuple[str, ...] = ()
    hexip_files: str = "no-mac"   # when per-host files are also written under the hex IP
    apt: AptConfig | None = None  # where deb sources are resolved ([apt])
    ccache_dir: Path | None = None  # a dedicated compiler cache ([site] ccache_dir); None: the user's
    locked: bool = False          # [site] locked = true: never move kbuild.lock implicitly
    lines: KeyLines | None = field(default=None, repr=False)

    @property
    def lock_file(self) -> Path:
        return lock_path(self.path)

    @property
    def fragments_dir(self) -> Path:
        return self.root / "fragments"

    @property
    def patches_dir(self) -> Path:
        return self.root / "patches"

    def fragment_path(self, name: str) -> Path:
        return self.fragments_dir / (name if name.endswith(".config") else name + ".config")

    def profile(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.profiles))
            raise UserError(f"unknown profile {name!r}",
                            hint=f"profiles in {self.path.name}: {known}") from None

    def line_of(self, *path: str | int) -> int | None:
        return self.lines.line(path) if self.lines else None


# ---------------------------------------------------------------------------


class _SiteChecker(TomlChecker):
    """The TOML checker plus what kbuild.toml's tables need: the site file and its lock."""

    def __init__(self, path: Path, lines: KeyLines, lock: dict[str, LockEntry]) -> None:
        super().__init__(path.name, lines)
        self.path = path
        self.lock = lock


_SITE_KEYS = {"tftp_root": "", "boot_server": "", "keep_generations": "", "artifacts": "",
              "hexip_files": "", "ccache_dir": "", "locked": ""}
_APT_KEYS = {"architecture": "", "keyring": "", "repositories": ""}
_REPO_KEYS = {"uri": "", "suites": "", "components": "", "keyring": ""}
_NFS_KEYS = {"server": "", "clients": ""}
_SOURCE_KEYS = {"url": "", "sha256": "", "mirrors": "", "kind": "", "package": "", "upstream": "",
                "path": "", "signature": "", "keyring": "", "signed": ""}
_PROFILE_KEYS = {"description": "", "source": "", "arch": "", "base": "", "fragments": "",
                 "patches": "", "ip": "", "console": "", "cmdline": "", "nics": "", "loaders": "",
                 "nfsroot": "", "xen": "", "uml": ""}
_NFSROOT_KEYS = {"server": "", "path": "", "version": "", "options": ""}
_XEN_KEYS = {"hypervisor": "", "args": ""}
_UML_KEYS = {"mem": "", "transport": "", "tap": "", "mac": ""}
_HOST_KEYS = {"name": "", "mac": "", "ip": "", "profile": "", "nic": "", "console": "",
              "extra": "", "nfs_path": ""}
_TOP_KEYS = {"site": "", "nfs": "", "apt": "", "sources": "", "profiles": "", "hosts": ""}


def _ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def find_site_file(start: Path | None = None) -> Path:
    """The site file when none was given: ``$KBUILD_SITE``, else kbuild.toml found upwards."""
    env = os.environ.get("KBUILD_SITE", "")
    if env and start is None:
        path = Path(env).resolve()
        if not path.is_file():
            raise UserError(f"KBUILD_SITE names {path}, which is not a file",
                            hint="point KBUILD_SITE at a kbuild.toml, or unset it")
        return path
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        candidate = d / SITE_FILE
        if candidate.is_file():
            return candidate
    raise UserError(f"no {SITE_FILE} in {here} or any parent directory",
                    hint="run kbuild from the project checkout, or pass --site FILE")


def load_site(path: Path | None = None) -> Site:
    """Read, parse and validate a site file. Raises SiteError listing every problem."""
    path = Path(path) if path else find_site_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("no such file", path=path, hint=f"create {SITE_FILE} (see README)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read: {e}", path=path) from None
    return parse_site(text, path)


def parse_site(text: str, path: Path) -> Site:
    data = load_toml(text, path.name, SiteError, "check quotes, brackets and '=' on that line")
    lines = KeyLines(text)
    c = _SiteChecker(path, lines, read_lock(lock_path(path)))
    root = path.parent.resolve()
    c.table(data, (), _TOP_KEYS)

    site_t = c.table(data.get("site", {}), ("site",), _SITE_KEYS)
    nfs_t = c.table(data.get("nfs", {}), ("nfs",), _NFS_KEYS)
    nfs_server = c.string(nfs_t, "server", ("nfs",), default="10.0.2.2") or "10.0.2.2"
    nfs_clients = c.strings(nfs_t, "clients", ("nfs",))
    for net in nfs_clients:
        if net == "*":
            continue  # allowed, but every snippet built from it carries a warning
        try:
            ipaddress.IPv4Network(net, strict=False)
        except ValueError:
            c.error(("nfs", "clients"), f"clients entry {net!r} is not an IPv4 address or network",
                    "write networks as 10.0.0.0/24")
    if not _ipv4(nfs_server):
        c.error(("nfs", "server"), f"server = {nfs_server!r} is not an IPv4 address",
                "the kernel's nfsroot= accepts only a dotted-quad IPv4 server address")
    boot_server = c.string(site_t, "boot_server", ("site",), default=nfs_server) or nfs_server
    if not _ipv4(boot_server):
        c.error(("site", "boot_server"), f"boot_server = {boot_server!r} is not an IPv4 address")
    artifacts = root / (c.string(site_t, "artifacts", ("site",), default="artifacts") or "artifacts")
    tftp_root = root / (c.string(site_t, "tftp_root", ("site",),
                                 default=str(artifacts.relative_to(root) / "tftpboot")) or "")
    keep = c.integer(site_t, "keep_generations", ("site",), default=3, minimum=1)
    hexip = c.string(site_t, "hexip_files", ("site",), default="no-mac",
                     choices=("no-mac", "always")) or "no-mac"

    apt = _apt(c, data.get("apt"))
    ccache = c.string(site_t, "ccache_dir", ("site",))
    if ccache is not None and not ccache:
        c.error(("site", "ccache_dir"), "ccache_dir is empty",
                "remove it to use your own ccache, or name a directory")
    locked = bool(site_t.get("locked", False))
    if not isinstance(site_t.get("locked", False), bool):
        c.error(("site", "locked"), "locked must be true or false")
    sources = _sources(c, data.get("sources", {}), root)
    if any(src.is_deb for src in sources.values()) and apt is None:
        c.error((), "deb sources need an [apt] table naming the repositories to resolve them in",
                'add [apt] with [[apt.repositories]] uri = "http://deb.debian.org/debian", '
                'suites = ["bookworm"]')
    profiles = _profiles(c, data.get("profiles", {}), sources, nfs_server, root)
    hosts = _hosts(c, data.get("hosts", []), profiles)

    if c.diags:
        raise SiteError(c.diags)
    return Site(path=path, root=root, sources=sources, profiles=profiles, hosts=hosts,
                artifacts=artifacts, tftp_root=tftp_root, boot_server=boot_server,
                nfs_server=nfs_server, keep_generations=keep, nfs_clients=nfs_clients,
                hexip_files=hexip, apt=apt, ccache_dir=(root / ccache) if ccache else None,
                locked=locked, lines=lines)


def _split_by_a_dot(c: _SiteChecker, where: KeyPath, body: Any) -> bool:
    """[sources.debian-6.1] is TOML for sources -> debian-6 -> 1: say so, with the fix."""
    if isinstance(body, dict) and body and all(isinstance(v, dict) for v in body.values()):
        sub = next(iter(body))
        table, name = where
        c.error(where + (sub,), f"[{table}.{name}] holds only sub-tables: a '.' in a table "
                "name splits it", f'quote the name: [{table}."{name}.{sub}"]')
        return True
    return False


def _sources(c: _SiteChecker, data: Any, root: Path) -> dict[str, Source]:
    out: dict[str, Source] = {}
    if not isinstance(data, dict):
        c.error(("sources",), "[sources] must be a table of tables")
        return out
    for name, body in data.items():
        where: KeyPath = ("sources", name)
        if not _NAME.match(name):
            c.error(where, f"source name {name!r}: use letters, digits, '.', '_' and '-'")
        if _split_by_a_dot(c, where, body):
            continue
        t = c.table(body, where, _SOURCE_KEYS)
        kind = c.string(t, "kind", where, default="kernel", choices=("kernel", "file")) or "kernel"
        if "package" in t:
            out[name] = _deb_source(c, t, where, name, kind)
            continue
        url = c.string(t, "url", where, required=True) or ""
        sha = (c.string(t, "sha256", where, required=True) or "").lower()
        if sha and not _SHA256.match(sha):
            c.error(where + ("sha256",), f"sha256 of {name!r} is not 64 hex digits",
                    f"compute it with: sha256sum FILE, or run: kbuild pin {name}")
        mirrors = c.strings(t, "mirrors", where)
        for i, u in enumerate((url, *mirrors)):
            if u and not re.match(r"^(https?|file)://", u):
                c.error(where + (("url",) if i == 0 else ("mirrors",)),
                        f"{u!r}: only http://, https:// and file:// URLs are supported")
        for key in ("upstream", "path"):
            if key in t:
                c.error(where + (key,), f"{key} belongs to a deb source (one with package = \"...\")",
                        f"remove {key}, or make this a deb source")
        signature = c.string(t, "signature", where)
        keyring = c.string(t, "keyring", where)
        signed = c.string(t, "signed", where, default="file", choices=("file", "xz", "gz")) or "file"
        if signature is not None and not re.match(r"^(https?|file)://", signature):
            c.error(where + ("signature",), f"signature {signature!r}: give an http://, https:// or "
                    "file:// URL of the detached signature")
        if (signature is None) != (keyring is None):
            c.error(where, f"source {name!r} needs both signature and keyring, or neither",
                    "keyring is the file of the publisher's keys that must have made the signature")
        if keyring is not None and not keyring.startswith("/"):
            keyring = str(root / keyring)
        out[name] = Source(name, url, sha, mirrors, kind, c.lines.line(where),
                           signature=signature, keyring=keyring, signed=signed)
    return out


def _deb_source(c: _SiteChecker, t: dict[str, Any], where: KeyPath, name: str, kind: str) -> Source:
    from kbuild.util import versions as debversion

    package = c.string(t, "package", where) or ""
    if not re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", package):
        c.error(where + ("package",), f"package = {package!r} is not a Debian package name")
    upstream = c.string(t, "upstream", where, required=True) or "*"
    if not re.fullmatch(r"[0-9][0-9A-Za-z.+~*?-]*", upstream):
        c.error(where + ("upstream",), f"upstream = {upstream!r} is not a version pattern",
                'write the accepted upstream versions as a glob, e.g. upstream = "6.1.*"')
    member = c.string(t, "path", where)
    if member is not None:
        member = member.lstrip("/")
        if not member or ".." in member.split("/"):
            c.error(where + ("path",), f"path = {member!r} must name a file inside the package")
    elif kind == "file":
        c.error(where, f"deb source {name!r} of kind \"file\" must say which file of the package "
                "it takes", 'add path = "/boot/..." (see: dpkg-deb -c PACKAGE.deb)')
    for key in ("url", "sha256", "mirrors", "signature", "keyring", "signed"):
        if key in t:
            c.error(where + (key,), f"{key} does not apply to a deb source: the signed package "
                    "index vouches for it and kbuild.lock pins it", f"remove {key}")
    entry = None
    lock = c.lock.get(name)
    if lock is not None and lock.package == package:
        try:
            if debversion.in_range(lock.version, upstream) and (member is None or lock.file == member):
                entry = lock
        except debversion.BadVersion:
            entry = None
    return Source(name, "", entry.sha256 if entry else "", (), kind, c.lines.line(where),
                  package=package, upstream=upstream, member=member, locked=entry)


def _apt(c: _SiteChecker, data: Any) -> AptConfig | None:
    if data is None:
        return None
    t = c.table(data, ("apt",), _APT_KEYS)
    arch = c.string(t, "architecture", ("apt",), default="amd64") or "amd64"
    default_keyring = c.string(t, "keyring", ("apt",),
                               default="/usr/share/keyrings/debian-archive-keyring.gpg") or ""
    repos: list[Repository] = []
    items = t.get("repositories", [])
    if not isinstance(items, list) or not items:
        c.error(("apt",), "[apt] needs at least one [[apt.repositories]] table",
                'add [[apt.repositories]] uri = "http://deb.debian.org/debian", suites = ["bookworm"]')
        items = []
    for i, body in enumerate(items):
        where: KeyPath = ("apt", "repositories", i)
        r = c.table(body, where, _REPO_KEYS)
        uri = c.string(r, "uri", where, required=True) or ""
        if uri and not re.fullmatch(r"(https?|file):/{1,3}[^\s\]\[]+", uri):
            c.error(where + ("uri",), f"uri = {uri!r} is not an http(s):// or file: URI")
        suites = c.strings(r, "suites", where)
        components = c.strings(r, "components", where, default=("main",))
        keyring = c.string(r, "keyring", where, default=default_keyring) or default_keyring
        for key, values in (("suites", suites), ("components", components)):
            if not values or not all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9./_-]*", v) for v in values):
                c.error(where + (key,), f"{key} must be a non-empty list of names like \"bookworm\"")
        if not keyring.startswith("/"):
            keyring = str(c.path.parent.resolve() / keyring)
        if not Path(keyring).is_file():
            c.error(where + ("keyring",), f"keyring {keyring} does not exist",
                    "install debian-archive-keyring (scripts/setup does), or fix the path")
        repos.append(Repository(uri, suites, components, keyring))
    return AptConfig(tuple(repos), arch)


def _profiles(c: _SiteChecker, data: Any, sources: dict[str, Source], nfs_server: str,
              root: Path) -> dict[str, Profile]:
    out: dict[str, Profile] = {}
    if not isinstance(data, dict):
        c.error(("profiles",), "[profiles] must be a table of tables")
        return out
    for name, body in data.items():
        where: KeyPath = ("profiles", name)
        if _split_by_a_dot(c, where, body):
            continue
        if not _NAME.match(name):
            c.error(where, f"profile name {name!r}: use letters, digits, '.', '_' and '-'")
        t = c.table(body, where, _PROFILE_KEYS)
        source = c.string(t, "source", where, required=True) or ""
        if source and source not in sources:
            c.error(where + ("source",), f"profile {name!r} uses unknown source {source!r}",
                    f"define [sources.{source}] or use one of: {', '.join(sorted(sources))}")
        elif source and sources[source].kind != "kernel":
            c.error(where + ("source",), f"source {source!r} is a plain file, not a kernel tarball")
        arch = c.string(t, "arch", where, default="x86_64", choices=tuple(known_arches())) or "x86_64"
        base = c.string(t, "base", where, default="tinyconfig") or "tinyconfig"
        fragments = c.strings(t, "fragments", where)
        for i, frag in enumerate(fragments):
            fpath = root / "fragments" / (frag if frag.endswith(".config") else frag + ".config")
            if not fpath.is_file():
                c.error(where + ("fragments",), f"fragment {frag!r} (item {i + 1}) not found: "
                        f"{fpath.relative_to(root)} does not exist",
                        "create it or fix the name (names are relative to fragments/, "
                        "'.config' is optional)")
        patches = c.string(t, "patches", where)
        if patches is not None and not (root / "patches" / patches / "series").is_file():
            c.error(where + ("patches",), f"patch series {patches!r} not found: "
                    f"patches/{patches}/series does not exist")
        ip = c.string(t, "ip", where, default="dhcp") or "dhcp"
        console = c.strings(t, "console", where)
        cmdline = c.strings(t, "cmdline", where)
        nics = c.strings(t, "nics", where)
        loaders = c.strings(t, "loaders", where, default=("pxelinux",) if arch != "um" else ())
        for ld in loaders:
            if ld not in LOADERS:
                c.error(where + ("loaders",), f"unknown loader {ld!r}",
                        f"loaders are: {', '.join(LOADERS)}")
        if arch == "um" and loaders:
            c.error(where + ("loaders",), "a UML profile has no boot loaders (it is launched as a process)",
                    "remove loaders from this profile")
        nfsroot = _nfsroot(c, t.get("nfsroot"), where + ("nfsroot",), nfs_server)
        xen = None
        if "xen" in t:
            xw = where + ("xen",)
            xt = c.table(t["xen"], xw, _XEN_KEYS)
            hyp = c.string(xt, "hypervisor", xw, required=True) or ""
            if hyp and hyp not in sources:
                c.error(xw + ("hypervisor",), f"hypervisor {hyp!r} is not a defined source",
                        f"add [sources.{hyp}] with kind = \"file\"")
            elif hyp and sources[hyp].kind != "file":
                c.error(xw + ("hypervisor",), f"hypervisor source {hyp!r} must have kind = \"file\"")
            if arch != "x86_64":
                c.error(xw, "a Xen dom0 profile must be arch x86_64")
            xen = XenSpec(hyp, c.strings(xt, "args", xw))
        uml = None
        if "uml" in t:
            uw = where + ("uml",)
            ut = c.table(t["uml"], uw, _UML_KEYS)
            uml = UmlSpec(
                mem=c.string(ut, "mem", uw, default="256M") or "256M",
                transport=c.string(ut, "transport", uw, default="vector",
                                   choices=("vector", "tuntap")) or "vector",
                tap=c.string(ut, "tap", uw, default="kbtap0") or "kbtap0",
                mac=(c.string(ut, "mac", uw, default="52:54:00:12:34:56") or "").lower())
            if not _MAC.match(uml.mac):
                c.error(uw + ("mac",), f"mac = {uml.mac!r} is not a MAC address like 52:54:00:12:34:56")
            if arch != "um":
                c.error(uw, "[uml] settings need arch = \"um\"")
        out[name] = Profile(
            name=name, source=source, arch=arch, base=base, fragments=fragments, nfsroot=nfsroot,
            description=c.string(t, "description", where, default="") or "",
            patches=patches, ip=ip, console=console, cmdline=cmdline, nics=nics,
            loaders=loaders, xen=xen, uml=uml, line=c.lines.line(where))
    return out


def _nfsroot(c: _SiteChecker, data: Any, where: KeyPath, default_server: str) -> NfsRoot:
    if data is None:
        c.error(where[:-1], f"{c.label(where[:-1])} has no nfsroot table",
                f"add {c.label(where)} with path = \"/...\" and version = \"4\"")
        return NfsRoot(default_server, "/")
    t = c.table(data, where, _NFSROOT_KEYS)
    server = c.string(t, "server", where, default=default_server) or default_server
    if not _ipv4(server):
        c.error(where + ("server",), f"server = {server!r} is not an IPv4 address",
                "the kernel's nfsroot= accepts only a dotted-quad IPv4 server address")
    path = c.string(t, "path", where, required=True) or "/"
    if not path.startswith("/"):
        c.error(where + ("path",), f"path = {path!r} must be absolute (start with '/')")
    version = c.string(t, "version", where, default="4", choices=NFS_VERSIONS) or "4"
    options = c.strings(t, "options", where, default=("tcp",))
    for opt in options:
        if opt.split("=", 1)[0] in ("vers", "nfsvers"):
            c.error(where + ("options",), f"option {opt!r}: set the NFS version with version = \"...\"")
        if opt in ("udp", "proto=udp"):
            c.error(where + ("options",), f"option {opt!r}: NFS over UDP is rejected by kernels "
                    "with NFS_DISABLE_UDP_SUPPORT=y (the default since 5.6)", "use tcp")
    return NfsRoot(server, path, version, options)


def _hosts(c: _SiteChecker, data: Any, profiles: dict[str, Profile]) -> list[Host]:
    out: list[Host] = []
    if not isinstance(data, list):
        c.error(("hosts",), "hosts must be an array of tables: [[hosts]]")
        return out
    seen: dict[tuple[str, str], int] = {}
    for i, body in enumerate(data):
        where: KeyPath = ("hosts", i)
        t = c.table(body, where, _HOST_KEYS)
        name = c.string(t, "name", where, required=True) or f"host{i}"
        if not _NAME.match(name):
            c.error(where + ("name",), f"host name {name!r}: use letters, digits, '.', '_' and '-'")
        profile = c.string(t, "profile", where, required=True) or ""
        if profile and profile not in profiles:
            c.error(where + ("profile",), f"host {name!r} uses unknown profile {profile!r}",
                    f"profiles: {', '.join(sorted(profiles))}")
        mac = c.string(t, "mac", where)
        if mac is not None:
            norm = mac.lower().replace("-", ":")
            if not _MAC.match(norm):
                c.error(where + ("mac",), f"mac = {mac!r} is not a MAC address",
                        "write six hex pairs: 52:54:00:12:34:56")
            mac = norm
        ip = c.string(t, "ip", where)
        if ip is not None and not _ipv4(ip):
            c.error(where + ("ip",), f"ip = {ip!r} is not an IPv4 address")
        if mac is None and ip is None:
            c.error(where, f"host {name!r} has neither mac nor ip",
                    "PXE clients find their entry by MAC or by IP: give at least one")
        for key, value in (("name", name), ("mac", mac), ("ip", ip)):
            if value is None:
                continue
            prev = seen.get((key, value))
            if prev is not None:
                c.error(where + (key,), f"duplicate {key} {value!r}: already used by the host "
                        f"at line {c.lines.line(('hosts', prev))}")
            else:
                seen[(key, value)] = i
        nic = c.string(t, "nic", where)
        prof = profiles.get(profile)
        if nic is not None and prof is not None and prof.nics and nic not in prof.nics:
            c.error(where + ("nic",), f"host {name!r} has NIC {nic!r}, but profile {profile!r} builds "
                    f"in only {', '.join(prof.nics)}",
                    f"add a fragment for {nic} to the profile (and {nic!r} to its nics), "
                    "or give the host a profile that has it")
        console = c.strings(t, "console", where) if "console" in t else None
        nfs_path = c.string(t, "nfs_path", where)
        if nfs_path is not None and not nfs_path.startswith("/"):
            c.error(where + ("nfs_path",), f"nfs_path = {nfs_path!r} must be absolute")
        out.append(Host(name=name, profile=profile, mac=mac, ip=ip, nic=nic,
                        console=console, extra=c.strings(t, "extra", where), nfs_path=nfs_path,
                        line=c.lines.line(where)))
    return out
