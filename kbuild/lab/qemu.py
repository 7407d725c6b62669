"""PXE-boot a staged x86 kernel in QEMU and watch init run from the NFS root.

QEMU (TCG unless the CPU has vmx/svm) boots the staged TFTP tree through its built-in
DHCP/TFTP, through pxelinux, GRUB 2's core.0 or iPXE; the kernel mounts / from
nfs-ganesha reached at 10.0.2.2, inside the lab's namespaces (:mod:`kbuild.lab.run`).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
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


OVMF_DIR = Path("/usr/share/OVMF")


@dataclass(frozen=True)
class Firmware:
    """What the virtual PC boots with: SeaBIOS (``bios``), or OVMF (``uefi``) with its code
    image and a per-boot copy of a variable store (``secure``: the Secure Boot build, SMM)."""

    kind: str = "bios"
    vars_template: Path | None = None    # copied per boot (OVMF writes its variables)
    secure: bool = False

    @property
    def code(self) -> Path:
        return OVMF_DIR / ("OVMF_CODE_4M.secboot.fd" if self.secure else "OVMF_CODE_4M.fd")


BIOS = Firmware()
UEFI = Firmware("uefi", OVMF_DIR / "OVMF_VARS_4M.fd")
# the owner GUID the site certificate is enrolled under in db (any GUID will do; a fixed one
# keeps the variable store reproducible)
SITE_OWNER_GUID = "8a7e4d2c-5b0e-4f6c-9a43-6b6275696c64"


def secure_boot_firmware(cert: Path, workdir: Path) -> Firmware:
    """OVMF with Secure Boot on: Debian's variable store with Microsoft's keys (the ones
    that signed shim) plus the site certificate added to db by ``virt-fw-vars``."""
    tool = shutil.which("virt-fw-vars") or str(Path(sys.executable).with_name("virt-fw-vars"))
    if not Path(tool).is_file():
        raise InfraError("virt-fw-vars not found", hint="pip install the test extra (virt-firmware)")
    template = OVMF_DIR / "OVMF_VARS_4M.ms.fd"
    out = workdir / "OVMF_VARS.site-db.fd"
    workdir.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([tool, "--input", str(template), "--output", str(out), "--secure-boot",
                        "--add-db", SITE_OWNER_GUID, str(cert)], capture_output=True, text=True)
    if r.returncode != 0 or not out.is_file():
        raise InfraError(f"virt-fw-vars could not enrol {cert}: {(r.stderr or r.stdout).strip()[-300:]}")
    return Firmware("uefi", out, secure=True)


def qemu_argv(tftp: Path, console: Path, nic: str = "e1000", memory_mb: int = 512,
              cpu: str = "qemu64", mac: str = QEMU_MAC, bootfile: str = "pxelinux.0",
              firmware: Firmware = BIOS, vars_copy: Path | None = None) -> list[str]:
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        raise InfraError("qemu-system-x86_64 not found", hint="install qemu-system-x86 (scripts/setup)")
    accel = "kvm" if use_kvm() else "tcg"
    machine: list[str] = []
    # Under UEFI the firmware's own network stack does PXE, as on real machines: QEMU's
    # iPXE option ROM (2019) hands shim a TFTP buffer rounded up to 4 MiB, which shim's
    # Secure Boot check rejects ("Malformed binary after Attribute Certificate Table").
    rom = ",romfile=" if firmware.kind == "uefi" else ""
    if firmware.kind == "uefi":
        machine = _ovmf_args(firmware, vars_copy or console.with_name("OVMF_VARS.fd"))
    return [qemu, *machine, "-accel", accel, "-cpu", cpu if accel == "tcg" else "host",
            "-m", str(memory_mb),
            "-display", "none", "-monitor", "none", "-no-reboot", "-nodefaults",
            "-serial", f"file:{console}",
            "-netdev", f"user,id=n0,tftp={tftp},bootfile={bootfile}",
            "-device", f"{nic},netdev=n0,mac={mac}{rom}", "-boot", "n"]


def _ovmf_args(firmware: Firmware, vars_copy: Path) -> list[str]:
    """q35 with OVMF in flash; the variable store is a fresh copy of the template (a boot
    never inherits another boot's variables)."""
    template = firmware.vars_template
    for f in (firmware.code, template):
        if f is None or not f.is_file():
            raise InfraError(f"OVMF file {f} not found", hint="install ovmf (scripts/setup does)")
    assert template is not None
    vars_copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, vars_copy)
    args = ["-machine", "q35,smm=on" if firmware.secure else "q35"]
    if firmware.secure:
        # the Secure Boot build keeps its variables behind SMM
        args += ["-global", "driver=cfi.pflash01,property=secure,value=on"]
    return args + ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={firmware.code}",
                   "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}"]


