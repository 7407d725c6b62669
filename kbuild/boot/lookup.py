"""The file names a network boot loader looks its configuration up by.

PXELINUX tries the client's UUID, ``01-<mac>``, its IP in hex shortened one digit at a
time, then ``default`` (GRUB 2's network lookup uses the same keys after ``grub.cfg-``).
The host-file writer names files this way and explain-boot replays the lookup.
"""
from __future__ import annotations

import ipaddress


def mac_dashed(mac: str) -> str:
    return mac.lower().replace(":", "-")


def pxelinux_mac_name(mac: str) -> str:
    """ARP hardware type 1 (Ethernet) + the MAC, lower case, dashes."""
    return "01-" + mac_dashed(mac)


def hex_ip(ip: str) -> str:
    return f"{int(ipaddress.IPv4Address(ip)):08X}"


def pxelinux_lookup_order(mac: str | None, ip: str | None, uuid: str | None = None) -> list[str]:
    """The file names PXELINUX tries, in its order: UUID, 01-MAC, hex IP shortened
    one digit at a time, then default."""
    names = []
    if uuid:
        names.append(uuid.lower())
    if mac:
        names.append(pxelinux_mac_name(mac))
    if ip:
        h = hex_ip(ip)
        names += [h[:n] for n in range(8, 0, -1)]
    names.append("default")
    return names


def grub_efi_lookup_order(mac: str | None, ip: str | None) -> list[str]:
    """The files kbuild's grub.cfg makes Debian's signed EFI GRUB try (under ``grub/``):
    ``grub.cfg-01-<mac>``, the full hex IP (not shortened), then ``grub.cfg`` itself."""
    names = []
    if mac:
        names.append("grub.cfg-" + pxelinux_mac_name(mac))
    if ip:
        names.append("grub.cfg-" + hex_ip(ip))
    names.append("grub.cfg")
    return names
