"""Server snippets that must agree with the boot entries: NFS exports (kernel
nfsd and nfs-ganesha), dnsmasq and ISC dhcpd host entries, and for a site with
``http_base`` the nginx server block. Plus lints for the classic diskless traps
(AF_UNIX path length, nfsroot buffer limits, exports open to everyone)."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from kbuild.boot import efi, http
from kbuild.boot.entry import GENERATED, host_nfsroot
from kbuild.boot.lookup import mac_dashed
from kbuild.site.model import SHARED_ROOT_MODES, Host, HostRow, NfsRoot, Profile, Site

# sun_path is 108 bytes with its NUL. Programs put sockets under /tmp or /run
# with names like "OSL_PIPE_1000_SingleOfficeIPC_<32 hex>" (67 bytes with
# "/tmp/"): host-side tools working on the exported tree by its server path run
# out of room when the path is longer than this.
SUN_PATH_MAX = 107
SOCKET_SUFFIX_BUDGET = 67
NFSROOT_VALUE_MAX = 1024        # nfs_root_parms / device name buffers (fs/nfs/nfsroot.c)
NFSROOT_OPTIONS_MAX = 194       # 256-byte option buffer minus kernel defaults and addr=


@dataclass
class Export:
    """One NFS export: the path, the lowest NFS version asked of it, and the profiles, hosts
    and clients that use it."""

    path: str
    version: str
    profiles: list[str] = field(default_factory=list)
    clients: list[str] = field(default_factory=list)     # host IPs or networks
    hosts: list[str] = field(default_factory=list)
    modes: dict[str, str] = field(default_factory=dict)  # user (host or profile) -> root mode

    @property
    def read_only(self) -> bool:
        """Exported ``ro`` when every user shares it (a shared root must stay unchanged
        even for a client that remounts it rw as root); check-site refuses mixed users."""
        return bool(self.modes) and all(m in SHARED_ROOT_MODES for m in self.modes.values())


@dataclass
class Snippets:
    """The server files (name -> text) and the lint warnings about them; ``segments``:
    for the files made of one part per host (PER_HOST), those parts in host order (the
    file is its header lines and these, joined by newlines)."""

    files: dict[str, str]
    warnings: list[str]
    segments: dict[str, list[str]] = field(default_factory=dict)


DNSMASQ = "dnsmasq-hosts.conf"
DHCPD = "dhcpd-hosts.conf"
PER_HOST = (DNSMASQ, DHCPD)


def rows_of(site: Site) -> list[HostRow]:
    return [h.row() for h in site.hosts]


def _exports(site: Site, rows: Sequence[HostRow]) -> tuple[list[Export], list[str]]:
    warnings: list[str] = []
    exports: OrderedDict[str, Export] = OrderedDict()
    hosts_by_profile: dict[str, list[HostRow]] = {}
    for one in rows:
        hosts_by_profile.setdefault(one.profile, []).append(one)
    for p in site.profiles.values():
        hosts = hosts_by_profile.get(p.name)
        default = p.nfsroot.path
        if not hosts:
            _export(exports, default, p).modes[f"profile {p.name}"] = p.root_mode
            continue
        at: str | None = None
        ex = None
        for h in hosts:
            path = h.nfs_path or default        # host_nfsroot's path
            if ex is None or path != at:
                ex, at = _export(exports, path, p), path
            ex.modes[f"host {h.name}"] = h.root_mode or p.root_mode
            ex.hosts.append(h.name)
            if h.ip:
                ex.clients.append(h.ip)
            elif site.nfs_clients:
                for net in site.nfs_clients:
                    if net not in ex.clients:
                        ex.clients.append(net)
            else:
                warnings.append(f"host {h.name} has no ip and [nfs] clients is empty: the export "
                                f"{path} cannot name it (add ip = ... or [nfs] clients = [\"net/len\"])")
    for ex in exports.values():
        if not ex.clients:
            for net in site.nfs_clients:
                ex.clients.append(net)
        if "*" in ex.clients:
            warnings.append(f"export {ex.path} is open to every client ('*'): any machine that "
                            "reaches the server can mount (and, rw,no_root_squash, rewrite) this root")
    return list(exports.values()), warnings


def _export(exports: OrderedDict[str, Export], path: str, p: Profile) -> Export:
    """The export of ``path`` (made on first use), with profile ``p`` among its users."""
    ex = exports.get(path)
    if ex is None:
        ex = exports[path] = Export(path, p.nfsroot.version)
    if p.name not in ex.profiles:
        ex.profiles.append(p.name)
    if p.nfsroot.version == "3":
        ex.version = "3"
    return ex


def lint(site: Site, rows: Sequence[HostRow] | None = None) -> list[str]:
    out = []
    hosts_by_profile: dict[str, list[HostRow | None]] = {}
    for one in rows_of(site) if rows is None else rows:
        hosts_by_profile.setdefault(one.profile, []).append(one)
    found: dict[object, list[str]] = {}     # hosts mostly share their profile's NFS root
    for p in site.profiles.values():
        shared = _nfs_problems(p.nfsroot)
        for h in hosts_by_profile.get(p.name) or [None]:
            if h is None or not h.nfs_path:
                problems = shared
            else:
                nfs = host_nfsroot(p, h)
                cached = found.get(nfs)
                if cached is None:
                    cached = found[nfs] = _nfs_problems(nfs)
                problems = cached
            if problems:
                who = f"host {h.name}" if h else f"profile {p.name}"
                out += [f"{who}: {text}" for text in problems]
    return out


def _nfs_problems(nfs: NfsRoot) -> list[str]:
    out = []
    if len(nfs.path) + SOCKET_SUFFIX_BUDGET > SUN_PATH_MAX:
        out.append(f"export path {nfs.path} is {len(nfs.path)} bytes: sockets under its "
                   f"/tmp seen by their server path exceed AF_UNIX's {SUN_PATH_MAX + 1}-byte "
                   "sun_path (names get cut); keep export paths short (<= "
                   f"{SUN_PATH_MAX - SOCKET_SUFFIX_BUDGET} bytes)")
    value = nfs.argument()
    if len(value) > NFSROOT_VALUE_MAX * 0.9:
        out.append(f"nfsroot= is {len(value)} bytes, near the kernel's "
                   f"{NFSROOT_VALUE_MAX}-byte limit (longer values are cut silently)")
    opts = ",".join((f"vers={nfs.version}",) + nfs.options)
    if len(opts) > NFSROOT_OPTIONS_MAX * 0.9:
        out.append(f"nfsroot options take {len(opts)} bytes; the kernel keeps "
                   f"{NFSROOT_OPTIONS_MAX} for them ('mount options string too long')")
    return out


def exports_of(site: Site) -> list[Export]:
    """Every export the site's profiles and hosts mount, with their users' root modes."""
    return _exports(site, rows_of(site))[0]


def exports_file(exports: list[Export]) -> str:
    lines = [f"# {GENERATED}", "# /etc/exports lines for the kernel NFS server (exportfs -ra)."]
    for ex in exports:
        lines.append(f"# {ex.path}: profiles {', '.join(ex.profiles)}"
                     + (f"; hosts {', '.join(ex.hosts)}" if ex.hosts else ""))
        if not ex.clients:
            lines.append(f"# {ex.path}: no clients known (add hosts with ip, or [nfs] clients)")
            continue
        # no_root_squash: a diskless client's root must own its files; a shared root is
        # ro for every client, so no client can change what the others boot
        opts = f"({'ro' if ex.read_only else 'rw'},no_root_squash,no_subtree_check,sync)"
        lines.append(ex.path + " " + " ".join(c + opts for c in ex.clients))
    return "\n".join(lines) + "\n"


def ganesha_file(exports: list[Export]) -> str:
    out = [f"# {GENERATED}", "# nfs-ganesha EXPORT blocks (include from ganesha.conf)."]
    for i, ex in enumerate(exports, 1):
        protocols = "3, 4" if ex.version == "3" else "4"
        body = ["EXPORT {",
                f"    Export_Id = {i};",
                f"    Path = \"{ex.path}\";",
                f"    Pseudo = \"{ex.path}\";",
                f"    Protocols = {protocols};",
                "    Transports = TCP;",
                "    Access_Type = None;",
                "    SecType = sys;",
                "    FSAL { Name = VFS; }"]
        if ex.clients:
            clients = ", ".join(ex.clients)
            body += ["    CLIENT {",
                     f"        Clients = {clients};",
                     f"        Access_Type = {'RO' if ex.read_only else 'RW'};",
                     "        Squash = No_Root_Squash;",
                     "    }"]
        body.append("}")
        out.append("\n".join(body))
    return "\n".join(out) + "\n"


def boot_file_for(profile: Profile) -> str | None:
    """The BIOS client's boot program: the first of the profile's BIOS loaders (None when
    the profile has UEFI loaders only)."""
    for loader in profile.loaders:
        if loader == "pxelinux":
            return "pxelinux.0"
        if loader == "grub2":
            return "grub/i386-pc/core.0"
        if loader == "ipxe":
            return "undionly.kpxe"
    if efi.boot_file(profile.loaders):
        return None
    return "pxelinux.0"


# dnsmasq tag of x86-64 UEFI clients (DHCP option 93, RFC 4578)
EFI_TAG = "kb-efi64"
# dnsmasq tag of requests sent by iPXE itself (user class "iPXE", option 77)
IPXE_TAG = "kb-ipxe"


def _dnsmasq_arch_match() -> list[str]:
    return [f"dhcp-match=set:{EFI_TAG},option:client-arch,{n}" for n in efi.ARCH_EFI_X64]


def ipxe_script_for(host: Host | HostRow) -> str:
    """The script a host's iPXE gets from DHCP (its own, written by hostfiles)."""
    assert host.mac is not None
    return f"ipxe/{mac_dashed(host.mac)}.ipxe"


