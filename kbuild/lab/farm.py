"""A build farm in a private network namespace: distccd compile servers and a redis-server
(ccache's remote storage), each on its own address, for proofs and figures.

The namespace is held by a ``sleep`` started through ``unshare --net``; every daemon and
every build that should reach them runs in it through ``nsenter --net``. Only loopback
exists there, with the farm's addresses (192.0.2.0/24, TEST-NET-1) on it, so nothing
outside can reach the servers and the servers reach nothing. Children die with the
process that made the farm (PR_SET_PDEATHSIG) and are stopped by PID."""
from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from kbuild.errors import InfraError

DISTCC_PORT = 3632
REDIS_PORT = 6379
_JOB_DONE = re.compile(r"COMPILE_OK")


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    os.setpgid(0, 0)


@dataclass
class Server:
    """A daemon of the farm: what it is, where it listens, its process and log."""

    name: str
    kind: str            # "distccd" | "redis"
    address: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def spec(self) -> str:
        """How clients name it: a distcc host spec, or a redis:// URL."""
        if self.kind == "redis":
            return f"redis://{self.address}:{self.port}"
        return f"{self.address}:{self.port}/2"

    def jobs_done(self) -> int:
        """Compiles distccd finished (its log's COMPILE_OK job summaries)."""
        try:
            return len(_JOB_DONE.findall(self.log.read_text(errors="replace")))
        except FileNotFoundError:
            return 0


@dataclass
class Farm:
    """The namespace holder and the servers started in it."""

    workdir: Path
    holder: subprocess.Popen[bytes]
    servers: dict[str, Server] = field(default_factory=dict)

    @property
    def netns(self) -> str:
        return f"/proc/{self.holder.pid}/ns/net"

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the farm's network namespace."""
        return ["nsenter", f"--net={self.netns}", "--", *argv]

    def add_address(self, address: str) -> None:
        _run(self.wrap(["ip", "addr", "add", f"{address}/32", "dev", "lo"]))

    def distccd(self, name: str, address: str, jobs: int = 2) -> Server:
        self.add_address(address)
        argv = ["distccd", "--daemon", "--no-detach", "--log-stderr", "--log-level", "info",
                "--listen", address, "--port", str(DISTCC_PORT), "--allow", "192.0.2.0/24",
                "--jobs", str(jobs)]
        return self._start(name, "distccd", address, DISTCC_PORT, argv)

    def redis(self, name: str, address: str, user: str | None = None,
              password: str | None = None) -> Server:
        self.add_address(address)
        data = self.workdir / name
        data.mkdir(parents=True, exist_ok=True)
        argv = ["redis-server", "--bind", address, "--port", str(REDIS_PORT), "--save", "",
                "--appendonly", "no", "--protected-mode", "no", "--dir", str(data),
                "--daemonize", "no", "--unixsocket", ""]
        if password is not None:
            # a server that wants credentials, as a shared cache on a real network does:
            # the password alone (AUTH PASSWORD) and user + password (AUTH USER PASSWORD)
            argv += ["--requirepass", password]
            if user is not None:
                argv += ["--user", user, "on", f">{password}", "~*", "&*", "+@all"]
        return self._start(name, "redis", address, REDIS_PORT, argv)

    def _start(self, name: str, kind: str, address: str, port: int, argv: list[str]) -> Server:
        if shutil.which(argv[0]) is None:
            raise InfraError(f"{argv[0]} not found", hint="run scripts/setup (installs distcc, "
                             "redis-server)")
        log = self.workdir / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(self.wrap(argv), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        server = Server(name, kind, address, port, proc, log)
        self.servers[name] = server
        self._wait_listening(server, 15)
        return server

    def _wait_listening(self, server: Server, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                raise InfraError(f"{server.name} exited at start-up (status {server.proc.returncode})",
                                 hint=f"its log: {server.log}")
            probe = self.wrap(["python3", "-c", _PROBE, server.address, str(server.port)])
            if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise InfraError(f"{server.name} did not listen on {server.address}:{server.port} "
                         f"within {timeout:.0f} s", hint=f"its log: {server.log}")

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        """Stop one server by its PID (SIGKILL to simulate a crash)."""
        server = self.servers[name]
        if server.proc.poll() is None:
            try:
                os.killpg(server.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                server.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(server.proc.pid, signal.SIGKILL)
                server.proc.wait()

    def close(self) -> None:
        for name in list(self.servers):
            self.stop(name)
        self.holder.kill()
        self.holder.wait()


_PROBE = ("import socket,sys\n"
          "socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=0.5).close()")


def _run(argv: list[str]) -> None:
    r = subprocess.run(argv, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise InfraError(f"{' '.join(argv)} failed: {r.stderr.strip()}",
                         hint="the farm needs root (network namespaces)")


@contextmanager
def farm(workdir: Path) -> Iterator[Farm]:
    """A fresh farm: a network namespace with loopback up; servers are added by the caller."""
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            raise InfraError(f"{tool} not found", hint="install util-linux and iproute2")
    workdir.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(["unshare", "--net", "--", "sleep", "infinity"],
                              stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    f = Farm(workdir, holder)
    try:
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{holder.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            if holder.poll() is not None or time.monotonic() > deadline:
                raise InfraError("could not make a network namespace (unshare --net)",
                                 hint="the farm needs root")
            time.sleep(0.02)
        _run(f.wrap(["ip", "link", "set", "lo", "up"]))
        yield f
    finally:
        f.close()

