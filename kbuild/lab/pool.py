"""A pool of UML clients booting one shared read-only root at the same time.

One busybox root, prepared by ``kbuild root prepare`` (the early-boot program, /var/log
moved to /flash), exported **read-only** by nfs-ganesha; N UML clients on one bridge,
each with its own tap, MAC, static ``ip=`` and hostname, all launched at once with the
entry kbuild writes for the root mode (``ro`` ``init=/sbin/kbuild-root`` ``kbroot=``).
Each client's /lab/pool.sh writes its own token into its RAM side and reads it back,
tries to write to the shared root (refused by the ``ro`` mount), remounts the root
read-write as root and tries again (refused by the server: the export is read-only),
and, for ``overlay``, re-creates a directory deleted from the lower layer (EIO without
TMPFS_XATTR). The export's files are hashed before and after.

``python -m kbuild.lab.pool SPEC.json`` is the part that runs inside the lab's
namespaces (started by :func:`boot_pool` through ``unshare``, like the supervisor).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbuild.boot import uml
from kbuild.errors import UserError
from kbuild.lab import rootfs, run
from kbuild.lab.uml import staged_binary
from kbuild.root.prepare import prepare
from kbuild.site import layout
from kbuild.site.model import SHARED_ROOT_MODES, NfsRoot, Profile, Site
from kbuild.util.files import exclusive_lock

BRIDGE = "kbpool0"
SERVER = "10.0.3.1"
PREFIX = 24
WRITABLE = ("/var/log",)
OPAQUE_DIR = "etc/kbpool-dir"          # in the shared root; clients delete and re-create it

POOL_SH = """#!/bin/sh
# kbuild pool check: RAM side, shared root refused by the mount and by the server.
h=$(uname -n)
tok="$h-$(cat /proc/sys/kernel/random/uuid)"
case "$kbroot" in
    ro-shared) ram=/var/log/pool-token; shared=/ ;;
    overlay) ram=/root/pool-token; shared=/run/kbroot/lower ;;
    *) echo "kbuild-pool: $h FAIL kbroot=$kbroot (not started by kbuild-root)"; exit 1 ;;
esac
echo "$tok" > "$ram" || { echo "kbuild-pool: $h FAIL cannot write $ram"; exit 1; }
[ "$(cat "$ram")" = "$tok" ] || { echo "kbuild-pool: $h FAIL token read back"; exit 1; }
echo "kbuild-pool: $h ram-token $tok"
if echo "$h" > "$shared/etc/pool-write-$h" 2>/dev/null; then
    echo "kbuild-pool: $h FAIL wrote to the shared root"; exit 1
fi
echo "kbuild-pool: $h shared-write refused"
mount -o remount,rw "$shared" || { echo "kbuild-pool: $h FAIL cannot remount rw"; exit 1; }
grep -q " $shared nfs4 rw" /proc/mounts || { echo "kbuild-pool: $h FAIL not remounted rw"; exit 1; }
if (echo "$h" > "$shared/etc/pool-write-$h") 2>/tmp/pool-err; then
    echo "kbuild-pool: $h FAIL the server accepted a write"; exit 1
fi
echo "kbuild-pool: $h server-refused $(cat /tmp/pool-err)"
if [ "$kbroot" = overlay ]; then
    rm -rf /@OPAQUE@ && mkdir /@OPAQUE@ && echo "$h" > /@OPAQUE@/mine \\
        || { echo "kbuild-pool: $h FAIL mkdir over a deleted lower dir"; exit 1; }
    echo "kbuild-pool: $h opaque-dir ok"