def _boots_ipxe(site: Site, rows: Sequence[HostRow]) -> bool:
    """Whether a host with a MAC gets an iPXE binary as its DHCP boot file (BIOS or UEFI)."""
    ipxe = {n for n, p in site.profiles.items() if p.arch != "um"
            and {boot_file_for(p), efi.boot_file(p.loaders)} & efi.IPXE_BOOT_FILES}
    return bool(ipxe) and any(h.mac and h.profile in ipxe for h in rows)


def _dnsmasq_boot(tags: list[str], boot: str, host: HostRow, server: str) -> list[str]:
    """dhcp-boot lines for one firmware branch; when its boot file is iPXE, iPXE's own
    request (user class iPXE) gets the host's script instead of the binary again."""
    if boot not in efi.IPXE_BOOT_FILES:
        return ["dhcp-boot=" + ",".join([*tags, boot, "", server])]
    return ["dhcp-boot=" + ",".join([*tags, f"tag:!{IPXE_TAG}", boot, "", server]),
            "dhcp-boot=" + ",".join([*tags, f"tag:{IPXE_TAG}", ipxe_script_for(host), "", server])]


def dnsmasq_file(site: Site, rows: Sequence[HostRow], segments: Sequence[str] | None = None) -> str:
    """The dnsmasq snippet; ``segments``: each host's part (dnsmasq_host), when known."""
    out = [f"# {GENERATED}", "# dnsmasq host entries (conf-file=... or /etc/dnsmasq.d/)."]
    used = {h.profile for h in rows}
    if any(efi.boot_file(site.profiles[name].loaders) for name in used):
        out += ["# x86-64 UEFI clients (DHCP option 93 = 7 or 9) are tagged " + EFI_TAG,
                *_dnsmasq_arch_match()]
    if _boots_ipxe(site, rows):
        out += [f"# requests from iPXE itself (user class {efi.IPXE_USER_CLASS}) are tagged "
                f"{IPXE_TAG}: they get the host's script", f"dhcp-userclass=set:{IPXE_TAG},"
                f"{efi.IPXE_USER_CLASS}"]
    if segments is None:
        boots = _boot_files(site)
        segments = [dnsmasq_host(site, boots, h) for h in rows]
    return "\n".join([*out, *segments]) + "\n"


