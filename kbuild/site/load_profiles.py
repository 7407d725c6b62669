"""kbuild.toml's [profiles.NAME] tables: what to build and how it boots."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from kbuild.site.arches import known_arches
from kbuild.site.model import (
    EFI_LOADERS,
    LOADERS,
    NFS_VERSIONS,
    ROOT_MODES,
    NfsRoot,
    Profile,
    SecureBootSpec,
    Source,
    UmlSpec,
    XenSpec,
)
from kbuild.site.reader import MAC, SiteChecker, ipv4, named_tables, path_problem
from kbuild.util.toml import KeyPath

_PROFILE_KEYS = {"description": "", "source": "", "arch": "", "base": "", "fragments": "",
                 "patches": "", "ip": "", "console": "", "cmdline": "", "nics": "", "loaders": "",
                 "nfsroot": "", "xen": "", "uml": "", "root_mode": "", "secure_boot": ""}
_SECURE_BOOT_KEYS = {"key": "", "cert": ""}
_NFSROOT_KEYS = {"server": "", "path": "", "version": "", "options": ""}
_XEN_KEYS = {"hypervisor": "", "args": ""}
_UML_KEYS = {"mem": "", "transport": "", "tap": "", "mac": ""}


def read_profiles(c: SiteChecker, data: Any, sources: dict[str, Source], nfs_server: str,
                  root: Path) -> dict[str, Profile]:
    out: dict[str, Profile] = {}
    for name, body, where in named_tables(c, data, "profiles", "profile"):
        t = c.table(body, where, _PROFILE_KEYS)
        source = c.string(t, "source", where, required=True) or ""
        _source_of_kind(c, where + ("source",), source, sources, "kernel",
                        (f"profile {name!r} uses unknown source {source!r}",
                         f"define [sources.{source}] or use one of: {', '.join(sorted(sources))}"),
                        f"source {source!r} is a plain file, not a kernel tarball")
        arch = c.string(t, "arch", where, default="x86_64", choices=tuple(known_arches())) or "x86_64"
        base = c.string(t, "base", where, default="tinyconfig") or "tinyconfig"
        fragments = c.strings(t, "fragments", where)
        for i, frag in enumerate(fragments):
            problem = path_problem(frag)
            if problem:
                c.error(where + ("fragments",), f"fragment {frag[:70]!r} (item {i + 1}) {problem}",
                        "names are relative to fragments/, '.config' is optional")
                continue
            fpath = root / "fragments" / (frag if frag.endswith(".config") else frag + ".config")
            if not fpath.is_file():
                c.error(where + ("fragments",), f"fragment {frag!r} (item {i + 1}) not found: "
                        f"{fpath.relative_to(root)} does not exist",
                        "create it or fix the name (names are relative to fragments/, "
                        "'.config' is optional)")
        patches = c.string(t, "patches", where)
        problem = path_problem(patches) if patches is not None else None
        if patches is not None and problem:
            c.error(where + ("patches",), f"patch series {patches[:70]!r} {problem}",
                    "name a directory under patches/")
        elif patches is not None and not (root / "patches" / patches / "series").is_file():
            c.error(where + ("patches",), f"patch series {patches!r} not found: "
                    f"patches/{patches}/series does not exist")
        ip = c.string(t, "ip", where, default="dhcp") or "dhcp"
        console = c.strings(t, "console", where)
        cmdline = c.strings(t, "cmdline", where)
        nics = c.strings(t, "nics", where)
        loaders = c.strings(t, "loaders", where, default=("pxelinux",) if arch != "um" else ())
        for ld in loaders:
            if ld not in LOADERS + EFI_LOADERS:
                c.error(where + ("loaders",), f"unknown loader {ld!r}",
                        f"loaders are: {', '.join(LOADERS + EFI_LOADERS)}")
        if "grub-efi" in loaders and "grub-efi-unsigned" in loaders:
            c.error(where + ("loaders",), "grub-efi and grub-efi-unsigned both answer a UEFI "
                    "client's DHCP request; a profile has one UEFI loader",
                    "keep grub-efi (shim, Secure Boot) or grub-efi-unsigned (multiboot2: Xen)")
        if arch == "um" and loaders:
            c.error(where + ("loaders",), "a UML profile has no boot loaders (it is launched as a process)",
                    "remove loaders from this profile")
        nfsroot = _nfsroot(c, t.get("nfsroot"), where + ("nfsroot",), nfs_server)
        xen = None
        if "xen" in t:
            xw = where + ("xen",)
            xt = c.table(t["xen"], xw, _XEN_KEYS)
            hyp = c.string(xt, "hypervisor", xw, required=True) or ""
            _source_of_kind(c, xw + ("hypervisor",), hyp, sources, "file",
                            (f"hypervisor {hyp!r} is not a defined source",
                             f"add [sources.{hyp}] with kind = \"file\""),
                            f"hypervisor source {hyp!r} must have kind = \"file\"")
            if arch != "x86_64":
                c.error(xw, "a Xen dom0 profile must be arch x86_64")
            xen = XenSpec(hyp, c.strings(xt, "args", xw))
            if "ipxe-efi" in loaders:
                c.error(where + ("loaders",), "iPXE's EFI build cannot start Xen (no multiboot "
                        "under UEFI)", 'remove "ipxe-efi"; BIOS clients can use "ipxe"')
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
            if not MAC.match(uml.mac):
                c.error(uw + ("mac",), f"mac = {uml.mac!r} is not a MAC address like 52:54:00:12:34:56")
            if arch != "um":
                c.error(uw, "[uml] settings need arch = \"um\"")
        secure_boot = _secure_boot(c, t, where, root, loaders)
        if secure_boot is not None and [ld for ld in loaders if ld in EFI_LOADERS][:1] == ["ipxe-efi"]:
            c.error(where + ("loaders",), "UEFI clients would get iPXE, which is not signed: "
                    "Secure Boot refuses it", 'list "grub-efi" before "ipxe-efi"')
        out[name] = Profile(
            name=name, source=source, arch=arch, base=base, fragments=fragments, nfsroot=nfsroot,
            description=c.string(t, "description", where, default="") or "",
            patches=patches, ip=ip, console=console, cmdline=cmdline, nics=nics,
            loaders=loaders, xen=xen, uml=uml, line=c.lines.line(where), secure_boot=secure_boot,
            root_mode=c.string(t, "root_mode", where, default="rw", choices=ROOT_MODES) or "rw")
    return out


def _secure_boot(c: SiteChecker, t: dict[str, Any], where: KeyPath, root: Path,
                 loaders: tuple[str, ...]) -> SecureBootSpec | None:
    """``[profiles.X.secure_boot]``: key and cert of the site key that signs the kernel."""
    if "secure_boot" not in t:
        return None
    sw = where + ("secure_boot",)
    st = c.table(t["secure_boot"], sw, _SECURE_BOOT_KEYS)
    paths = []
    for k in ("key", "cert"):
        value = c.string(st, k, sw, required=True) or ""
        problem = path_problem(value, absolute_ok=True) if value else None
        if problem:
            c.error(sw + (k,), f"{k} = {value[:70]!r} {problem}",
                    "give a path (relative to the site directory, or absolute); "
                    "kbuild keys init makes keys/site.key")
        paths.append(root / value)
    if "grub-efi" not in loaders:
        c.error(sw, "secure_boot needs the grub-efi loader (shim verifies the kernel for GRUB)",
                'add "grub-efi" to loaders')
    return SecureBootSpec(key=paths[0], cert=paths[1])


def _source_of_kind(c: SiteChecker, where: KeyPath, ref: str, sources: dict[str, Source], kind: str,
                    unknown: tuple[str, str], wrong_kind: str) -> None:
    """A profile's reference to a source (its kernel, its hypervisor) must name one of ``kind``."""
    if ref and ref not in sources:
        c.error(where, *unknown)
    elif ref and sources[ref].kind != kind:
        c.error(where, wrong_kind)


def _nfsroot(c: SiteChecker, data: Any, where: KeyPath, default_server: str) -> NfsRoot:
    if data is None:
        c.error(where[:-1], f"{c.label(where[:-1])} has no nfsroot table",
                f"add {c.label(where)} with path = \"/...\" and version = \"4\"")
        return NfsRoot(default_server, "/")
    t = c.table(data, where, _NFSROOT_KEYS)
    server = c.string(t, "server", where, default=default_server) or default_server
    if not ipv4(server):
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