_MENUS = {
    # loader: (menu file, per-MAC file prefix, the line that picks the entry, its template)
    "pxelinux": ("pxelinux.cfg/default", "pxelinux.cfg/01-", r"^(ONTIMEOUT|DEFAULT) .*$",
                 r"\1 {label}"),
    "grub2": ("grub/grub.cfg", "grub/grub.cfg-01-", r"^set default=.*$", "set default={label}"),
}
# a BIOS-only GRUB entry (Xen) sits indented inside `if [ "$grub_platform" = pc ]`
_HAS = {"pxelinux": "^LABEL {label}$", "grub2": "^\\s*menuentry .* --id {label} \\{{$"}
# In the lab nobody picks from a menu: the per-MAC copy boots its entry without waiting
# (PXELINUX: no menu module, PROMPT 0 boots DEFAULT at once; GRUB: timeout 0).
_NO_WAIT = {"pxelinux": ((r"^UI .*\n", ""), (r"^TIMEOUT \d+$", "TIMEOUT 0")),
            "grub2": ((r"^set timeout=\d+$", "set timeout=0"),)}


def pxe_tree_for(site: Site, profile: Profile, workdir: Path, mac: str, loader: str = "pxelinux") -> Path:
    """The TFTP tree QEMU serves: a hard-linked copy of the staged tree plus a per-MAC
    entry (looked up first, as by a real host; under UEFI found by grub.cfg's own lookup)
    that is the staged menu with this profile as its default and no menu wait."""
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
    host_file = tree / (per_mac_prefix + mac.replace(":", "-"))
    text = re.sub(default_re, default_new.format(label=profile.name), text, flags=re.M)
    for pattern, replacement in _NO_WAIT[loader]:
        text = re.sub(pattern, replacement, text, flags=re.M)
    if loader == "grub2":
        # on the console: proof that GRUB read the host's own file (under UEFI, found by
        # grub.cfg's own lookup), not the menu
        text = text.replace("\nset default=", f'\necho "kbuild-lab: grub host file {host_file.name}"'
                            "\nset default=", 1)
    host_file.write_text(text)
    return tree


def boot_pxe(site: Site, profile: Profile, timeout: float = 180.0, nic: str = "e1000",
             memory_mb: int | None = None, loader: str = "pxelinux",
             firmware: Firmware = BIOS, replace: dict[str, Path] | None = None) -> BootResult:
    """One PXE boot of the staged tree through ``loader`` (``pxelinux``, ``grub2``, ``ipxe``,
    or under UEFI ``grub-efi``: shim → signed GRUB → grub.cfg's per-host lookup, or
    ``grub-efi-unsigned``: kbuild's GRUB EFI image with multiboot2, for Xen).
    ``replace`` serves other content under staged names (relpath -> file), in the lab's own
    copy of the tree: how a test offers the firmware an unsigned kernel."""
    base = layout.boot_dir(site, profile)
    base.mkdir(parents=True, exist_ok=True)
    variant = loader + ("-sb" if firmware.secure else "")
    workdir = base if loader == "pxelinux" else base / variant
    workdir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(base / ".lock", f"boot lab of {profile.name}", wait=False):
        root, token = prepare_root(site, profile)
        if loader == "pxelinux":
            tftp, bootfile = pxe_tree_for(site, profile, workdir, QEMU_MAC), "pxelinux.0"
        elif loader == "grub2":
            tftp = pxe_tree_for(site, profile, workdir, QEMU_MAC, loader="grub2")
            bootfile = "grub/i386-pc/core.0"
        elif loader == "grub-efi-unsigned":
            # OVMF PXE → kbuild's unsigned GRUB EFI (multiboot2), which finds the per-MAC
            # file itself; with Secure Boot off only
            from kbuild.boot.grub_image import BOOT_FILE

            tftp = pxe_tree_for(site, profile, workdir, QEMU_MAC, loader="grub2")
            bootfile = BOOT_FILE
        elif loader == "grub-efi":
            tftp = pxe_tree_for(site, profile, workdir, QEMU_MAC, loader="grub2")
            bootfile = "bootx64.efi"
            for rel, src in (replace or {}).items():
                (tftp / rel).unlink(missing_ok=True)   # a hard link to the staged file
                shutil.copyfile(src, tftp / rel)
        else:
            tftp, bootfile = layout.stage_dir(site), f"ipxe/{profile.name}.ipxe"
            if not (tftp / bootfile).is_file():
                raise UserError(f"no staged {bootfile}", hint=f"run: doit kernel:{profile.name}")
        console = workdir / "console.log"
        console.unlink(missing_ok=True)
        nfs = profile.nfsroot
        memory = memory_mb or (1024 if profile.xen else 512)
        spec = lab_spec(site, profile, nfs, root, token, console, timeout, workdir)
        spec["vm"] = {"argv": qemu_argv(tftp, console, nic=nic, memory_mb=memory, bootfile=bootfile,
                                        firmware=firmware, vars_copy=workdir / "OVMF_VARS.fd")}
        if site.http_base and loader == "ipxe":
            # the iPXE scripts fetch kernel and hypervisor from http_base: nginx serves them
            # by the generated server block (the guest reaches the lab's 10.0.2.2)
            from kbuild.lab.nginx import lab_http
            spec["http"] = lab_http(site, workdir)
        started = time.monotonic()
        result = run_lab(spec, workdir)
        return boot_result(profile, f"{variant} {nic} nfs v{nfs.version}", result, console,
                           time.monotonic() - started)
