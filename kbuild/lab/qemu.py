"""PXE-boot a staged x86 kernel in QEMU and watch init run from the NFS root.

QEMU (TCG unless the CPU has vmx/svm) boots the staged TFTP tree through its built-in
DHCP/TFTP, through pxelinux, GRUB 2's core.0 or iPXE; the kernel mounts / from
nfs-ganesha reached at 10.0.2.2, inside the lab's namespaces (:mod:`kbuild.lab.run`).
"""
from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

from kbuild.errors import InfraError, UserError
from kbuild.lab.run import BootResult, boot_result, lab_spec, prepare_root, run_lab
from kbuild.site import layout
from kbuild.site.model import Profile, Site
from kbuild.util.files import exclusive_lock

QEMU_MAC = "52:54:00:12:34:56"


def use_kvm() -> bool:
    """KVM only where the CPU really has vmx/svm (a nested software KVM is slower than TCG)."""
    if not os.path.exists("/dev/kvm"):
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return bool(re.search(r"^flags\s*:.*\b(vmx|svm)\b", flags, re.M))


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


_MENUS = {
    # loader: (menu file, per-MAC file prefix, the line that picks the entry, its template)
    "pxelinux": ("pxelinux.cfg/default", "pxelinux.cfg/01-", r"^(ONTIMEOUT|DEFAULT) .*$",
                 r"\1 {label}"),
    "grub2": ("grub/grub.cfg", "grub/grub.cfg-01-", r"^set default=.*$", "set default={label}"),
}
_HAS = {"pxelinux": "^LABEL {label}$", "grub2": "^menuentry .* --id {label} \\{{$"}
# In the lab nobody picks from a menu: the per-MAC copy boots its entry without waiting
# (PXELINUX: no menu module, PROMPT 0 boots DEFAULT at once; GRUB: timeout 0).
_NO_WAIT = {"pxelinux": ((r"^UI .*\n", ""), (r"^TIMEOUT \d+$", "TIMEOUT 0")),
            "grub2": ((r"^set timeout=\d+$", "set timeout=0"),)}


def pxe_tree_for(site: Site, profile: Profile, workdir: Path, mac: str, loader: str = "pxelinux") -> Path:
    """The TFTP tree QEMU serves: a hard-linked copy of the staged tree plus a per-MAC
    entry (looked up first, as by a real host) that is the staged menu with this profile
    as its default and no menu wait."""
    staged = layout.stage_dir(site)
    menu_rel, per_mac_prefix, default_re, default_new = _MENUS[loader]
    menu = staged / menu_rel
    if not menu.is_file():
        raise UserError("nothing staged for this loader yet", path=menu,
                        hint=f"run: doit kernel:{profile.name}")
    text = menu.read_text()
    label = re.escape(profile.name)
    if not re.search(_HAS[loader].format(label=label), text, re.M):
        raise UserError(f"profile {profile.name!r} is not in the staged menu", path=menu,
                        hint=f"run: doit kernel:{profile.name}")
    tree = workdir / "tftp"
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(staged, tree, copy_function=os.link, ignore=shutil.ignore_patterns(".kbuild"))
    per_mac = tree / (per_mac_prefix + mac.replace(":", "-"))
    text = re.sub(default_re, default_new.format(label=profile.name), text, flags=re.M)
    for pattern, replacement in _NO_WAIT[loader]:
        text = re.sub(pattern, replacement, text, flags=re.M)
    per_mac.write_text(text)
    return tree


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
        spec = lab_spec(site, profile, nfs, root, token, console, timeout, workdir)
        spec["vm"] = {"argv": qemu_argv(tftp, console, nic=nic, memory_mb=memory, bootfile=bootfile)}
        started = time.monotonic()
        result = run_lab(spec, workdir)
        return boot_result(profile, f"{loader} {nic} nfs v{nfs.version}", result, console,
                       time.monotonic() - started)


