"""``kbuild explain-boot``: which file a PXE client loads, what it boots, and whether
that kernel's config satisfies what the entry asks of it."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kbuild.commands.common import add_site_argument
from kbuild.publish import explain
from kbuild.site.load import load_site


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mac", help="the client's MAC address (52:54:00:12:34:56)")
    p.add_argument("--ip", help="the client's IPv4 address")
    p.add_argument("--uuid", help="the client's SMBIOS UUID (tried first by PXELINUX)")
    p.add_argument("--firmware", choices=("bios", "uefi"), default="bios",
                   help="the client's firmware: bios replays PXELINUX's lookup, uefi the chain "
                        "shim → GRUB → grub.cfg's per-host lookup (default bios)")
    p.add_argument("--tree", type=Path, help="published TFTP root (default: site.tftp_root)")
    add_site_argument(p)
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")


def run(args: argparse.Namespace) -> int:
    site = load_site(args.site)
    tree = (args.tree or site.tftp_root).resolve()
    exp = explain.explain(tree, args.mac, args.ip, args.uuid, firmware=args.firmware)
    exp.verdict = _verdict(tree, exp, site, args.mac, args.ip)
    passed = not exp.problems and (exp.verdict is None or exp.verdict.passed)
    if args.json:
        doc = exp.as_dict()
        doc["passed"] = passed
        print(json.dumps(doc, indent=2))
        return 0 if passed else 1
    out = [f"tree: {tree}", f"firmware: {exp.firmware}: DHCP boot file {' → '.join(exp.chain)}"]
    for name, exists in exp.tried:
        out.append(f"  {'found' if exists else 'no   '}  {exp.tried_dir}/{name}")
    out.append(f"loads: {exp.config_file} (label {exp.label})")
    if exp.hypervisor:
        out.append(f"hypervisor: {exp.hypervisor} {' '.join(exp.hypervisor_args)}")
    out.append(f"kernel: {exp.kernel}")
    out.append(f"command line: {' '.join(exp.kernel_args)}")
    k = exp.provenance.get("kernel")
    if k:
        out.append(f"built: profile {k.get('profile')}, Linux {k.get('kernel_release')}, "
                   f"config sha256 {str(k.get('config_sha256'))[:12]}, source {k.get('source')} "
                   f"({str(k.get('source_sha256'))[:12]})")
    for p in exp.problems:
        out.append(f"problem: {p}")
    if exp.verdict is not None:
        from kbuild.verify import render as verify

        out.append(verify.render_summary(exp.verdict))
    out.append("verdict: " + ("boots with root over NFS" if passed else "WILL NOT BOOT as published"))
    print("\n".join(out))
    return 0 if passed else 1


def _verdict(tree: Path, exp: explain.Explanation, site, mac: str | None, ip: str | None):  # type: ignore[no-untyped-def]
    from kbuild.boot.entry import entry_from_cmdline
    from kbuild.verify import check as verify

    k = exp.provenance.get("kernel")
    if not k or not exp.kernel:
        return None
    release = k.get("kernel_release")
    profile_name = k.get("profile")
    config = tree / Path(exp.kernel.lstrip("/")).parent / f"config-{release}"
    if not config.is_file():
        print(f"warning: no config-{release} beside the kernel; no verdict", file=sys.stderr)
        return None
    nics: list[str] = []
    for h in site.hosts:
        if (mac and h.mac == mac.lower().replace("-", ":")) or (ip and h.ip == ip):
            if h.nic:
                nics.append(h.nic)
    profile = site.profiles.get(profile_name)
    if profile is not None and not nics:
        nics = list(profile.nics)
    entry = entry_from_cmdline(" ".join(exp.kernel_args), exp.config_file,
                               dom0=exp.hypervisor is not None)
    return verify.verify_config(config, display=str(config.relative_to(tree)), entry=entry,
                                nics=nics, dom0=exp.hypervisor is not None,
                                arch=profile.arch if profile else None)
