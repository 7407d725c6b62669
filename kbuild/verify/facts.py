"""The facts of a boot entry that rule conditions test, and the lengths limits measure.

From the entry's command line (``root=``, ``ip=``, ``nfsroot=``, consoles,
``devtmpfs.mount``), the NICs named for it, the arch and whether Xen boots it as dom0,
as Linux 6.1 reads them (:mod:`kbuild.boot.cmdline`). The fact names and their values
are :data:`kbuild.rules.model.FACTS`.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from pathlib import Path

from kbuild.boot.cmdline import nfsroot_device_bytes, nfsroot_option_bytes, parse_ip, parse_nfsroot
from kbuild.boot.spec import BootSpec
from kbuild.rules.model import Nic, RuleSet
from kbuild.util.record import record

_NFS_ROOT_DEVICES = ("/dev/nfs", "ff", "00ff", "0xff", "0:255")


_UML_VECTOR = r"^vec\d+:"     # compiled on first use (UML only)


_UML_TUNTAP = r"^eth\d+=tuntap\b"


@record
class EntryFacts:
    """An entry's facts (name -> values), the lengths limit rules measure, and notes."""

    facts: dict[str, frozenset[str]]
    measures: dict[str, int]
    notes: list[str]


TRAITS = ("efi", "secure-boot")