fi
echo "kbuild-pool: $h ok"
""".replace("@OPAQUE@", OPAQUE_DIR)

CLIENT_LINES = ("ram-token", "shared-write refused", "server-refused", "ok")


@dataclass
class PoolResult:
    """N clients of one shared root: who came up, when, the server's CPU time, what failed."""

    mode: str
    n: int
    all_up_seconds: float | None
    server_cpu_seconds: float | None
    failures: dict[str, str] = field(default_factory=dict)
    tree_unchanged: bool = False
    consoles: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        up = f"{self.all_up_seconds:.1f} s" if self.all_up_seconds is not None else "never"
        cpu = f"{self.server_cpu_seconds:.2f} s" if self.server_cpu_seconds is not None else "?"
        lines = [f"pool {self.mode}: N={self.n}, all up after {up}, server CPU {cpu}, "
                 f"failures {len(self.failures)}, export byte-identical: "
                 f"{'yes' if self.tree_unchanged else 'NO'}"]
        lines += [f"  {name}: {why}" for name, why in sorted(self.failures.items())]
        return "\n".join(lines)


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file of the tree, symlink targets and directories (with modes)."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = os.lstat(p)
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_dir():
                out[rel] = f"dir:{st.st_mode:o}"
            else:
                out[rel] = f"file:{st.st_mode:o}:" + hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def pool_root(site: Site, profile: Profile, mode: str, name: str | None = None) -> tuple[Path, str]:
    """The lab's busybox root, prepared for ``mode`` by ``kbuild root prepare``."""
    root = rootfs.build_root(layout.nfs_root_dir(site, profile) / (name or f"pool-{mode}"))
    rootfs.set_workloads(root, {"pool.sh": POOL_SH.encode()})
    opaque = root / OPAQUE_DIR
    opaque.mkdir(parents=True, exist_ok=True)
    (opaque / "from-the-root").write_text("lower\n")
    prepare(root, WRITABLE if mode == "ro-shared" else (), mode)
    return root, rootfs.new_token(root)


def client_args(profile: Profile, mode: str, i: int, binary: Path, workdir: Path) -> tuple[str, list[str]]:
    """Client ``i``: its name, and the UML command line kbuild's entry gives it."""
    assert profile.uml is not None
    name = f"pool{i:02d}"
    tap = f"kbp{i}"
    mac = f"52:54:00:4b:50:{i:02x}"
    client = dataclasses.replace(profile, root_mode=mode,
                                 uml=dataclasses.replace(profile.uml, mem="64M", tap=tap, mac=mac,
                                                         transport="vector"))
    _net, device = uml.network_args("vector", tap, mac)
    ip = f"10.0.3.{10 + i}:{SERVER}::255.255.255.0:{name}:{device}:off"
    nfs = NfsRoot(SERVER, profile.nfsroot.path, "4", ("tcp",))
    args = uml.command_args(client, nfsroot=nfs, ip=ip)
    return name, [str(binary), *args, f"uml_dir={workdir / 'uml'}", f"umid={name}"]


def boot_pool(site: Site, profile: Profile, mode: str, n: int = 16,
              timeout: float = 150.0, access: str = "RO") -> PoolResult:
    """Boot ``n`` UML clients of ``profile`` at once on one read-only root in ``mode``.

    ``access = "RW"`` is the control experiment: the same clients on a copy of the root
    exported read-write, where a client that remounts rw can write (so in the real pool
    it is the server that refuses)."""
    if profile.uml is None:
        raise UserError(f"profile {profile.name!r} has no [uml] settings")
    if mode not in SHARED_ROOT_MODES:
        raise UserError(f"a pool shares one root: mode {mode!r} is not a shared root mode",
                        hint=f"modes: {', '.join(SHARED_ROOT_MODES)}")
    name = f"pool-{mode}" + ("" if access == "RO" else "-rw-control")
    workdir = layout.boot_dir(site, profile) / name
    workdir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(layout.boot_dir(site, profile) / ".lock", f"boot lab of {profile.name}",
                        wait=False):
        root, token = pool_root(site, profile, mode, name)
        binary = staged_binary(site, profile)
        (workdir / "uml").mkdir(exist_ok=True)
        clients = dict(client_args(profile, mode, i, binary, workdir) for i in range(n))
        nfs = NfsRoot(SERVER, profile.nfsroot.path, "4", ("tcp",))
        spec = run.lab_spec(site, profile, nfs, root, token, workdir / "unused.log", timeout, workdir)
        spec["nfs"]["config"] = run.ganesha_config(root, nfs.path, [4], workdir / "ganesha-recovery",
                                                   access=access)
        spec["clients"] = clients
        before = tree_digest(root)
        result = run.run_lab(spec, workdir, module="kbuild.lab.pool", what="pool supervisor")
        after = tree_digest(root)
    res = PoolResult(mode=mode, n=n, all_up_seconds=result.get("all_up_seconds"),
                     server_cpu_seconds=result.get("server_cpu_seconds"),
                     tree_unchanged=before == after, consoles=result.get("consoles", {}))
    if result.get("reason"):
        res.failures["lab"] = result["reason"]
    for name in clients:
        why = _client_failure(res.consoles.get(name), name, token, mode)
        if why:
            res.failures[name] = why
    return res


