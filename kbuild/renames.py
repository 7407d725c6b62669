"""Kconfig symbols that were renamed or removed, so errors can say what to use."""
from __future__ import annotations

import re

# name -> (what happened, version it happened in, replacement or None)
_RENAMED: dict[str, tuple[str, str, str | None]] = {
    "NET_ETHERNET": ("renamed", "3.2", "ETHERNET"),
    "NFSD_V3": ("removed (NFSv3 server support is always built)", "5.18", None),
    "NFS_V4_1": ("merged into NFS_V4", "7.0", "NFS_V4"),
    "XEN_PRIVILEGED_GUEST": ("removed (dom0 support is XEN_DOM0)", "3.0", "XEN_DOM0"),
    "E1000E_HWTS": ("folded into E1000E", "5.0", "E1000E"),
    "SLOB": ("removed", "6.4", "SLUB"),
    "EMBEDDED": ("renamed", "6.2", "EXPERT"),
    "UML_NET_TUNTAP": ("removed with the legacy UML network transports", "6.16", "UML_NET_VECTOR"),
    "UML_NET": ("removed with the legacy UML network transports", "6.16", "UML_NET_VECTOR"),
}


def _version_tuple(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    m = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", text)
    if not m:
        return ()
    return tuple(int(g) for g in m.groups() if g is not None)


def describe(name: str, kernel_version: str | None) -> str | None:
    """A hint for an unknown symbol that kbuild knows was renamed or removed."""
    entry = _RENAMED.get(name)
    if entry is None:
        return None
    what, since, repl = entry
    text = f"CONFIG_{name} was {what} in Linux {since}"
    if repl:
        text += f"; use CONFIG_{repl}"
    kv = _version_tuple(kernel_version)
    if kv and kv < _version_tuple(since):
        text += f" (this kernel, {kernel_version}, predates that: check the spelling)"
    return text