def dnsmasq_host(site: Site, boots: dict[str, tuple[str | None, str | None]], h: HostRow) -> str:
    """One host's lines of the dnsmasq snippet (``boots``: _boot_files)."""
    p = site.profiles[h.profile]
    if not h.mac:
        return f"# {h.name}: no mac, no DHCP reservation"
    tag = f"kb-{h.name}"
    fields = [h.mac, f"set:{tag}"] + ([h.ip] if h.ip else []) + [h.name]
    out = ["dhcp-host=" + ",".join(fields)]
    if p.arch != "um":
        bios, uefi = boots[p.name]
        if uefi is None:
            assert bios is not None
            out += _dnsmasq_boot([f"tag:{tag}"], bios, h, site.boot_server)
        else:
            # option 93 decides: UEFI x86-64 clients get the EFI loader, others BIOS's
            if bios is not None:
                out += _dnsmasq_boot([f"tag:{tag}", f"tag:!{EFI_TAG}"], bios, h, site.boot_server)
            out += _dnsmasq_boot([f"tag:{tag}", f"tag:{EFI_TAG}"], uefi, h, site.boot_server)
        if "grub-legacy" in p.loaders:
            # pxegrub reads its config file name from option 150, but dnsmasq knows
            # 150 as Cisco's tftp-server-address and refuses a text value there.
            out.append(f"# {h.name}: legacy GRUB wants option 150 = \"(nd)/grub/{h.name}.conf\"; "
                       "dnsmasq cannot send 150 as text: use the ISC dhcpd snippet for "
                       "this host, or pxelinux/GRUB 2 (which need no option)")
    return "\n".join(out)


