"""The spine end to end: `doit kernel:nfsroot` builds and stages, `doit boot:nfsroot`
PXE-boots it in QEMU and init runs from the NFS root."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e import REPO, doit

pytestmark = [pytest.mark.build, pytest.mark.boot]
TFTP = REPO / "artifacts" / "tftpboot"


@pytest.fixture(scope="module")
def built():
    r = doit("kernel:nfsroot")
    assert r.code == 0, r.out
    return r


def test_kernel_task_stages_image_and_pxelinux_entry(built):
    for f in ("pxelinux.0", "ldlinux.c32", "menu.c32", "libutil.c32", "kbuild-manifest.json"):
        assert (TFTP / f).is_file(), f
    images = list((TFTP / "images" / "nfsroot").glob("vmlinuz-*"))
    assert len(images) == 1 and images[0].stat().st_size > 500_000
    release = images[0].name.removeprefix("vmlinuz-")
    default = (TFTP / "pxelinux.cfg" / "default").read_text()
    assert f"KERNEL images/nfsroot/vmlinuz-{release}" in default
    assert re.search(r"APPEND .*ip=dhcp root=/dev/nfs nfsroot=10\.0\.2\.2:/nfsroot,vers=4,tcp", default)
    assert "IPAPPEND 2" in default


def test_second_run_executes_nothing(built):
    again = doit("kernel:nfsroot")
    assert again.code == 0, again.out
    assert again.executed == [], again.out
    assert {"fetch:debian-6.1", "unpack:debian-6.1", "config:nfsroot", "build:nfsroot",
            "stage:nfsroot"} <= set(again.skipped)
    # building one profile never drags the others' builds in
    assert not [t for t in again.skipped + again.executed if t.startswith(("build:dom0", "build:uml"))]


def test_changed_fragment_reruns_configure_not_fetch(built):
    frag = REPO / "fragments" / "console-serial.config"
    original = frag.read_text()
    try:
        frag.write_text(original + "# a comment changes the fragment, not the .config\n")
        r = doit("kernel:nfsroot")
        assert r.code == 0, r.out
        assert "config:nfsroot" in r.executed
        assert "fetch:debian-6.1" not in r.executed and "unpack:debian-6.1" not in r.executed
        assert "build:nfsroot" not in r.executed  # .config content unchanged: no make at all
    finally:
        frag.write_text(original)
    r = doit("kernel:nfsroot")
    assert r.code == 0 and "build:nfsroot" not in r.executed


def test_boot_nfsroot_runs_init_from_nfs(built):
    r = doit("boot:nfsroot", timeout=900)
    assert r.code == 0, r.out
    assert "init ran from the NFS root" in r.out
    assert re.search(r"root 10\.0\.2\.2:/nfsroot nfs4?", r.out), r.out
    console = (REPO / "artifacts/boot/nfsroot/console.log").read_text(errors="replace")
    assert "KBUILD-MARKER" in console and "VFS: Mounted root (nfs" in console


def _start_doit(*args: str):
    import os
    import subprocess

    from tests.e2e import BIN

    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.Popen([str(BIN / "doit"), *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _is_our_make(proc_dir: Path) -> bool:
    try:
        cmd = (proc_dir / "cmdline").read_bytes()
    except OSError:
        return False
    return b"make" in cmd and b"artifacts/build/nfsroot" in cmd


def _kill_group(proc) -> None:
    import os
    import signal

    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_sigkill_during_build_recovers_without_rebuilding_everything(built):
    import shutil
    import time

    bdir = REPO / "artifacts/build/nfsroot"
    log = REPO / "artifacts/logs/build-nfsroot.log"
    shutil.rmtree(bdir / "kernel/sched")
    (bdir / "arch/x86/boot/bzImage").unlink()
    log.unlink()
    proc = _start_doit("kernel:nfsroot")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if log.exists() and "kernel/sched/" in log.read_text(errors="replace"):
            break
        time.sleep(0.1)
    _kill_group(proc)  # in the middle of compiling kernel/sched
    time.sleep(2)
    # make died with doit: nothing finished the build behind our back
    assert not (bdir / "arch/x86/boot/bzImage").exists()
    assert not [p for p in Path("/proc").iterdir() if p.name.isdigit() and _is_our_make(p)]
    r = doit("kernel:nfsroot")
    assert r.code == 0, r.out
    assert "build:nfsroot" in r.executed
    compiled = log.read_text(errors="replace").count("  CC  ")
    assert 0 < compiled < 100  # kernel/sched again, not the whole kernel
    assert (bdir / "arch/x86/boot/bzImage").is_file()


