"""One run of the boot lab: the supervisor in fresh namespaces, the NFS server's
configuration, the root it exports, and the verdict read from the console.

Everything runs inside namespaces made for the run (see :mod:`kbuild.lab.supervisor`)
and is torn down at the end; :mod:`kbuild.lab.qemu` and :mod:`kbuild.lab.uml` start the
guest.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbuild.errors import InfraError
from kbuild.lab import rootfs
from kbuild.root.prepare import prepare
from kbuild.site import layout
from kbuild.site.model import SHARED_ROOT_MODES, NfsRoot, Profile, Site


@dataclass
class BootResult:
    """A boot that reached init's marker: the profile and variant, when the marker came, the
    console log and what init reported; a failed boot raises InfraError instead
    (:func:`boot_result`)."""

    profile: str
    variant: str
    ok: bool
    marker_seconds: float | None
    seconds: float | None
    console: Path
    evidence: list[str] = field(default_factory=list)
    reason: str | None = None
    milestones: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        head = f"boot {self.profile} [{self.variant}]: "
        if not self.ok:
            return head + f"FAILED: {self.reason} (console log: {self.console})"
        lines = [head + f"init ran from the NFS root; marker after {self.marker_seconds:.1f} s "
                 f"(console log: {self.console})"]
        phases = phase_line(self.milestones, self.marker_seconds)
        if phases:
            lines.append(f"  phases: {phases}")
        lines += [f"  {e}" for e in self.evidence]
        return "\n".join(lines)


# Each phase ends when the console shows the next milestone (supervisor.MILESTONES).
_PHASES = (("firmware", "loader"), ("loader", "kernel"), ("kernel", "network"),
           ("NFS mount", "root"), ("init", "marker"))


def phase_seconds(milestones: dict[str, float], marker_seconds: float | None) -> dict[str, float]:
    """The length of each phase (label -> seconds); a phase whose end was not seen on the
    console is merged into the next (``firmware+loader``)."""
    ends = {**milestones, "marker": marker_seconds}
    out: dict[str, float] = {}
    pending: list[str] = []
    start = 0.0
    for name, end_key in _PHASES:
        pending.append(name)
        end = ends.get(end_key)
        if end is None or end < start:
            continue
        out["+".join(pending)] = end - start
        pending = []
        start = end
    return out


def phase_line(milestones: dict[str, float], marker_seconds: float | None) -> str:
    """``firmware 2.1 s, loader 0.9 s, kernel 3.0 s, NFS mount 0.4 s, init 0.3 s``
    (:func:`phase_seconds`); merged phases of no length (UML has no firmware or loader)
    are left out."""
    return ", ".join(f"{label} {secs:.1f} s"
                     for label, secs in phase_seconds(milestones, marker_seconds).items()
                     if "+" not in label or secs >= 0.05)


def ganesha_config(export_path: Path, pseudo: str, protocols: list[int], recovery: Path,
                   access: str = "RW") -> str:
    """The lab server's configuration; ``access = "RO"`` for a shared root: the server
    refuses writes even from a client that remounted the root read-write."""
    protos = ", ".join(str(p) for p in protocols)
    return f"""# nfs-ganesha configuration written by kbuild's boot lab
