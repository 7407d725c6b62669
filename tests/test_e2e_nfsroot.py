"""The spine end to end: `doit kernel:nfsroot` builds and stages, `doit boot:nfsroot`
PXE-boots it in QEMU and init runs from the NFS root.

Everything runs in the session's work site (conftest ``work_site``), never in the
checkout; tests that change a fragment change the work site's copy and put it back."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

pytestmark = [pytest.mark.build, pytest.mark.boot]


@pytest.fixture
def built(work_site):
    """`doit kernel:nfsroot` before each test: builds once, then a no-op (or it brings
    back what an earlier test took away)."""
    return work_site.kernel("nfsroot")


@pytest.fixture
def console_fragment(work_site):
    """The work site's fragments/console-serial.config, restored after the test."""
    frag = work_site.fragment("console-serial")
    original = frag.read_text()
    yield frag
    frag.write_text(original)


def test_kernel_task_stages_image_and_pxelinux_entry(work_site, built):
    tftp = work_site.tftp
    for f in ("pxelinux.0", "ldlinux.c32", "menu.c32", "libutil.c32", "kbuild-manifest.json"):
        assert (tftp / f).is_file(), f
    images = list((tftp / "images" / "nfsroot").glob("vmlinuz-*"))
    assert len(images) == 1 and images[0].stat().st_size > 500_000
    release = images[0].name.removeprefix("vmlinuz-")
    default = (tftp / "pxelinux.cfg" / "default").read_text()
    assert f"KERNEL images/nfsroot/vmlinuz-{release}" in default
    assert re.search(r"APPEND .*ip=dhcp root=/dev/nfs nfsroot=10\.0\.2\.2:/nfsroot,vers=4,tcp", default)
    assert "IPAPPEND 2" in default


def test_second_run_executes_nothing(work_site, built):
    again = work_site.doit("kernel:nfsroot")
    assert again.code == 0, again.out
    assert again.executed == [], again.out
    assert {"fetch:debian-6.1", "unpack:debian-6.1", "config:nfsroot", "build:nfsroot",
            "stage:nfsroot"} <= set(again.skipped)
    # building one profile never drags the others' builds in
    assert not [t for t in again.skipped + again.executed if t.startswith(("build:dom0", "build:uml"))]


def test_changed_fragment_reruns_configure_not_fetch(work_site, built, console_fragment):
    original = console_fragment.read_text()
    console_fragment.write_text(original + "# a comment changes the fragment, not the .config\n")
    r = work_site.doit("kernel:nfsroot")
    assert r.code == 0, r.out
    assert "config:nfsroot" in r.executed
    assert "fetch:debian-6.1" not in r.executed and "unpack:debian-6.1" not in r.executed
    assert "build:nfsroot" not in r.executed  # .config content unchanged: no make at all
    console_fragment.write_text(original)
    r = work_site.doit("kernel:nfsroot")
    assert r.code == 0 and "config:nfsroot" in r.executed and "build:nfsroot" not in r.executed


def test_boot_nfsroot_runs_init_from_nfs(work_site, built):
    r = work_site.doit("boot:nfsroot", timeout=900)
    assert r.code == 0, r.out
    assert "init ran from the NFS root" in r.out
    assert re.search(r"root 10\.0\.2\.2:/nfsroot nfs4?", r.out), r.out
    console = (work_site.artifacts / "boot/nfsroot/console.log").read_text(errors="replace")
    assert "KBUILD-MARKER" in console and "VFS: Mounted root (nfs" in console
    # the same kernel under UEFI: OVMF → shim → signed GRUB → grub.cfg-01-<mac> → EFI stub
    assert re.search(r"uefi bootx64\.efi \(shim\) → grubx64\.efi: marker after", r.out), r.out
    uefi = (work_site.artifacts / "boot/nfsroot/grub-efi/console.log").read_text(errors="replace")
    assert "KBUILD-MARKER" in uefi and "VFS: Mounted root (nfs" in uefi
    assert "EFI v2" in uefi   # the kernel's own line about the firmware it was started by
    assert "kbuild-lab: grub host file grub.cfg-01-52-54-00-12-34-56" in uefi  # grub.cfg's lookup


def _is_our_make(proc_dir: Path, bdir: Path) -> bool:
    """A make building this work site's nfsroot (named on its command line, or running
    in the build dir); another site's build, e.g. a concurrent run's, is not ours."""
    try:
        argv = (proc_dir / "cmdline").read_bytes().split(b"\0")
        cwd = os.readlink(proc_dir / "cwd")
    except OSError:
        return False
    if not argv or not Path(os.fsdecode(argv[0])).name.endswith("make"):
        return False
    here = os.fsencode(bdir)
    return (any(a.rstrip(b"/").endswith(here) for a in argv[1:])
            or cwd == str(bdir) or cwd.startswith(f"{bdir}/"))


def _kill_group(proc) -> None:
    import os
    import signal

    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_sigkill_during_build_recovers_without_rebuilding_everything(work_site, built):
    import shutil
    import time

    bdir = work_site.artifacts / "build/nfsroot"
    log = work_site.artifacts / "logs/build-nfsroot.log"
    shutil.rmtree(bdir / "kernel/sched")
    (bdir / "arch/x86/boot/bzImage").unlink()
    log.unlink()
    proc = work_site.start_doit("kernel:nfsroot")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if log.exists() and "kernel/sched/" in log.read_text(errors="replace"):
            break
        time.sleep(0.1)
    _kill_group(proc)  # in the middle of compiling kernel/sched
    time.sleep(2)
    # make died with doit: nothing finished the build behind our back
    assert not (bdir / "arch/x86/boot/bzImage").exists()
    assert not [p for p in Path("/proc").iterdir() if p.name.isdigit() and _is_our_make(p, bdir)]
    # what a kill while fixdep writes a .cmd leaves (it happened in CI): a torn .cmd, the
    # compiler's .d file still there; make alone would stop at the torn file
    sched = bdir / "kernel/sched"
    sched.mkdir(exist_ok=True)
    (sched / "core.o").write_bytes(b"\x7fELF torn")
    (sched / ".core.o.cmd").write_text("cmd_kernel/sched/core.o := gcc -I$(srctree")
    (sched / ".core.o.d").write_text("kernel/sched/core.o: include/linux/kernel.h\n")
    r = work_site.doit("kernel:nfsroot")
    assert r.code == 0, r.out
    assert "build:nfsroot" in r.executed
    assert "was killed" in r.out and "kernel/sched/core.o" in r.out
    compiled = log.read_text(errors="replace").count("  CC  ")
    assert 0 < compiled < 100  # kernel/sched again, not the whole kernel
    assert (bdir / "arch/x86/boot/bzImage").is_file()


