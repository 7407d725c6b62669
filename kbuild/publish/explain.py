"""Replay PXELINUX's configuration lookup against a published tree.

Given a client's MAC and/or IP (and UUID), find the file PXELINUX would load,
the entry it would boot, the kernel, hypervisor and command line that result,
and where they came from (the publish manifest's provenance).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbuild.boot.lookup import grub_efi_lookup_order, pxelinux_lookup_order, pxelinux_mac_name
from kbuild.boot.pxelinux import IPAPPEND_BOOTIF
from kbuild.boot.read import parse_entry
from kbuild.errors import UserError
from kbuild.publish.manifest import read_manifest


@dataclass
class Explanation:
    """explain-boot's answer: the names PXELINUX tries and the file found, the entry it
    boots (kernel, hypervisor, arguments), their provenance from the manifest, problems, and
    the verify verdict."""

    tree: Path
    tried: list[tuple[str, bool]]
    config_file: str
    label: str | None
    kernel: str | None
    kernel_args: list[str]
    hypervisor: str | None = None
    hypervisor_args: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    verdict: Any = None
    tried_dir: str = "pxelinux.cfg"     # where the tried names live (grub/ under UEFI)
    firmware: str = "bios"
    chain: list[str] = field(default_factory=list)   # the loader files before the config

    def as_dict(self) -> dict[str, Any]:
        verdict = None
        if self.verdict is not None:
            verdict = self.verdict.as_dict() if hasattr(self.verdict, "as_dict") else str(self.verdict)
        return {"tree": str(self.tree), "firmware": self.firmware, "chain": self.chain,
                "tried": [{"file": f"{self.tried_dir}/{n}", "exists": e} for n, e in self.tried],
                "config_file": self.config_file, "label": self.label, "kernel": self.kernel,
                "kernel_args": self.kernel_args, "hypervisor": self.hypervisor,
                "hypervisor_args": self.hypervisor_args, "provenance": self.provenance,
                "problems": self.problems, "verdict": verdict}


def explain(tree: Path, mac: str | None, ip: str | None, uuid: str | None = None,
            firmware: str = "bios") -> Explanation:
    if firmware == "uefi":
        return explain_uefi(tree, mac, ip)
    if not mac and not ip and not uuid:
        raise UserError("give --mac, --ip or --uuid: PXELINUX looks files up by them")
    cfgdir = tree / "pxelinux.cfg"
    if not cfgdir.is_dir():
        raise UserError("no pxelinux.cfg directory: nothing published here", path=tree,
                        hint="run: kbuild publish (or doit kernel:<profile>)")
    try:
        order = pxelinux_lookup_order(mac.lower().replace("-", ":") if mac else None, ip, uuid)
    except ValueError as e:
        raise UserError(f"bad address: {e}") from None
    tried: list[tuple[str, bool]] = []
    chosen = None
    for name in order:
        exists = (cfgdir / name).is_file()
        tried.append((name, exists))
        if exists:
            chosen = name
            break
    if chosen is None:
        raise UserError("PXELINUX would find no configuration file for this client", path=cfgdir,
                        hint="publish a default menu or a per-host entry")
    rel = f"pxelinux.cfg/{chosen}"
    try:
        spec = parse_entry((cfgdir / chosen).read_text(errors="replace"), rel)
    except UserError as e:
        exp = Explanation(tree=tree, tried=tried, config_file=rel, label=None, kernel=None,
                          kernel_args=[])
        exp.problems.append(f"{rel}: {e.message}")
        return exp
    # IPAPPEND 2: PXELINUX appends the booting NIC's address as BOOTIF=01-<mac>
    bootif = "BOOTIF=" + pxelinux_mac_name(mac) if mac else None
    args = [bootif if a == IPAPPEND_BOOTIF and bootif else a for a in spec.cmdline.args]
    exp = Explanation(tree=tree, tried=tried, config_file=rel, label=spec.label,
                      kernel=spec.kernel, kernel_args=args, hypervisor=spec.hypervisor,
                      hypervisor_args=list(spec.hypervisor_args), chain=["pxelinux.0"])
    return _provenance(exp, tree, rel)


def explain_uefi(tree: Path, mac: str | None, ip: str | None) -> Explanation:
    """Replay a UEFI client: DHCP gives ``bootx64.efi`` (shim), shim loads ``grubx64.efi``
    (Debian's signed GRUB), which reads ``grub/grub.cfg``; that file's own lookup
    (:func:`kbuild.boot.grub.efi_host_lookup`) loads ``grub.cfg-01-<mac>``, then
    ``grub.cfg-<HEX IP>``, else its menu's default."""
    if not mac and not ip:
        raise UserError("give --mac or --ip: kbuild's grub.cfg looks host files up by them")
    chain = ["bootx64.efi", "grubx64.efi"]
    missing = [f for f in chain + ["grub/grub.cfg"] if not (tree / f).is_file()]
    if missing:
        raise UserError(f"no UEFI network boot published here (missing {', '.join(missing)})",
                        path=tree, hint='add "grub-efi" to a profile\'s loaders and publish')
    try:
        order = grub_efi_lookup_order(mac.lower().replace("-", ":") if mac else None, ip)
    except ValueError as e:
        raise UserError(f"bad address: {e}") from None
    tried: list[tuple[str, bool]] = []
    chosen = "grub.cfg"
    for name in order:
        exists = (tree / "grub" / name).is_file()
        tried.append((name, exists))
        if exists:
            chosen = name
            break
    rel = f"grub/{chosen}"
    text = (tree / rel).read_text(errors="replace")
    if chosen == "grub.cfg":
        # the menu: entries offered only on BIOS (multiboot) do not exist for this client
        text = _drop_platform_blocks(text, "pc")
    exp = Explanation(tree=tree, tried=tried, config_file=rel, label=None, kernel=None,
                      kernel_args=[], tried_dir="grub", firmware="uefi", chain=chain)
    try:
        spec = parse_entry(text, rel)
    except UserError as e:
        exp.problems.append(f"{rel}: {e.message}")
        return exp
    exp.label, exp.kernel, exp.kernel_args = spec.label, spec.kernel, list(spec.cmdline.args)
    if spec.hypervisor:
        exp.problems.append(f"{rel}: entry {spec.label} loads a hypervisor (multiboot), which "
                            "Debian's signed EFI GRUB cannot boot")
    return _provenance(exp, tree, rel)


def _drop_platform_blocks(text: str, platform: str) -> str:
    return re.sub(r'^if \[ "\$grub_platform" = ' + platform + r' \]; then\n.*?^fi\n', "", text,
                  flags=re.M | re.S)


def _provenance(exp: Explanation, tree: Path, rel: str) -> Explanation:
    if exp.kernel is None:
        exp.problems.append(f"{rel} has no bootable entry")
        return exp
    manifest: dict[str, Any] = read_manifest(tree) or {}
    owned = manifest.get("files", {})
    for what, path in (("kernel", exp.kernel), ("hypervisor", exp.hypervisor)):
        if path is None:
            continue
        clean = re.sub(r"^/+", "", path)
        if not (tree / clean).is_file():
            exp.problems.append(f"the {what} {clean} named by {rel} does not exist in the tree")
        elif clean in owned:
            exp.provenance[what] = {"file": clean, "sha256": owned[clean].get("sha256"),
                                    **owned[clean].get("meta", {})}
    if rel in owned:
        exp.provenance["entry"] = {"file": rel, **owned[rel].get("meta", {})}
    return exp