NFS_CORE_PARAM {{
    Protocols = {protos};
    Enable_NLM = false;
    Enable_RQUOTA = false;
    Enable_UDP = false;
    # NFSv3 clients mount the same path as NFSv4 ones (the Pseudo path).
    Mount_Path_Pseudo = true;
}}
NFSv4 {{
    # No 90 s grace period on start: the lab server has no clients to recover.
    Graceless = true;
    RecoveryRoot = "{recovery}";
}}
EXPORT {{
    Export_Id = 1;
    Path = "{export_path}";
    Pseudo = "{pseudo}";
    Protocols = {protos};
    Transports = TCP;
    Access_Type = {access};
    Squash = No_Root_Squash;
    SecType = sys;
    FSAL {{ Name = VFS; }}
}}
LOG {{
    Default_Log_Level = EVENT;
}}
"""


def nfs_protocols(version: str) -> list[int]:
    return [4] if version.startswith("4") else [3, 4]


def run_lab(spec: dict[str, Any], workdir: Path, module: str = "kbuild.lab.supervisor",
            what: str = "lab supervisor") -> dict[str, Any]:
    """Run ``module`` (the lab supervisor, or the pool's) with the spec inside fresh
    namespaces and return the result document it wrote."""
    if os.geteuid() != 0:
        raise InfraError("the boot lab needs root (it creates network and mount namespaces)",
                         hint="run the boot tasks as root")
    if shutil.which("unshare") is None:
        raise InfraError("unshare not found", hint="install util-linux")
    workdir.mkdir(parents=True, exist_ok=True)
    result_path = workdir / "result.json"
    result_path.unlink(missing_ok=True)
    spec = {**spec, "workdir": str(workdir), "result": str(result_path)}
    spec_path = workdir / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=2))
    argv = ["unshare", "--net", "--mount", "--propagation", "private", "--kill-child", "--",
            sys.executable, "-m", module, str(spec_path)]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2]) + os.pathsep + env.get("PYTHONPATH", "")
    try:
        subprocess.run(argv, env=env, timeout=spec["timeout"] + 60, check=False,
                       stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"ok": False, "reason": f"the {what} did not finish (killed)"}
    try:
        result: dict[str, Any] = json.loads(result_path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {"ok": False, "reason": f"the {what} wrote no result (see logs in {workdir})"}
    return result


def _evidence(console: Path) -> list[str]:
    try:
        text = console.read_bytes().decode(errors="replace")
    except OSError:
        return []
    return [line.strip().split("kbuild-lab: ", 1)[1] for line in text.splitlines()
            if "kbuild-lab: " in line]


def prepare_root(site: Site, profile: Profile, workloads: dict[str, bytes] | None = None) -> tuple[Path, str]:
    root = rootfs.build_root(layout.nfs_root_dir(site, profile) / "root")
    rootfs.set_workloads(root, workloads or {})
    if profile.root_mode in SHARED_ROOT_MODES:
        # the entry runs kbuild's early-boot program: the lab root gets it the way a
        # site's root does (idempotent; /var/log is the ro-shared RAM side)
        prepare(root, ("/var/log",) if profile.root_mode == "ro-shared" else (), profile.root_mode)
    return root, rootfs.new_token(root)


def lab_spec(site: Site, profile: Profile, nfs: NfsRoot, root: Path, token: str, console: Path,
          timeout: float, workdir: Path) -> dict[str, Any]:
    recovery = workdir / "ganesha-recovery"
    recovery.mkdir(parents=True, exist_ok=True)
    protocols = nfs_protocols(nfs.version)
    return {
        "profile": profile.name,
        "marker": rootfs.MARKER,
        "done": rootfs.DONE,
        "token": token,
        "timeout": timeout,
        "console": str(console),
        "nfs": {"protocols": protocols,
                "config": ganesha_config(root, nfs.path, protocols, recovery,
                                         access="RO" if profile.root_mode in SHARED_ROOT_MODES else "RW")},
    }


def boot_result(profile: Profile, variant: str, result: dict[str, Any], console: Path,
            wall: float) -> BootResult:
    console = Path(result.get("console", console))
    res = BootResult(profile=profile.name, variant=variant, ok=bool(result.get("ok")),
                     marker_seconds=result.get("marker_seconds"), seconds=result.get("seconds"),
                     console=console, evidence=_evidence(console), reason=result.get("reason"),
                     milestones=dict(result.get("milestones") or {}))
    if res.ok and not any(e.startswith("root ") and " nfs" in e for e in res.evidence):
        res.ok = False
        res.reason = "init ran but the root filesystem is not NFS"
    if res.ok and profile.xen is not None:
        # dom0 proof: Xen's /sys/hypervisor and the control domain capability
        if not any(e.startswith("hypervisor xen ") for e in res.evidence):
            res.ok = False
            res.reason = "init ran but /sys/hypervisor does not show Xen"
        elif not any("control_d" in e for e in res.evidence):
            res.ok = False
            res.reason = "init ran under Xen but not as dom0 (no control_d capability)"
    if not res.ok:
        logs = result.get("logs", {})
        raise InfraError(f"boot {profile.name} [{variant}] failed: {res.reason}",
                         hint=f"console log: {console}" + (
                             "; server logs: " + ", ".join(f"{k}={v}" for k, v in logs.items())
                             if logs else ""))
    return res