def _client_failure(console: str | None, name: str, token: str, mode: str) -> str | None:
    if console is None:
        return "no console log"
    try:
        text = Path(console).read_bytes().decode(errors="replace")
    except OSError:
        return f"no console log ({console})"
    if f"{rootfs.MARKER} {token}" not in text:
        return f"no marker (console: {console})"
    if f"kbuild-root: {mode}" not in text:
        return f"the early-boot program did not run in {mode} mode (console: {console})"
    needed = CLIENT_LINES + (("opaque-dir ok",) if mode == "overlay" else ())
    for what in needed:
        if f"kbuild-pool: {name} {what}" not in text:
            fail = [ln for ln in text.splitlines() if "FAIL" in ln]
            return f"missing '{what}'" + (f": {fail[0].strip()}" if fail else "") + f" (console: {console})"
    return None


# --- inside the namespaces ------------------------------------------------------------

def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks      # utime + stime


def _boot_pool(lab: Any, result: dict[str, Any]) -> None:
    """Inside the namespaces: the bridge, one tap per client, ganesha, then every client
    until each has finished or the time is up."""
    from kbuild.lab import supervisor as sup

    spec = lab.spec
    sup._private_run(lab)
    lab.sh("ip", "link", "set", "lo", "up")
    lab.sh("ip", "addr", "add", "192.0.2.1/32", "dev", "lo")
    lab.sh("ip", "link", "add", BRIDGE, "type", "bridge")
    lab.sh("ip", "addr", "add", f"{SERVER}/{PREFIX}", "dev", BRIDGE)
    lab.sh("ip", "link", "set", BRIDGE, "up")
    for i in range(len(spec["clients"])):
        lab.sh("ip", "tuntap", "add", "dev", f"kbp{i}", "mode", "tap")
        lab.sh("ip", "link", "set", f"kbp{i}", "master", BRIDGE)
        lab.sh("ip", "link", "set", f"kbp{i}", "up")
    sup._start_nfs(lab)
    ganesha = next(c for c in lab.children if c.name == "ganesha")
    cpu_start = _cpu_seconds(ganesha.proc.pid) or 0.0
    started = time.monotonic()
    vms = {name: lab.start(name, argv, stdin_pipe=True, stdout_pipe=True)
           for name, argv in spec["clients"].items()}
    result["consoles"] = {name: str(vm.log) for name, vm in vms.items()}
    marker = f"{spec['marker']} {spec['token']}"
    done = f"{spec['done']} {spec['token']}"
    up: dict[str, float] = {}
    finished: set[str] = set()
    deadline = started + spec["timeout"]
    while len(finished) < len(vms) and time.monotonic() < deadline:
        for name, vm in vms.items():
            if name in finished:
                continue
            text = vm.log.read_bytes().decode(errors="replace") if vm.log.exists() else ""
            if name not in up and marker in text:
                up[name] = time.monotonic() - started
            if done in text or vm.proc.poll() is not None or sup._PANIC.search(text):
                finished.add(name)
        time.sleep(0.1)
    cpu_end = _cpu_seconds(ganesha.proc.pid)
    result["server_cpu_seconds"] = round(cpu_end - cpu_start, 2) if cpu_end is not None else None
    result["up"] = {k: round(v, 2) for k, v in up.items()}
    if len(up) == len(vms):
        result["all_up_seconds"] = round(max(up.values()), 2)
    if len(finished) < len(vms):
        result["reason"] = (f"{len(vms) - len(finished)} clients did not finish within "
                            f"{spec['timeout']:g} s")


def _supervise(spec_path: Path) -> int:
    from kbuild.lab import supervisor as sup

    return sup.supervise(spec_path, _boot_pool, "pool supervisor")


if __name__ == "__main__":
    sys.exit(_supervise(Path(sys.argv[1])))