def _dhcpd_filename(boot: str, host: HostRow, indent: str) -> list[str]:
    """The filename statement of one firmware branch; iPXE's own request (user class iPXE)
    gets the host's script instead of the binary again."""
    if boot not in efi.IPXE_BOOT_FILES:
        return [f"{indent}filename \"{boot}\";"]
    return [f"{indent}if exists user-class and option user-class = \"{efi.IPXE_USER_CLASS}\" {{",
            f"{indent}    filename \"{ipxe_script_for(host)}\";",
            f"{indent}}} else {{",
            f"{indent}    filename \"{boot}\";",
            f"{indent}}}"]


def _boot_files(site: Site) -> dict[str, tuple[str | None, str | None]]:
    """Each profile's (BIOS, UEFI) boot file, worked out once rather than once per host."""
    return {name: (boot_file_for(p), efi.boot_file(p.loaders)) if p.arch != "um" else (None, None)
            for name, p in site.profiles.items()}


# option 93 (pxe-system-type, predefined by dhcpd): 7 and 9 are x86-64 UEFI
_DHCPD_EFI = " or ".join(f"option pxe-system-type = 00:{n:02x}" for n in efi.ARCH_EFI_X64)


def dhcpd_file(site: Site, rows: Sequence[HostRow], segments: Sequence[str] | None = None) -> str:
    """The ISC dhcpd snippet; ``segments``: each host's part (dhcpd_host), when known."""
    out = [f"# {GENERATED}", "# ISC dhcpd host declarations (include from dhcpd.conf)."]
    if any("grub-legacy" in site.profiles[name].loaders for name in {h.profile for h in rows}):
        out.append("option grub-configfile code 150 = text;")
    if segments is None:
        boots = _boot_files(site)
        segments = [dhcpd_host(site, boots, h) for h in rows]
    return "\n".join([*out, *segments]) + "\n"


def dhcpd_host(site: Site, boots: dict[str, tuple[str | None, str | None]], h: HostRow) -> str:
    """One host's part of the dhcpd snippet (``boots``: _boot_files)."""
    p = site.profiles[h.profile]
    if not h.mac:
        return f"# {h.name}: no mac, no host declaration"
    body = [f"host {h.name} {{", f"    hardware ethernet {h.mac};"]
    if h.ip:
        body.append(f"    fixed-address {h.ip};")
    if p.arch != "um":
        body.append(f"    next-server {site.boot_server};")
        bios, uefi = boots[p.name]
        if uefi is None:
            assert bios is not None
            body += _dhcpd_filename(bios, h, "    ")
        else:
            body.append(f"    if {_DHCPD_EFI} {{")
            body += _dhcpd_filename(uefi, h, "        ")
            if bios is not None:
                body += ["    } else {", *_dhcpd_filename(bios, h, "        ")]
            body.append("    }")
        if "grub-legacy" in p.loaders:
            body.append(f"    option grub-configfile \"(nd)/grub/{h.name}.conf\";")
    body.append("}")
    return "\n".join(body)


def host_segments(site: Site, rows: Sequence[HostRow]) -> dict[str, list[str]]:
    """Each PER_HOST file's part for each of ``rows``, in their order."""
    boots = _boot_files(site)
    return {DNSMASQ: [dnsmasq_host(site, boots, h) for h in rows],
            DHCPD: [dhcpd_host(site, boots, h) for h in rows]}


def snippets(site: Site, rows: Sequence[HostRow] | None = None,
             segments: dict[str, list[str]] | None = None) -> Snippets:
    """Every server file and its warnings. ``rows``: the hosts (default: the site's);
    ``segments``: their PER_HOST parts when already known (publish/delta.py keeps them
    from the last publish), else they are made here."""
    rows = rows_of(site) if rows is None else rows
    segments = host_segments(site, rows) if segments is None else segments
    exports, warnings = _exports(site, rows)
    files = {
        "exports": exports_file(exports),
        "ganesha-exports.conf": ganesha_file(exports),
        DNSMASQ: dnsmasq_file(site, rows, segments[DNSMASQ]),
        DHCPD: dhcpd_file(site, rows, segments[DHCPD]),
    }
    if site.http_base:
        files["nginx-http.conf"] = http.nginx_server(site.http_base, site.tftp_root)
    return Snippets(files, warnings + lint(site, rows), segments)
