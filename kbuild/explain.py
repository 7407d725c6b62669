"""Replay PXELINUX's configuration lookup against a published tree.

Given a client's MAC and/or IP (and UUID), find the file PXELINUX would load,
the entry it would boot, the kernel, hypervisor and command line that result,
and where they came from (the publish manifest's provenance).
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbuild import hostfiles
from kbuild.errors import UserError
from kbuild.publish import read_manifest


@dataclass
class PxeLabel:
    name: str
    kernel: str | None = None
    append: str = ""
    ipappend: int = 0


@dataclass
class PxeConfig:
    default: str | None
    ontimeout: str | None
    labels: dict[str, PxeLabel]

    def boot_label(self) -> PxeLabel | None:
        for name in (self.default, self.ontimeout):
            if name and name in self.labels:
                return self.labels[name]
        return next(iter(self.labels.values()), None)


def parse_pxelinux(text: str) -> PxeConfig:
    default = ontimeout = None
    labels: dict[str, PxeLabel] = {}
    current: PxeLabel | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        key = key.upper()
        value = value.strip()
        if key == "LABEL":
            current = PxeLabel(value)
            labels[value] = current
        elif key == "DEFAULT":
            default = value
        elif key == "ONTIMEOUT":
            ontimeout = value
        elif current is not None and key in ("KERNEL", "LINUX"):
            current.kernel = value
        elif current is not None and key == "APPEND":
            current.append = value
        elif current is not None and key == "IPAPPEND":
            current.ipappend = int(value) if value.isdigit() else 0
    return PxeConfig(default, ontimeout, labels)


@dataclass
class Explanation:
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

    def as_dict(self) -> dict[str, Any]:
        verdict = None
        if self.verdict is not None:
            verdict = self.verdict.as_dict() if hasattr(self.verdict, "as_dict") else str(self.verdict)
        return {"tree": str(self.tree), "tried": [{"file": f"pxelinux.cfg/{n}", "exists": e}
                                                  for n, e in self.tried],
                "config_file": self.config_file, "label": self.label, "kernel": self.kernel,
                "kernel_args": self.kernel_args, "hypervisor": self.hypervisor,
                "hypervisor_args": self.hypervisor_args, "provenance": self.provenance,
                "problems": self.problems, "verdict": verdict}


def explain(tree: Path, mac: str | None, ip: str | None, uuid: str | None = None) -> Explanation:
    if not mac and not ip and not uuid:
        raise UserError("give --mac, --ip or --uuid: PXELINUX looks files up by them")
    cfgdir = tree / "pxelinux.cfg"
    if not cfgdir.is_dir():
        raise UserError("no pxelinux.cfg directory: nothing published here", path=tree,
                        hint="run: kbuild publish (or doit kernel:<profile>)")
    try:
        order = hostfiles.pxelinux_lookup_order(mac.lower().replace("-", ":") if mac else None, ip, uuid)
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
    cfg = parse_pxelinux((cfgdir / chosen).read_text(errors="replace"))
    label = cfg.boot_label()
    exp = Explanation(tree=tree, tried=tried, config_file=rel, label=label.name if label else None,
                      kernel=None, kernel_args=[])
    if label is None or label.kernel is None:
        exp.problems.append(f"{rel} has no bootable LABEL")
        return exp
    words = shlex.split(label.append) if label.append else []
    if label.kernel.endswith("mboot.c32"):
        # mboot.c32 hypervisor [args] --- kernel [args] [--- module ...]
        parts: list[list[str]] = [[]]
        for w in words:
            if w == "---":
                parts.append([])
            else:
                parts[-1].append(w)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            exp.problems.append(f"{rel}: mboot.c32 APPEND needs 'hypervisor --- kernel'")
            return exp
        exp.hypervisor, exp.hypervisor_args = parts[0][0], parts[0][1:]
        exp.kernel, exp.kernel_args = parts[1][0], parts[1][1:]
    else:
        exp.kernel, exp.kernel_args = label.kernel, words
        if label.ipappend & 2 and mac:
            exp.kernel_args.append("BOOTIF=" + hostfiles.pxelinux_mac_name(mac))
    manifest = read_manifest(tree) or {}
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
