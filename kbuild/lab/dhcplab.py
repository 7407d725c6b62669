"""Prove DHCP option 93 with the site's own dnsmasq snippet: a BIOS client and a UEFI
client on one bridge in a private network namespace, one dnsmasq (DHCP + TFTP) configured
by the generated ``dnsmasq-hosts.conf``, and each client must start its own loader.

``python -m kbuild.lab.dhcplab SPEC.json`` runs inside ``unshare --net --mount`` (started
by :func:`run_pair`); it reuses the supervisor's process handling.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbuild.errors import InfraError
from kbuild.lab.qemu import BIOS, UEFI, Firmware, qemu_argv
from kbuild.lab.supervisor import Lab, LabFailure

# the file each DHCP boot file fetches next over TFTP once it runs: dnsmasq's
# "sent <file> to <address>" for it proves the client started that loader
NEXT_FILE = {"pxelinux.0": "ldlinux.c32", "bootx64.efi": "grubx64.efi"}


@dataclass(frozen=True)
class Client:
    """One virtual PC of the pair: its MAC, firmware and NIC, and the loader it must get."""

    name: str
    mac: str
    ip: str              # its dhcp-host address in the snippet
    firmware: Firmware
    nic: str
    expect: str          # the DHCP boot file, a key of BANNERS


def pair(bios: tuple[str, str], uefi: tuple[str, str]) -> list[Client]:
    """A BIOS client (e1000, SeaBIOS + iPXE ROM) and a UEFI one (virtio-net, OVMF), each
    given as (MAC, IP) of a host in the snippet."""
    return [Client("bios", *bios, BIOS, "e1000", "pxelinux.0"),
            Client("uefi", *uefi, UEFI, "virtio-net-pci", "bootx64.efi")]


def run_pair(tree: Path, snippet: str, clients: list[Client], server_ip: str, workdir: Path,
             timeout: float = 240.0) -> dict[str, Any]:
    """Boot the clients against dnsmasq with ``snippet``; returns, per client, after how many
    seconds it fetched the file only its loader asks for, and dnsmasq's log."""
    if os.geteuid() != 0:
        raise InfraError("the boot lab needs root (it creates network and mount namespaces)")
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "dnsmasq-hosts.conf"
    conf.write_text(snippet)
    vms = []
    for i, c in enumerate(clients):
        console = workdir / f"{c.name}.console.log"
        console.unlink(missing_ok=True)
        argv = qemu_argv(tree, console, nic=c.nic, mac=c.mac, firmware=c.firmware,
                         vars_copy=workdir / f"{c.name}.OVMF_VARS.fd")
        # the user-mode network becomes a tap on the lab's bridge: DHCP and TFTP are dnsmasq's
        n = argv.index("-netdev")
        argv[n + 1] = f"tap,id=n0,ifname=kbtap{i},script=no,downscript=no"
        vms.append({"name": c.name, "argv": argv, "console": str(console),
                    "proof": f"sent {tree}/{NEXT_FILE[c.expect]} to {c.ip}"})
    result_path = workdir / "result.json"
    spec: dict[str, Any] = {"workdir": str(workdir), "tree": str(tree), "conf": str(conf),
                            "server": server_ip, "vms": vms, "timeout": timeout,
                            "result": str(result_path)}
    (workdir / "spec.json").write_text(json.dumps(spec, indent=2))
    result_path.unlink(missing_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2]) + os.pathsep + env.get("PYTHONPATH", "")
    subprocess.run(["unshare", "--net", "--mount", "--propagation", "private", "--kill-child", "--",
                    sys.executable, "-m", "kbuild.lab.dhcplab", str(workdir / "spec.json")],
                   env=env, timeout=timeout + 60, check=False, stdin=subprocess.DEVNULL)
    try:
        result: dict[str, Any] = json.loads(result_path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        raise InfraError(f"the DHCP lab wrote no result (see {workdir})") from None
    return result


def _inside(spec: dict[str, Any]) -> dict[str, Any]:
    lab = Lab(spec, Path(spec["workdir"]))
    try:
        lab.sh("mount", "-t", "tmpfs", "-o", "mode=0755", "kbuild-lab-run", "/run")
        lab.sh("ip", "link", "set", "lo", "up")
        lab.sh("ip", "link", "add", "kbbr0", "type", "bridge")
        lab.sh("ip", "addr", "add", f"{spec['server']}/24", "dev", "kbbr0")
        lab.sh("ip", "link", "set", "kbbr0", "up")
        for i, _vm in enumerate(spec["vms"]):
            lab.sh("ip", "tuntap", "add", "dev", f"kbtap{i}", "mode", "tap")
            lab.sh("ip", "link", "set", f"kbtap{i}", "master", "kbbr0", "up")
        prefix = spec["server"].rsplit(".", 1)[0]
        dns = lab.start("dnsmasq", [
            "dnsmasq", "--no-daemon", "--port=0", "--interface=kbbr0", "--bind-interfaces",
            f"--dhcp-range={prefix}.100,{prefix}.200,1h", "--enable-tftp",
            f"--tftp-root={spec['tree']}", f"--conf-file={spec['conf']}",
            f"--dhcp-leasefile={Path(spec['workdir']) / 'dnsmasq.leases'}",
            "--pid-file=/run/dnsmasq.pid", "--log-dhcp"])
        time.sleep(0.5)
        if dns.proc.poll() is not None:
            raise LabFailure(f"dnsmasq refused the configuration: {dns.log.read_text()[-500:]}")
        for vm in spec["vms"]:
            lab.start(vm["name"], vm["argv"])
        started = time.monotonic()
        seen: dict[str, float] = {}
        while len(seen) < len(spec["vms"]) and time.monotonic() - started < spec["timeout"]:
            log = dns.log.read_bytes().decode(errors="replace")
            for vm in spec["vms"]:
                if vm["name"] not in seen and vm["proof"] in log:
                    seen[vm["name"]] = round(time.monotonic() - started, 2)
            time.sleep(0.2)
        return {"ok": len(seen) == len(spec["vms"]), "seen": seen,
                "dnsmasq_log": str(dns.log)}
    except LabFailure as e:
        return {"ok": False, "reason": str(e)}
    finally:
        lab.stop_all()


if __name__ == "__main__":
    doc = json.loads(Path(sys.argv[1]).read_text())
    Path(doc["result"]).write_text(json.dumps(_inside(doc), indent=2))
