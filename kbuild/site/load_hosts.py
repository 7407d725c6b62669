"""kbuild.toml's [[hosts]]: machines, their addresses, profile and NIC."""
from __future__ import annotations

from typing import Any

from kbuild.site.model import ROOT_MODES, Host, Profile
from kbuild.site.reader import MAC, NAME, SiteChecker, ipv4
from kbuild.util.toml import KeyPath

_HOST_KEYS = {"name": "", "mac": "", "ip": "", "profile": "", "nic": "", "console": "",
              "extra": "", "nfs_path": "", "root_mode": ""}


def read_hosts(c: SiteChecker, data: Any, profiles: dict[str, Profile]) -> list[Host]:
    out: list[Host] = []
    if not isinstance(data, list):
        c.error(("hosts",), "hosts must be an array of tables: [[hosts]]")
        return out
    seen: dict[tuple[str, str], int] = {}
    for i, body in enumerate(data):
        host = _plain_host(c, i, body, profiles, seen)
        if host is not None:
            out.append(host)
            continue
        where: KeyPath = ("hosts", i)
        t = c.table(body, where, _HOST_KEYS)
        name = c.string(t, "name", where, required=True) or f"host{i}"
        if not NAME.match(name):
            c.error(where + ("name",), f"host name {name[:70]!r}: use letters, digits, '.', '_' "
                    "and '-' (at most 64)")
        profile = c.string(t, "profile", where, required=True) or ""
        if profile and profile not in profiles:
            c.error(where + ("profile",), f"host {name!r} uses unknown profile {profile!r}",
                    f"profiles: {', '.join(sorted(profiles))}")
        mac = c.string(t, "mac", where)
        if mac is not None:
            norm = mac.lower().replace("-", ":")
            if not MAC.match(norm):
                c.error(where + ("mac",), f"mac = {mac!r} is not a MAC address",
                        "write six hex pairs: 52:54:00:12:34:56")
            mac = norm
        ip = c.string(t, "ip", where)
        if ip is not None and not ipv4(ip):
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
                        line=c.lines.line(where),
                        root_mode=c.string(t, "root_mode", where, choices=ROOT_MODES)))
    return out


_PLAIN_KEYS = frozenset({"name", "mac", "ip", "profile", "extra"})


def _plain_host(c: SiteChecker, i: int, body: Any, profiles: dict[str, Profile],
                seen: dict[tuple[str, str], int]) -> Host | None:
    """The host, when every check of read_hosts passes at sight for a table of only
    name, mac, ip, profile and extra (what 50,000-host sites are made of); else None,
    and read_hosts checks the table key by key and reports what is wrong."""
    if type(body) is not dict or not body.keys() <= _PLAIN_KEYS:
        return None
    name, profile, mac, ip = body.get("name"), body.get("profile"), body.get("mac"), body.get("ip")
    extra = body.get("extra", [])
    if type(name) is not str or not NAME.match(name) or type(profile) is not str or profile not in profiles:
        return None
    if mac is not None:
        if type(mac) is not str:
            return None
        mac = mac.lower().replace("-", ":")
        if not MAC.match(mac):
            return None
    if ip is not None and (type(ip) is not str or not ipv4(ip)):
        return None
    if (mac is None and ip is None) or type(extra) is not list or \
            not all(type(x) is str for x in extra):
        return None
    keys = [("name", name), *([("mac", mac)] if mac is not None else []),
            *([("ip", ip)] if ip is not None else [])]
    if any(k in seen for k in keys):
        return None
    for k in keys:
        seen[k] = i
    return Host(name=name, profile=profile, mac=mac, ip=ip, nic=None, console=None, extra=tuple(extra),
                nfs_path=None, line=c.lines.line(("hosts", i)))
