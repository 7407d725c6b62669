"""Per-host boot files: the names each loader looks up, and their content.

Policy (docs/hosts.md): a host with a MAC gets the MAC-named files of every
loader its profile uses. PXELINUX and GRUB 2 try the MAC name before any hex-IP
name, so for such a host a hex-IP file would never be read by it: it is written
only for hosts without a MAC (or for every host with ``[site] hexip_files =
"always"``, for sites whose DHCP hands out addresses kbuild does not know the
MACs of). That keeps one file per host and loader: 5,000 hosts are 5,000
pxelinux files, not 10,000. Legacy GRUB reads the file DHCP names (option
150), so each host gets ``grub/<name>.conf``. iPXE chains ``ipxe/<mac>.ipxe``
from the menu script. UML hosts get a launch script.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from kbuild.boot import grub, grub_legacy, ipxe, pxelinux
from kbuild.boot import uml as umlcfg
from kbuild.boot.entry import BootEntry, host_nfsroot
from kbuild.boot.lookup import hex_ip, mac_dashed, pxelinux_mac_name
from kbuild.site.model import Host, Profile


@dataclass(frozen=True)
class HostFile:
    """One per-host file of the TFTP tree: where, what, and its mode."""

    relpath: str
    text: str
    mode: int = 0o644


def host_files(host: Host, profile: Profile, entry: BootEntry, uml_binary: str | None = None,
               plain_hypervisor: str | None = None, base_uri: str = "tftp://0.0.0.0",
               hexip: str = "no-mac", http_base: str | None = None) -> list[HostFile]:
    out: list[HostFile] = []
    by_ip = host.ip is not None and (hexip == "always" or host.mac is None)
    if profile.arch == "um":
        assert uml_binary is not None
        nfs = host_nfsroot(profile, host)
        script = umlcfg.launch_script(_host_profile(profile, host, nfs), uml_binary)
        out.append(HostFile(f"uml/{host.name}.sh", script, 0o755))
        return out
    # pxelinux and GRUB 2 look files up by the same keys: 01-<mac>, then the hex IP
    by_address = (("pxelinux", "pxelinux.cfg/", pxelinux.host_config),
                  ("grub2", "grub/grub.cfg-", grub.host_config))
    for loader, prefix, render in by_address:
        # kbuild's grub.cfg makes the signed EFI GRUB try the same names (boot/efi.py)
        uses = loader in profile.loaders or (loader == "grub2" and "grub-efi" in profile.loaders)
        # the unsigned EFI image searches these names itself, as GRUB's BIOS image does
        uses = uses or (loader == "grub2" and "grub-efi-unsigned" in profile.loaders)
        if not uses:
            continue
        text = _rendered(render, entry)
        if host.mac:
            out.append(HostFile(f"{prefix}{pxelinux_mac_name(host.mac)}", text))
        if by_ip and host.ip:
            out.append(HostFile(f"{prefix}{hex_ip(host.ip)}", text))
    if "grub-legacy" in profile.loaders:
        out.append(HostFile(f"grub/{host.name}.conf", _rendered(grub_legacy.host_config, entry)))
    if ("ipxe" in profile.loaders or "ipxe-efi" in profile.loaders) and host.mac:
        # also the script DHCP hands iPXE itself (user class iPXE, boot/server.py)
        out.append(HostFile(f"ipxe/{mac_dashed(host.mac)}.ipxe",
                            _rendered(ipxe.script, entry, plain_hypervisor, base_uri, http_base)))
    return out


# Rendering 50,000 hosts' files one by one is most of a large site's staging time, yet
# hosts of one profile differ only by their name (consoles, extra arguments and NFS
# path aside, which are part of the key). Each loader's file is rendered once for a
# stand-in name, using every character a host name may have, and the name is put in
# by replacement: only after one real host's file, rendered in full, came out the same.
# Longer names are rendered in full (a line-length check passed by the stand-in then
# holds for the name too).
_SENTINEL = "kbuild.Host-Name_Stand-in.0123456789abcd"
_TEMPLATES: dict[tuple[object, ...], str | None] = {}
_MAX_TEMPLATES = 4096


# every field of an entry but the three that carry the name
_KEY_FIELDS = tuple(f.name for f in dataclasses.fields(BootEntry) if f.name not in ("label", "title", "host"))


def _rendered(render: Callable[..., str], entry: BootEntry, *args: object) -> str:
    name = entry.host
    if name is None or entry.label != name or not entry.title.startswith(name) or \
            len(name) > len(_SENTINEL):
        return render(entry, *args)
    suffix = entry.title[len(name):]
    key = (render, suffix, args, *(getattr(entry, f) for f in _KEY_FIELDS))
    template = _TEMPLATES.get(key, "")
    if template == "":
        stand_in = dataclasses.replace(entry, label=_SENTINEL, host=_SENTINEL, title=_SENTINEL + suffix)
        direct = render(entry, *args)
        template = render(stand_in, *args)
        if template.replace(_SENTINEL, name) != direct:
            template = None         # this loader's text is not a plain function of the name
        if len(_TEMPLATES) >= _MAX_TEMPLATES:
            _TEMPLATES.clear()
        _TEMPLATES[key] = template
        return direct
    if template is None:
        return render(entry, *args)
    return template.replace(_SENTINEL, name)


def _host_profile(profile: Profile, host: Host, nfs: object) -> Profile:
    import dataclasses

    from kbuild.site.model import NfsRoot

    assert isinstance(nfs, NfsRoot)
    console = host.console if host.console is not None else profile.console
    return dataclasses.replace(profile, nfsroot=nfs, console=console,
                               cmdline=profile.cmdline + host.extra,
                               root_mode=host.mode_in(profile))
