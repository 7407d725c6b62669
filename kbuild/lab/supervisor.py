"""The boot lab's supervisor, run inside private network and mount namespaces.

``python -m kbuild.lab.supervisor SPEC.json`` is started by :mod:`kbuild.lab.qemu`
through ``unshare --net --mount``. Inside, it owns a loopback-only network
(plus tap devices it creates), a private tmpfs on /run (so rpcbind's socket
collides with nothing), and every process it starts: rpcbind, nfs-ganesha,
dnsmasq, the VM. It waits for the marker, then stops everything by PID and
writes a result file. Children die with it (PR_SET_PDEATHSIG), and the
namespaces vanish with the last process in them.
"""
from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_PANIC = re.compile(r"(Kernel panic - not syncing.*|VFS: Unable to mount root fs.*|"
                    r"ptrace set fp regs failed.*|Attempted to kill init.*|"
                    r"\(XEN\) Panic on CPU.*|triple fault.*|"
                    # UEFI Secure Boot: GRUB (through shim) or shim refuses the image
                    r"error: bad shim signature.*|Verification failed: .*Security Violation.*)")


def _pdeathsig() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    os.setpgid(0, 0)


@dataclass
class Child:
    """A process the supervisor started, with its log."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass
class Lab:
    """The supervisor's state: the spec, its work directory and its children (stopped by PID
    at the end)."""

    spec: dict[str, Any]
    workdir: Path
    children: list[Child] = field(default_factory=list)

    def sh(self, *argv: str) -> None:
        r = subprocess.run(list(argv), capture_output=True, text=True)
        if r.returncode != 0:
            raise LabFailure(f"{' '.join(argv)} failed: {r.stderr.strip()}")

    def start(self, name: str, argv: list[str], stdin_pipe: bool = False,
              stdout_pipe: bool = False) -> Child:
        """Start a child; with ``stdout_pipe`` its output reaches the log through a pipe
        that a thread copies (UML's console cannot poll a regular file: EPERM)."""
        log = self.workdir / f"{name}.log"
        out = open(log, "wb")
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE if stdout_pipe else out,
                                    stderr=subprocess.STDOUT,
                                    stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
                                    preexec_fn=_pdeathsig, cwd=self.workdir)
        except FileNotFoundError:
            out.close()
            raise LabFailure(f"{argv[0]} not found (install it: scripts/setup)") from None
        if stdout_pipe:
            assert proc.stdout is not None
            threading.Thread(target=_copy, args=(proc.stdout, out), daemon=True).start()
        else:
            out.close()
        child = Child(name, proc, log)
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        for child in reversed(self.children):
            if child.proc.poll() is None:
                try:
                    os.killpg(child.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        for child in reversed(self.children):
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(child.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                child.proc.wait()


def _copy(src: Any, dst: Any) -> None:
    with src, dst:
        while chunk := os.read(src.fileno(), 65536):
            dst.write(chunk)
            dst.flush()


class LabFailure(Exception):
    """The lab could not run (a server did not start, a command failed); reported in the
    result file."""


def _wait_port(port: int, child: Child, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise LabFailure(f"{child.name} exited with status {child.proc.returncode} at start-up "
                             f"(log: {child.log}): {_tail(child.log, 5)}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise LabFailure(f"{child.name} did not listen on port {port} within {timeout:.0f} s "
                     f"(log: {child.log})")


def _tail(path: Path, n: int) -> str:
    try:
        lines = path.read_bytes().decode(errors="replace").splitlines()
    except OSError:
        return ""
    return " | ".join(lines[-n:])


def _setup_network(lab: Lab) -> None:
    lab.sh("ip", "link", "set", "lo", "up")
    # nfs-ganesha wants a non-loopback IPv4 address to exist (AI_ADDRCONFIG).
    lab.sh("ip", "addr", "add", "192.0.2.1/32", "dev", "lo")
    for tap in lab.spec.get("taps", []):
        lab.sh("ip", "tuntap", "add", "dev", tap["name"], "mode", "tap")
        lab.sh("ip", "addr", "add", tap["address"], "dev", tap["name"])
        lab.sh("ip", "link", "set", tap["name"], "up")


def _private_run(lab: Lab) -> None:
    lab.sh("mount", "-t", "tmpfs", "-o", "mode=0755", "kbuild-lab-run", "/run")
    os.makedirs("/run/rpcbind", exist_ok=True)


def _start_nfs(lab: Lab) -> None:
    nfs = lab.spec["nfs"]
    if 3 in nfs["protocols"]:
        rpcbind = lab.start("rpcbind", ["rpcbind", "-f"])
        _wait_port(111, rpcbind, 10)
    conf = lab.workdir / "ganesha.conf"
    conf.write_text(nfs["config"])
    ganesha = lab.start("ganesha", ["ganesha.nfsd", "-F", "-L", str(lab.workdir / "ganesha.log"),
                                    "-f", str(conf), "-p", "/run/ganesha.pid", "-N", "NIV_EVENT"])
    _wait_port(2049, ganesha, 15)


def _start_dhcp(lab: Lab) -> None:
    dhcp = lab.spec.get("dhcp")
    if not dhcp:
        return
    argv = ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
            f"--interface={dhcp['interface']}", "--bind-interfaces", "--except-interface=lo",
            f"--dhcp-range={dhcp['range']}", f"--dhcp-host={dhcp['host']}",
            f"--dhcp-leasefile={lab.workdir / 'dnsmasq.leases'}", "--pid-file=/run/dnsmasq.pid",
            "--log-dhcp"]
    child = lab.start("dnsmasq", argv)
    time.sleep(0.3)
    if child.proc.poll() is not None:
        raise LabFailure(f"dnsmasq exited at start-up: {_tail(child.log, 5)}")


def _start_http(lab: Lab) -> None:
    """nginx with the site's generated server block (kbuild/lab/nginx.py), when the site
    serves its tree over HTTP too (``http_base``)."""
    http = lab.spec.get("http")
    if not http:
        return
    _wait_port(int(http["port"]), lab.start("nginx", http["argv"]), 10)


# What the console shows as a boot goes on, for the phase times (kbuild/lab/run.py).
MILESTONES = (("loader", re.compile(r"PXELINUX|SYSLINUX|GNU GRUB|Welcome to GRUB")),
              ("kernel", re.compile(r"Linux version |\(XEN\) Xen version")),
              ("network", re.compile(r"IP-Config: Complete")),
              ("root", re.compile(r"VFS: Mounted root \(nfs")))


def _milestones(text: str, seen: dict[str, float], at: float) -> None:
    for name, pattern in MILESTONES:
        if name not in seen and pattern.search(text):
            seen[name] = round(at, 2)


def _watch(lab: Lab, vm: Child, console: Path) -> dict[str, Any]:
    seen: dict[str, float] = {}
    result = _watch_console(lab, vm, console, seen)
    result["milestones"] = seen
    return result


def _watch_console(lab: Lab, vm: Child, console: Path, seen: dict[str, float]) -> dict[str, Any]:
    spec = lab.spec
    marker = f"{spec['marker']} {spec['token']}"
    done = f"{spec['done']} {spec['token']}"
    started = time.monotonic()
    deadline = started + spec["timeout"]
    marker_at: float | None = None
    while True:
        now = time.monotonic()
        text = console.read_bytes().decode(errors="replace") if console.exists() else ""
        _milestones(text, seen, now - started)
        if marker_at is None and marker in text:
            marker_at = now - started
        if marker_at is not None and (done in text or not spec.get("wait_done", True)):
            return {"ok": True, "marker_seconds": round(marker_at, 2),
                    "seconds": round(now - started, 2)}
        panic = _PANIC.search(text)
        if panic:
            return {"ok": False, "reason": f"the guest failed: {panic.group(0).strip()}",
                    "seconds": round(now - started, 2)}
        if vm.proc.poll() is not None:
            time.sleep(0.2)
            text = console.read_bytes().decode(errors="replace") if console.exists() else ""
            if marker in text and (done in text or not spec.get("wait_done", True)):
                continue
            return {"ok": False, "reason": f"the VM exited (status {vm.proc.returncode}) "
                    "before init printed the marker", "seconds": round(now - started, 2)}
        if now > deadline:
            what = ("init's marker did not appear" if marker_at is None
                    else "the workloads did not finish")
            return {"ok": False, "reason": f"{what} within {spec['timeout']:g} s",
                    "seconds": round(now - started, 2)}
        time.sleep(0.1)


def supervise(spec_path: Path, body: Callable[[Lab, dict[str, Any]], None], what: str) -> int:
    """The frame of every lab supervisor: ``body`` fills the result inside the namespaces;
    whatever happens, every child is stopped, a failure becomes ``ok: false`` with its
    reason (partial results kept), and the result file names the children's logs."""
    spec = json.loads(spec_path.read_text())
    lab = Lab(spec, Path(spec["workdir"]))
    result: dict[str, Any] = {}
    try:
        body(lab, result)
    except LabFailure as e:
        result.update(ok=False, reason=str(e))
    except Exception as e:  # the outer process reports this; never leave children behind
        result.update(ok=False, reason=f"{what} error: {type(e).__name__}: {e}")
    finally:
        lab.stop_all()
    result["logs"] = {c.name: str(c.log) for c in lab.children}
    Path(spec["result"]).write_text(json.dumps(result, indent=2))
    return 0


def _boot_one(lab: Lab, result: dict[str, Any]) -> None:
    spec = lab.spec
    _private_run(lab)
    _setup_network(lab)
    _start_nfs(lab)
    _start_dhcp(lab)
    _start_http(lab)
    console = Path(spec["console"])
    vm = lab.start("vm", spec["vm"]["argv"], stdin_pipe=spec["vm"].get("stdin_pipe", False),
                   stdout_pipe=spec["vm"].get("console_is_stdout", False))
    if spec["vm"].get("console_is_stdout"):
        console = vm.log
    result.update(_watch(lab, vm, console))
    result["console"] = str(console)


def run(spec_path: Path) -> int:
    return supervise(spec_path, _boot_one, "lab supervisor")


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
