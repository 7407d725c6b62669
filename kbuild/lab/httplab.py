"""Prove HTTP for the big files with the site's own snippets: a UEFI client (OVMF's own
network stack) on a bridge in a private network namespace, dnsmasq configured by the
generated ``dnsmasq-hosts.conf`` (DHCP + TFTP for the loader and the script), Debian's
nginx serving the staged tree by the generated ``nginx-http.conf``, nfs-ganesha for the
root. The chain: OVMF PXE → ``snponly.efi`` (TFTP) → iPXE's own DHCP (user class iPXE) →
the host's script (TFTP) → kernel over HTTP → NFS root → init's marker.

``python -m kbuild.lab.httplab SPEC.json`` runs inside ``unshare --net --mount`` (started
through :func:`kbuild.lab.run.run_lab` by :func:`boot_http`).
"""
from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbuild.errors import UserError
from kbuild.lab.nginx import lab_http
from kbuild.lab.qemu import UEFI, qemu_argv
from kbuild.lab.run import BootResult, boot_result, lab_spec, prepare_root, run_lab
from kbuild.lab.supervisor import (
    Lab,
    LabFailure,
    _private_run,
    _start_http,
    _start_nfs,
    _tail,
    _watch,
    supervise,
)
from kbuild.site import layout
from kbuild.site.model import Host, Profile, Site

# one line of nginx's default ("combined") access log
ACCESS_LINE = re.compile(r'^(?P<client>\S+) \S+ \S+ \[[^\]]*\] "(?P<method>[A-Z]+) (?P<path>\S+) '
                         r'[^"]*" (?P<status>\d{3}) (?P<bytes>\d+) "[^"]*" "(?P<agent>[^"]*)"')


@dataclass(frozen=True)
class Fetch:
    """One request in nginx's access log."""

    client: str
    method: str
    path: str
    status: int
    size: int
    agent: str


def access_log(path: Path) -> list[Fetch]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        m = ACCESS_LINE.match(line)
        if m:
            out.append(Fetch(m["client"], m["method"], m["path"], int(m["status"]), int(m["bytes"]),
                             m["agent"]))
    return out


def boot_http(site: Site, profile: Profile, host: Host, workdir: Path, timeout: float = 240.0,
              nic: str = "virtio-net-pci") -> BootResult:
    """One UEFI boot of ``host`` through the staged tree and the generated dnsmasq and nginx
    snippets, to init's marker on the NFS root (InfraError otherwise). The logs stay in
    ``workdir``: ``nginx-access.log``, ``dnsmasq.log``, ``console.log``."""
    if not site.http_base:
        raise UserError("the site has no http_base", path=site.path,
                        hint='set [site] http_base = "http://SERVER:PORT/"')
    if host.mac is None or host.ip is None:
        raise UserError(f"host {host.name} needs a mac and an ip for the HTTP lab", path=site.path)
    server = layout.server_dir(site)
    snippets = {n: server / n for n in ("dnsmasq-hosts.conf", "nginx-http.conf")}
    for name, path in snippets.items():
        if not path.is_file():
            raise UserError(f"no generated {name}", path=path, hint=f"run: doit kernel:{profile.name}")
    tree = layout.stage_dir(site)
    workdir.mkdir(parents=True, exist_ok=True)
    root, token = prepare_root(site, profile)
    console = workdir / "console.log"
    console.unlink(missing_ok=True)
    spec = lab_spec(site, profile, profile.nfsroot, root, token, console, timeout, workdir)
    argv = qemu_argv(tree, console, nic=nic, mac=host.mac, firmware=UEFI,
                     vars_copy=workdir / "OVMF_VARS.fd")
    # the user-mode network becomes a tap on the lab's bridge: DHCP and TFTP are dnsmasq's
    n = argv.index("-netdev")
    argv[n + 1] = "tap,id=n0,ifname=kbtap0,script=no,downscript=no"
    (workdir / "dnsmasq.log").unlink(missing_ok=True)
    spec.update({"vm": {"argv": argv}, "tree": str(tree), "server": site.boot_server,
                 "dnsmasq_conf": str(snippets["dnsmasq-hosts.conf"]),
                 "http": lab_http(site, workdir)})
    started = time.monotonic()
    result = run_lab(spec, workdir, module="kbuild.lab.httplab", what="HTTP lab")
    return boot_result(profile, f"uefi ipxe-efi http {nic}", result, console,
                       time.monotonic() - started)


def _inside(lab: Lab) -> dict[str, Any]:
    spec = lab.spec
    workdir = lab.workdir
    _private_run(lab)
    lab.sh("ip", "link", "set", "lo", "up")
    lab.sh("ip", "link", "add", "kbbr0", "type", "bridge")
    lab.sh("ip", "addr", "add", f"{spec['server']}/24", "dev", "kbbr0")
    lab.sh("ip", "link", "set", "kbbr0", "up")
    lab.sh("ip", "tuntap", "add", "dev", "kbtap0", "mode", "tap")
    lab.sh("ip", "link", "set", "kbtap0", "master", "kbbr0", "up")
    _start_nfs(lab)
    prefix = spec["server"].rsplit(".", 1)[0]
    dns = lab.start("dnsmasq", [
        "dnsmasq", "--no-daemon", "--port=0", "--interface=kbbr0", "--bind-interfaces",
        f"--dhcp-range={prefix}.100,{prefix}.200,1h", "--enable-tftp",
        f"--tftp-root={spec['tree']}", f"--conf-file={spec['dnsmasq_conf']}",
        f"--dhcp-leasefile={workdir / 'dnsmasq.leases'}", "--pid-file=/run/dnsmasq.pid",
        "--log-dhcp"])
    time.sleep(0.3)
    if dns.proc.poll() is not None:
        raise LabFailure(f"dnsmasq refused the generated configuration: {_tail(dns.log, 5)}")
    _start_http(lab)
    console = Path(spec["console"])
    vm = lab.start("vm", spec["vm"]["argv"])
    result = _watch(lab, vm, console)
    result["console"] = str(console)
    return result


def _boot(lab: Lab, result: dict[str, Any]) -> None:
    result["nginx_access"] = str(Path(lab.spec["workdir"]) / "nginx-access.log")
    result.update(_inside(lab))


def run(spec_path: Path) -> int:
    return supervise(spec_path, _boot, "HTTP lab")


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
