"""What a site is: its sources, profiles and hosts, as plain frozen data.

:func:`kbuild.site.load.load_site` builds a :class:`Site` from kbuild.toml (and
kbuild.lock); everything else in kbuild reads these types and never the file.
Nothing here does I/O except :meth:`Site.profile`'s lookup error.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from kbuild.errors import UserError
from kbuild.site.arches import IMAGES
from kbuild.site.lock import LockEntry, lock_path
from kbuild.util.files import sha256_text
from kbuild.util.toml import LineIndex

SITE_FILE = "kbuild.toml"
NFS_VERSIONS = ("3", "4", "4.0", "4.1", "4.2")
LOADERS = ("pxelinux", "grub2", "grub-legacy", "ipxe")
# How a client uses its NFS root (docs/root.md): "rw" its own root, read-write;
# "ro-shared" one read-only root for many, writable paths in a tmpfs on /flash;
# "overlay" one read-only root for many under a tmpfs overlay.
ROOT_MODES = ("rw", "ro-shared", "overlay")
SHARED_ROOT_MODES = ("ro-shared", "overlay")
ROOT_PROGRAM = "/sbin/kbuild-root"   # the early-boot program `kbuild root prepare` installs
# UEFI network boot programs (kbuild/boot/efi.py): shim + Debian-signed GRUB; an unsigned
# GRUB EFI image with multiboot2 made by kbuild (Xen under UEFI, no Secure Boot); iPXE's
# EFI build (Debian's ipxe: snponly.efi), chained to the iPXE scripts
EFI_LOADERS = ("grub-efi", "grub-efi-unsigned", "ipxe-efi")


@dataclass(frozen=True)
class Repository:
    """One apt repository: ``deb [signed-by=KEYRING] URI SUITE... COMPONENT...``."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...] = ("main",)
    keyring: str = "/usr/share/keyrings/debian-archive-keyring.gpg"

    def lines(self, arch: str) -> list[str]:
        return [f"deb [arch={arch} signed-by={self.keyring}] {self.uri} {suite} {' '.join(self.components)}"
                for suite in self.suites]


@dataclass(frozen=True)
class AptConfig:
    """The site's ``[apt]`` table: where deb sources are resolved."""

    repositories: tuple[Repository, ...]
    architecture: str = "amd64"

    def digest(self) -> str:
        return sha256_text("\n".join(self.sources_list()))[:12]

    def sources_list(self) -> list[str]:
        return [line for r in self.repositories for line in r.lines(self.architecture)]


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
    """Where a profile's (or host's) root is: the ``nfsroot=`` server, export path, NFS
    version (always pinned: with NFS_V2=y the kernel otherwise asks for NFSv2) and options."""

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
    """A profile's ``[profiles.X.xen]``: the kernel boots as dom0 of this hypervisor."""

    hypervisor: str                     # a [sources.X] of kind "file"
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class UmlSpec:
    """A UML profile's ``[profiles.X.uml]``: memory and the network the process gets."""

    mem: str = "256M"
    transport: str = "vector"           # vector | tuntap
    tap: str = "kbtap0"
    mac: str = "52:54:00:12:34:56"


@dataclass(frozen=True)
class SecureBootSpec:
    """A profile's ``[profiles.X.secure_boot]``: the site key that signs its staged kernel
    (PEM private key and X.509 certificate, paths relative to the site directory)."""

    key: Path
    cert: Path


@dataclass(frozen=True)
class Profile:
    """One kernel to build and the way it boots (a ``[profiles.NAME]`` table).

    Holds the source it builds from (a key of :attr:`Site.sources`), the arch, the base
    config and fragments (names under fragments/), an optional patch series, the boot
    entry's parts (``ip=``, consoles, extra arguments, ``nfsroot``), the NICs it must
    drive, its boot loaders, and Xen or UML settings. ``line`` is its line in kbuild.toml.
    Plain data: nothing here raises.
    """

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
    root_mode: str = "rw"               # ROOT_MODES; a host may override it
    secure_boot: SecureBootSpec | None = None   # kernel signed for UEFI Secure Boot

    @property
    def image(self) -> str:
        return IMAGES[self.arch]

    def kernel_args(self, nfsroot: NfsRoot | None = None, ip: str | None = None,
                    console: tuple[str, ...] | None = None,
                    extra: tuple[str, ...] = (), root_mode: str | None = None) -> list[str]:
        """The kernel command line for this profile (or a host's variant of it)."""
        n = nfsroot or self.nfsroot
        args = [f"console={c}" for c in (self.console if console is None else console)]
        args += [f"ip={ip or self.ip}", "root=/dev/nfs", f"nfsroot={n.argument()}"]
        args += root_mode_args(list(self.cmdline) + list(extra), root_mode or self.root_mode)
        return args