def entry_facts(spec: BootSpec, *, arch: str, nics: Sequence[Nic], rules: RuleSet,
                dom0: bool, assumed: bool, traits: frozenset[str] = frozenset(),
                tree: str = "unknown") -> EntryFacts:
    """The facts rule conditions test, and the lengths limit rules measure. ``traits``
    (:data:`TRAITS`) say how the machine boots the kernel (secure-boot implies efi);
    ``tree`` which source tree it is built from (:func:`tree_kind`)."""
    cmd = spec.cmdline
    lockdown = cmd.get("lockdown")
    facts: dict[str, set[str]] = {"arch": {arch}, "entry": {"assumed" if assumed else "given"},
                                  "efi": {"true" if traits & set(TRAITS) else "false"},
                                  "secure_boot": {"true" if "secure-boot" in traits else "false"},
                                  "lockdown": {lockdown if lockdown in ("integrity", "confidentiality")
                                               else "none"},
                                  "tree": {tree},
                                  "dom0": {"true" if dom0 else "false"},
                                  "initrd": {"true" if spec.initrd else "false"},
                                  "loader": {"none" if assumed else spec.format}}
    measures: dict[str, int] = {}
    notes = list(spec.notes)
    if not assumed:
        measures["cmdline"] = spec.cmdline_bytes
    if spec.multiboot_bytes is not None:
        measures["multiboot_cmdlines"] = spec.multiboot_bytes

    root = cmd.get("root")
    nfsroot_raw = cmd.get("nfsroot")
    if spec.initrd and not cmd.has("noinitrd"):
        mount = "initramfs"
    elif root is not None:
        mount = "kernel" if root in _NFS_ROOT_DEVICES else "none"
    else:
        mount = "kernel" if nfsroot_raw is not None else "none"
    facts["mount"] = {mount}
    if mount == "initramfs":
        notes.append("the entry loads an initramfs: it mounts the root, so the kernel-level "
                     "nfsroot rules are not applied; its NFS client and NIC driver may be modules "
                     "inside the initramfs")

    ip_raw = None
    for key, value in cmd.params():
        if key in ("ip", "nfsaddrs") and value is not None:
            ip_raw = value
    ip = parse_ip(ip_raw) if ip_raw is not None else None
    if ip is None:
        facts["ip"] = {"absent"}
    else:
        facts["ip"] = {"given"}
        facts["autoconf"] = {ip.autoconf}
        facts["ip_device"] = {"given" if ip.device else "none"}
        if ip.device is not None:
            measures["ip_device"] = len(ip.device.encode())
        if ip.hostname is not None:
            measures["ip_hostname"] = len(ip.hostname.encode())

    server = None
    if nfsroot_raw is None:
        facts.update(nfsroot={"absent"}, nfsroot_form={"absent"}, nfs_version={"default"},
                     transport={"default"})
    else:
        arg = parse_nfsroot(nfsroot_raw)
        server = arg.server
        facts.update(nfsroot={"given"}, nfsroot_form={arg.form}, nfs_version={arg.version},
                     transport={arg.transport})
        measures["nfsroot_value"] = len(nfsroot_raw.encode()) + (
            len("/tftpboot/") if arg.form == "tftpboot-name" else 0)
    if ip is not None:
        if server is not None:
            facts["nfs_server"] = {"nfsroot"}
        elif ip.server is not None:
            facts["nfs_server"] = {"ip"}
            server = ip.server
        elif ip.autoconf in ("dhcp", "bootp", "rarp", "both", "any"):
            facts["nfs_server"] = {"dhcp"}
        else:
            facts["nfs_server"] = {"none"}
    if nfsroot_raw is not None:
        arg = parse_nfsroot(nfsroot_raw)
        nodename = (ip.hostname or ip.client) if ip is not None else None
        measures["nfsroot_device"] = nfsroot_device_bytes(arg, server, nodename)
        measures["nfsroot_options"] = nfsroot_option_bytes(arg, server)

    consoles = set()
    known = {v for r in rules.rules for c in r.when if c.fact == "console" for v in c.values}
    for value in cmd.all("console"):
        name = value.split(",", 1)[0]
        family = name.rstrip("0123456789") or name
        consoles.add(family)
        if family not in known:
            notes.append(f"console={value}: kbuild has no rule for {family!r} consoles; check "
                         "that its driver is built in")
    facts["console"] = consoles or {"none"}

    devtmpfs = cmd.get("devtmpfs.mount")
    if devtmpfs is None:
        facts["devtmpfs_mount"] = {"default"}
    else:
        facts["devtmpfs_mount"] = {"0" if devtmpfs.strip() in ("0", "") else "1"}
    facts["nfsrootdebug"] = {"true" if cmd.has("nfsrootdebug") else "false"}
    # kbroot= is what a shared root's entry passes to kbuild's early-boot program
    # (kbuild.site.model.root_mode_args); an entry without it is a root of its own
    kbroot = cmd.get("kbroot")
    facts["root_mode"] = {kbroot if kbroot in ("ro-shared", "overlay") else "rw"}

    names = [n.name for n in nics]
    if arch == "um":
        for a in cmd.args:
            if re.match(_UML_VECTOR, a) and "uml-vector" in rules.nics:
                names.append("uml-vector")
            elif re.match(_UML_TUNTAP, a) and "uml-tuntap" in rules.nics:
                names.append("uml-tuntap")
    names = list(dict.fromkeys(names))
    facts["nic"] = set(names) or {"none"}
    facts["nic_class"] = {rules.nics[n].nic_class for n in names} or {"unknown"}
    facts["nic_count"] = {"0" if not names else "1" if len(names) == 1 else "many"}
    return EntryFacts({k: frozenset(v) for k, v in facts.items()}, measures, notes)


# Symbols only Debian's patched tree defines (debian/patches/features/all/lockdown):
# a .config that mentions one, or a source tree whose Kconfig defines one, is Debian's.
DEBIAN_ONLY = ("LOCK_DOWN_IN_EFI_SECURE_BOOT",)
_DEBIAN_KCONFIG = "security/lockdown/Kconfig"


def tree_kind(config_symbols: Collection[str], srctree: Path | None, hint: str | None = None) -> str:
    """``debian``, ``upstream`` or ``unknown``: the ``hint`` (a profile's source), else a
    Debian-only symbol written in the config (kconfig writes every symbol its tree shows,
    ``# ... is not set`` too), else the source tree's Kconfig; with neither, unknown."""
    if hint is not None:
        return hint
    if any(s in config_symbols for s in DEBIAN_ONLY):   # not a walk over ~8,000 symbols
        return "debian"
    if srctree is not None:
        try:
            text = (srctree / _DEBIAN_KCONFIG).read_text(errors="replace")
        except OSError:
            return "upstream"
        return "debian" if any(re.search(rf"^config {s}$", text, re.M) for s in DEBIAN_ONLY) \
            else "upstream"
    return "unknown"
