"""Server snippets that must agree with the boot entries: NFS exports (kernel
nfsd and nfs-ganesha), dnsmasq and ISC dhcpd host entries, and for a site with
``http_base`` the nginx server block. Plus lints for the classic diskless traps
(AF_UNIX path length, nfsroot buffer limits, exports open to everyone)."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from kbuild.boot import efi, http
from kbuild.boot.entry import GENERATED, host_nfsroot
from kbuild.boot.lookup import mac_dashed
from kbuild.site.model import SHARED_ROOT_MODES, Host, NfsRoot, Profile, Site

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
    """The server files (name -> text) and the lint warnings about them."""

    files: dict[str, str]
    warnings: list[str]


def _exports(site: Site) -> tuple[list[Export], list[str]]:
    warnings: list[str] = []
    exports: OrderedDict[str, Export] = OrderedDict()
    hosts_by_profile: dict[str, list[Host]] = {}
    for one in site.hosts:
        hosts_by_profile.setdefault(one.profile, []).append(one)
    for p in site.profiles.values():
        targets: list[tuple[str, Host | None]] = []
        hosts = hosts_by_profile.get(p.name, [])
        for host in hosts:
            targets.append((host_nfsroot(p, host).path, host))
        if not hosts:
            targets.append((p.nfsroot.path, None))
        for path, h in targets:
            ex = exports.setdefault(path, Export(path, p.nfsroot.version))
            if p.name not in ex.profiles:
                ex.profiles.append(p.name)
            if p.nfsroot.version == "3":
                ex.version = "3"
            ex.modes[f"host {h.name}" if h else f"profile {p.name}"] = (
                h.mode_in(p) if h else p.root_mode)
            if h is None:
                continue
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


def lint(site: Site) -> list[str]:
    out = []
    hosts_by_profile: dict[str, list[Host | None]] = {}
    for one in site.hosts:
        hosts_by_profile.setdefault(one.profile, []).append(one)
    found: dict[object, list[str]] = {}     # hosts mostly share their profile's NFS root
    for p in site.profiles.values():
        for h in hosts_by_profile.get(p.name) or [None]:
            nfs = host_nfsroot(p, h)
            problems = found.get(nfs)
            if problems is None:
                problems = found[nfs] = _nfs_problems(nfs)
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
    return _exports(site)[0]


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


def ipxe_script_for(host: Host) -> str:
    """The script a host's iPXE gets from DHCP (its own, written by hostfiles)."""
    assert host.mac is not None
    return f"ipxe/{mac_dashed(host.mac)}.ipxe"


def _boots_ipxe(site: Site) -> bool:
    """Whether a host with a MAC gets an iPXE binary as its DHCP boot file (BIOS or UEFI)."""
    ipxe = {n for n, p in site.profiles.items() if p.arch != "um"
            and {boot_file_for(p), efi.boot_file(p.loaders)} & efi.IPXE_BOOT_FILES}
    return bool(ipxe) and any(h.mac and h.profile in ipxe for h in site.hosts)


def _dnsmasq_boot(tags: list[str], boot: str, host: Host, server: str) -> list[str]:
    """dhcp-boot lines for one firmware branch; when its boot file is iPXE, iPXE's own
    request (user class iPXE) gets the host's script instead of the binary again."""
    if boot not in efi.IPXE_BOOT_FILES:
        return ["dhcp-boot=" + ",".join([*tags, boot, "", server])]
    return ["dhcp-boot=" + ",".join([*tags, f"tag:!{IPXE_TAG}", boot, "", server]),
            "dhcp-boot=" + ",".join([*tags, f"tag:{IPXE_TAG}", ipxe_script_for(host), "", server])]


def dnsmasq_file(site: Site) -> str:
    out = [f"# {GENERATED}", "# dnsmasq host entries (conf-file=... or /etc/dnsmasq.d/)."]
    if any(efi.boot_file(site.profiles[h.profile].loaders) for h in site.hosts):
        out += ["# x86-64 UEFI clients (DHCP option 93 = 7 or 9) are tagged " + EFI_TAG,
                *_dnsmasq_arch_match()]
    if _boots_ipxe(site):
        out += [f"# requests from iPXE itself (user class {efi.IPXE_USER_CLASS}) are tagged "
                f"{IPXE_TAG}: they get the host's script", f"dhcp-userclass=set:{IPXE_TAG},"
                f"{efi.IPXE_USER_CLASS}"]
    boots = _boot_files(site)
    for h in site.hosts:
        p = site.profiles[h.profile]
        if not h.mac:
            out.append(f"# {h.name}: no mac, no DHCP reservation")
            continue
        tag = f"kb-{h.name}"
        fields = [h.mac, f"set:{tag}"] + ([h.ip] if h.ip else []) + [h.name]
        out.append("dhcp-host=" + ",".join(fields))
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
    return "\n".join(out) + "\n"


def _dhcpd_filename(boot: str, host: Host, indent: str) -> list[str]:
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


def dhcpd_file(site: Site) -> str:
    out = [f"# {GENERATED}", "# ISC dhcpd host declarations (include from dhcpd.conf)."]
    if any("grub-legacy" in site.profiles[h.profile].loaders for h in site.hosts):
        out.append("option grub-configfile code 150 = text;")
    boots = _boot_files(site)
    # option 93 (pxe-system-type, predefined by dhcpd): 7 and 9 are x86-64 UEFI
    cond = " or ".join(f"option pxe-system-type = 00:{n:02x}" for n in efi.ARCH_EFI_X64)
    for h in site.hosts:
        p = site.profiles[h.profile]
        if not h.mac:
            out.append(f"# {h.name}: no mac, no host declaration")
            continue
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
                body.append(f"    if {cond} {{")
                body += _dhcpd_filename(uefi, h, "        ")
                if bios is not None:
                    body += ["    } else {", *_dhcpd_filename(bios, h, "        ")]
                body.append("    }")
            if "grub-legacy" in p.loaders:
                body.append(f"    option grub-configfile \"(nd)/grub/{h.name}.conf\";")
        body.append("}")
        out.append("\n".join(body))
    return "\n".join(out) + "\n"


def snippets(site: Site) -> Snippets:
    exports, warnings = _exports(site)
    files = {
        "exports": exports_file(exports),
        "ganesha-exports.conf": ganesha_file(exports),
        "dnsmasq-hosts.conf": dnsmasq_file(site),
        "dhcpd-hosts.conf": dhcpd_file(site),
    }
    if site.http_base:
        files["nginx-http.conf"] = http.nginx_server(site.http_base, site.tftp_root)
    return Snippets(files, warnings + lint(site))