def root_mode_args(args: list[str], mode: str) -> list[str]:
    """A shared root mounts ``ro`` and runs the early-boot program first: it replaces the
    entry's ``rw``/``ro`` and ``init=``, and passes the mode and the real init on
    (``kbroot=``/``kbroot_init=`` reach the program as environment variables: the kernel
    hands unknown undotted ``name=value`` arguments to init that way)."""
    if mode not in SHARED_ROOT_MODES:
        return args
    init = "/sbin/init"
    kept = []
    for a in args:
        if a.startswith("init="):
            init = a[5:] or init
        elif a not in ("rw", "ro") and not a.startswith(("kbroot=", "kbroot_init=")):
            kept.append(a)
    return [*kept, "ro", f"init={ROOT_PROGRAM}", f"kbroot={mode}", f"kbroot_init={init}"]


@dataclass(frozen=True)
class Host:
    """One machine (a ``[[hosts]]`` entry): how PXE finds it (MAC and/or IP), its profile,
    its boot NIC, and what it changes in the profile's entry (consoles, extra arguments,
    its own NFS root path)."""

    name: str
    profile: str
    mac: str | None = None
    ip: str | None = None
    nic: str | None = None
    console: tuple[str, ...] | None = None
    extra: tuple[str, ...] = ()
    nfs_path: str | None = None
    line: int | None = None
    root_mode: str | None = None        # None: the profile's

    def mode_in(self, profile: Profile) -> str:
        return self.root_mode or profile.root_mode

    def row(self) -> HostRow:
        return HostRow(self.name, self.profile, self.mac, self.ip, self.nfs_path, self.root_mode)


class HostRow(NamedTuple):
    """What the server snippets read of a host (boot/server.py): cheap to make and to
    keep for 50,000 hosts, so that a publish of a few changed hosts (publish/delta.py)
    puts the snippets together without the others' Host objects."""

    name: str
    profile: str
    mac: str | None
    ip: str | None
    nfs_path: str | None
    root_mode: str | None

    def mode_in(self, profile: Profile) -> str:
        return self.root_mode or profile.root_mode


BUILD_ENGINES = ("local", "distcc")


@dataclass(frozen=True)
class BuildConfig:
    """The site's ``[build]`` table: where compiles run and which compiler cache is shared.

    ``engine`` "distcc" spreads compiles over ``hosts`` (distcc host specs, ``HOST[:PORT][/LIMIT]``)
    with ccache in front; ``jobs`` overrides the ``-j`` kbuild derives from the pool;
    ``ccache_remote`` (``http://`` or ``redis://``) is ccache's remote storage; ``connect_timeout``
    bounds each reachability probe (seconds)."""

    engine: str = "local"
    hosts: tuple[str, ...] = ()
    jobs: int | None = None
    ccache_remote: str | None = None
    connect_timeout: float = 2.0


@dataclass
class Site:
    """A validated kbuild.toml with the lock entries of kbuild.lock beside it.

    Holds the file's path and directory (``root``), every source, profile (in file order)
    and host, where generated files go (``artifacts``) and the TFTP root, the boot and NFS
    servers, publish settings, the ``[apt]`` repositories deb sources are resolved in, the
    compiler cache choice and whether the lock may move. Built only by
    :func:`kbuild.site.load.load_site`, which raises ``SiteError`` listing every problem;
    :meth:`profile` raises ``UserError`` for an unknown name.
    """

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
    build: BuildConfig = field(default_factory=BuildConfig)  # [build]: distcc pool, shared ccache
    http_base: str | None = None  # [site] http_base: iPXE fetches kernels over HTTP from here ("/"-ended)
    lines: LineIndex | None = field(default=None, repr=False)
    text_sha256: str | None = field(default=None, repr=False)  # of the bytes load_site read

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
