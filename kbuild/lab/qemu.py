"""Boot a staged kernel for real and watch init run from the NFS root.

x86 profiles: QEMU (TCG unless the CPU has vmx/svm) PXE-boots the staged TFTP
tree through QEMU's built-in DHCP/TFTP; the kernel mounts / from nfs-ganesha
reached at 10.0.2.2. UML profiles: the ``linux`` binary runs as a process on a
tap device. Either way everything runs inside namespaces made for the run
(see :mod:`kbuild.lab.supervisor`) and is torn down at the end.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbuild.errors import InfraError, UserError
from kbuild.lab import rootfs
from kbuild.site import layout
from kbuild.site.model import NfsRoot, Profile, Site
from kbuild.util.files import exclusive_lock

QEMU_MAC = "52:54:00:12:34:56"


@dataclass
class BootResult:
    profile: str
    variant: str
    ok: bool
    marker_seconds: float | None
    seconds: float | None
    console: Path
    evidence: list[str] = field(default_factory=list)
    reason: str | None = None

    def summary(self) -> str:
        head = f"boot {self.profile} [{self.variant}]: "
        if not self.ok:
            return head + f"FAILED: {self.reason} (console log: {self.console})"
        lines = [head + f"init ran from the NFS root; marker after {self.marker_seconds:.1f} s "
                 f"(console log: {self.console})"]
        lines += [f"  {e}" for e in self.evidence]
        return "\n".join(lines)


def use_kvm() -> bool:
    """KVM only where the CPU really has vmx/svm (a nested software KVM is slower than TCG)."""
    if not os.path.exists("/dev/kvm"):
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return bool(re.search(r"^flags\s*:.*\b(vmx|svm)\b", flags, re.M))


def ganesha_config(export_path: Path, pseudo: str, protocols: list[int], recovery: Path) -> str:
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
    Access_Type = RW;
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


def qemu_argv(tftp: Path, console: Path, nic: str = "e1000", memory_mb: int = 512,
              cpu: str = "qemu64", mac: str = QEMU_MAC, bootfile: str = "pxelinux.0") -> list[str]:
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        raise InfraError("qemu-system-x86_64 not found", hint="install qemu-system-x86 (scripts/setup)")
    accel = "kvm" if use_kvm() else "tcg"
    return [qemu, "-accel", accel, "-cpu", cpu if accel == "tcg" else "host", "-m", str(memory_mb),
            "-display", "none", "-monitor", "none", "-no-reboot", "-nodefaults",
            "-serial", f"file:{console}",
            "-netdev", f"user,id=n0,tftp={tftp},bootfile={bootfile}",
            "-device", f"{nic},netdev=n0,mac={mac}", "-boot", "n"]


def run_lab(spec: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Run labns inside fresh namespaces and return its result document."""
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
            sys.executable, "-m", "kbuild.lab.supervisor", str(spec_path)]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2]) + os.pathsep + env.get("PYTHONPATH", "")
    try:
        subprocess.run(argv, env=env, timeout=spec["timeout"] + 60, check=False,
                       stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"ok": False, "reason": "the lab supervisor did not finish (killed)"}
    try:
        result: dict[str, Any] = json.loads(result_path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {"ok": False, "reason": "the lab supervisor wrote no result (see logs in "
                f"{workdir})"}
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
    return root, rootfs.new_token(root)


_MENUS = {
    # loader: (menu file, per-MAC file prefix, the line that picks the entry, its template)
    "pxelinux": ("pxelinux.cfg/default", "pxelinux.cfg/01-", r"^(ONTIMEOUT|DEFAULT) .*$",
                 r"\1 {label}"),
    "grub2": ("grub/grub.cfg", "grub/grub.cfg-01-", r"^set default=.*$", "set default={label}"),
}
_BOOTS = {"pxelinux": "^ONTIMEOUT {label}$", "grub2": "^set default={label}$"}
_HAS = {"pxelinux": "^LABEL {label}$", "grub2": "^menuentry .* --id {label} \\{{$"}


def pxe_tree_for(site: Site, profile: Profile, workdir: Path, mac: str, loader: str = "pxelinux") -> Path:
    """The TFTP tree QEMU serves: the staged tree itself when its menu boots this profile,
    else a hard-linked copy plus a per-MAC entry that selects it (as a real host gets)."""
    staged = layout.stage_dir(site)
    menu_rel, per_mac_prefix, default_re, default_new = _MENUS[loader]
    menu = staged / menu_rel
    if not menu.is_file():
        raise UserError("nothing staged for this loader yet", path=menu,
                        hint=f"run: doit kernel:{profile.name}")
    text = menu.read_text()
    label = re.escape(profile.name)
    if re.search(_BOOTS[loader].format(label=label), text, re.M):
        return staged
    if not re.search(_HAS[loader].format(label=label), text, re.M):
        raise UserError(f"profile {profile.name!r} is not in the staged menu", path=menu,
                        hint=f"run: doit kernel:{profile.name}")
    tree = workdir / "tftp"
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(staged, tree, copy_function=os.link, ignore=shutil.ignore_patterns(".kbuild"))
    per_mac = tree / (per_mac_prefix + mac.replace(":", "-"))
    per_mac.write_text(re.sub(default_re, default_new.format(label=profile.name), text, flags=re.M)
                       .replace("TIMEOUT 30", "TIMEOUT 1"))
    return tree


def boot_profile(site: Site, profile: Profile, timeout: float = 180.0) -> BootResult:
    """Boot a profile the ways its users do: every network loader the lab can drive."""
    if profile.arch == "um":
        from kbuild.lab import uml as umlab

        return umlab.boot_uml(site, profile, timeout=timeout)
    result = boot_pxe(site, profile, timeout=timeout)
    # QEMU's own iPXE ROM runs the staged iPXE script; GRUB's staged core.0 reads the
    # staged grub.cfg: both entries are proven the same way as pxelinux's.
    for loader, what in (("ipxe", f"ipxe/{profile.name}.ipxe"), ("grub2", "grub/grub.cfg")):
        if loader in profile.loaders:
            extra = boot_pxe(site, profile, timeout=timeout, loader=loader)
            result.evidence.insert(0, f"{what}: marker after {extra.marker_seconds:.1f} s")
            result.variant += f"; {extra.variant}"
    return result


def boot_pxe(site: Site, profile: Profile, timeout: float = 180.0, nic: str = "e1000",
             memory_mb: int | None = None, loader: str = "pxelinux") -> BootResult:
    base = layout.boot_dir(site, profile)
    base.mkdir(parents=True, exist_ok=True)
    workdir = base if loader == "pxelinux" else base / loader
    workdir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(base / ".lock", f"boot lab of {profile.name}", wait=False):
        root, token = prepare_root(site, profile)
        if loader == "pxelinux":
            tftp, bootfile = pxe_tree_for(site, profile, workdir, QEMU_MAC), "pxelinux.0"
        elif loader == "grub2":
            tftp = pxe_tree_for(site, profile, workdir, QEMU_MAC, loader="grub2")
            bootfile = "grub/i386-pc/core.0"
        else:
            tftp, bootfile = layout.stage_dir(site), f"ipxe/{profile.name}.ipxe"
            if not (tftp / bootfile).is_file():
                raise UserError(f"no staged {bootfile}", hint=f"run: doit kernel:{profile.name}")
        console = workdir / "console.log"
        console.unlink(missing_ok=True)
        nfs = profile.nfsroot
        memory = memory_mb or (1024 if profile.xen else 512)
        spec = _spec(site, profile, nfs, root, token, console, timeout, workdir)
        spec["vm"] = {"argv": qemu_argv(tftp, console, nic=nic, memory_mb=memory, bootfile=bootfile)}
        started = time.monotonic()
        result = run_lab(spec, workdir)
        return _result(profile, f"{loader} {nic} nfs v{nfs.version}", result, console,
                       time.monotonic() - started)


def _spec(site: Site, profile: Profile, nfs: NfsRoot, root: Path, token: str, console: Path,
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
                "config": ganesha_config(root, nfs.path, protocols, recovery)},
    }


def _result(profile: Profile, variant: str, result: dict[str, Any], console: Path,
            wall: float) -> BootResult:
    console = Path(result.get("console", console))
    res = BootResult(profile=profile.name, variant=variant, ok=bool(result.get("ok")),
                     marker_seconds=result.get("marker_seconds"), seconds=result.get("seconds"),
                     console=console, evidence=_evidence(console), reason=result.get("reason"))
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
