"""Boot a UML profile for real: the ``linux`` binary on a fresh tap device in a
private network namespace, root over NFS from nfs-ganesha in the same namespace.

Each variant combines an NFS version, a network transport and an addressing
mode; ``doit boot:uml`` runs the set that covers NFSv4 and NFSv3, vector and
tuntap, ``ip=dhcp`` (dnsmasq bound to the tap only) and a static ``ip=``.
"""
from __future__ import annotations

import ipaddress
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from kbuild.boot import uml
from kbuild.errors import InfraError, UserError
from kbuild.lab import run
from kbuild.site import layout
from kbuild.site.model import NfsRoot, Profile, Site
from kbuild.util.files import exclusive_lock

GUEST_IP = "10.0.3.2"
TAP_PREFIX = 24
FPSTRESS = Path(__file__).resolve().parent / "fpstress.c"   # package data


@dataclass(frozen=True)
class UmlVariant:
    """One UML boot: NFS version, network transport, addressing, and whether the workloads
    run."""

    nfs_version: str      # "3" or "4"
    transport: str        # "vector" or "tuntap"
    addressing: str       # "dhcp" or "static"
    workloads: bool = False

    @property
    def name(self) -> str:
        return f"nfs{self.nfs_version}-{self.transport}-{self.addressing}"


DEFAULT_VARIANTS = (
    UmlVariant("4", "vector", "dhcp", workloads=True),
    UmlVariant("3", "tuntap", "static"),
    UmlVariant("4", "tuntap", "static"),
    UmlVariant("3", "vector", "dhcp"),
)


def _server(profile: Profile) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(profile.nfsroot.server)


def staged_binary(site: Site, profile: Profile) -> Path:
    from kbuild.build.kernel import read_build_record

    record = read_build_record(site, profile)
    path = layout.stage_dir(site) / f"images/{profile.name}/linux-{record['kernel_release']}"
    if not path.is_file():
        raise UserError(f"the UML kernel of {profile.name!r} is not staged", path=path,
                        hint=f"run: doit kernel:{profile.name}")
    return path


def fpstress_workload(workdir: Path) -> dict[str, bytes]:
    """Compile the FPU/vector stress program (static) and return the /lab scripts."""
    if not FPSTRESS.is_file():
        return {}
    out = workdir / "fpstress"
    if not out.is_file() or out.stat().st_mtime < FPSTRESS.stat().st_mtime:
        r = subprocess.run(["gcc", "-static", "-O2", "-o", str(out), str(FPSTRESS)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise InfraError(f"cannot compile {FPSTRESS.name}: {r.stderr.strip()[-400:]}")
    return {"fpstress.bin": out.read_bytes(),
            "fpstress.sh": b"#!/bin/sh\nexec /lab/fpstress.bin\n"}


def boot_uml(site: Site, profile: Profile, timeout: float = 120.0,
             variants: tuple[UmlVariant, ...] = DEFAULT_VARIANTS) -> run.BootResult:
    if profile.uml is None:
        raise UserError(f"profile {profile.name!r} has no [uml] settings")
    results = [boot_uml_variant(site, profile, v, timeout) for v in variants]
    per_variant = [f"{v.name}: marker after {r.marker_seconds:.1f} s"
                   for v, r in zip(variants, results, strict=True)]
    first = results[0]
    first.variant = f"{len(results)} variants"
    first.evidence = per_variant + first.evidence
    return first


def boot_uml_variant(site: Site, profile: Profile, variant: UmlVariant,
                     timeout: float = 120.0) -> run.BootResult:
    assert profile.uml is not None
    workdir = layout.boot_dir(site, profile) / variant.name
    workdir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(layout.boot_dir(site, profile) / ".lock", f"boot lab of {profile.name}",
                        wait=False):
        workloads = fpstress_workload(workdir) if variant.workloads else {}
        root, token = run.prepare_root(site, profile, workloads)
        binary = staged_binary(site, profile)
        server = _server(profile)
        base = profile.nfsroot
        nfs = NfsRoot(base.server, base.path, variant.nfs_version,
                      base.options + (("nolock",) if variant.nfs_version == "3" else ()))
        _net, device = uml.network_args(variant.transport, profile.uml.tap, profile.uml.mac)
        if variant.addressing == "dhcp":
            ip = "dhcp"
        else:
            ip = f"{GUEST_IP}:{server}::255.255.255.0:umlguest:{device}:off"
        args = uml.command_args(profile, nfsroot=nfs, ip=ip, transport=variant.transport)
        argv = [str(binary), *args, f"uml_dir={workdir / 'uml'}", f"umid={variant.name}"]
        (workdir / "uml").mkdir(exist_ok=True)
        console = workdir / "vm.log"
        spec = run.lab_spec(site, profile, nfs, root, token, console, timeout, workdir)
        spec["taps"] = [{"name": profile.uml.tap, "address": f"{server}/{TAP_PREFIX}"}]
        if variant.addressing == "dhcp":
            net = ipaddress.IPv4Network(f"{server}/{TAP_PREFIX}", strict=False)
            spec["dhcp"] = {"interface": profile.uml.tap,
                            "range": f"{net.network_address + 10},{net.network_address + 50},"
                                     f"{net.netmask},1h",
                            "host": f"{profile.uml.mac},{GUEST_IP}"}
        spec["vm"] = {"argv": argv, "stdin_pipe": True, "console_is_stdout": True}
        started = time.monotonic()
        result = run.run_lab(spec, workdir)
        res = run.boot_result(profile, f"uml {variant.name}", result, console, time.monotonic() - started)
        if variant.workloads and workloads:
            text = Path(res.console).read_text(errors="replace")
            if "kbuild-lab: FAIL" in text or "kbuild-lab: PASS /lab/fpstress.sh" not in text:
                raise InfraError(f"boot {profile.name} [{variant.name}]: the FPU/vector workload failed",
                                 hint=f"console log: {res.console}")
        return res
