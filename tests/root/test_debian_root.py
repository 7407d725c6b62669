"""``kbuild root prepare`` on a real Debian root (debootstrap --variant=minbase from
deb.debian.org; the boot lab's busybox root when the mirror is unreachable), then the
early-boot program run by Debian's own /bin/sh and tools, as a client would: the tree
bind-mounted read-only as / in a private mount namespace, the program as the first
process's command, the real init a check script. The administrator's chroot (the tree
writable) still writes through the links."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kbuild import cli
from kbuild.lab import rootfs
from kbuild.root import prepare as rp

pytestmark = [pytest.mark.boot]

CHECK = """#!/bin/sh
echo "check: mode=$kbroot"
tok="token-$$"
case "$kbroot" in
    ro-shared) ram=/var/log/kbcheck; shared=/etc ;;
    overlay) ram=/etc/kbcheck; shared=/run/kbroot/lower/etc ;;
esac
echo "$tok" > "$ram" && [ "$(cat "$ram")" = "$tok" ] && echo "check: ram ok"
if (echo x > "$shared/kbcheck-shared") 2>/dev/null; then
    echo "check: SHARED WRITABLE"
else
    echo "check: shared refused"
fi
"""


@pytest.fixture(scope="session")
def debian_root(tmp_path_factory) -> tuple[Path, str]:
    """A minbase Debian 12 root, made once per session (the busybox root when offline)."""
    dest = tmp_path_factory.mktemp("debian") / "root"
    r = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(dest),
                        "http://deb.debian.org/debian"], capture_output=True, text=True, timeout=900)
    if r.returncode == 0 and (dest / "etc/debian_version").is_file():
        return dest, "debian"
    shutil.rmtree(dest, ignore_errors=True)
    rootfs.build_root(dest)
    (dest / "var/log").mkdir(parents=True)
    (dest / "usr/local/bin").mkdir(parents=True)
    return dest, "busybox"


def _boot_in_namespace(tree: Path, mode: str) -> str:
    """The tree read-only as /, the program as the first command (kbroot= and kbroot_init=
    in its environment, as the kernel passes them)."""
    script = (f"mount --bind {tree} {tree} && mount -o remount,bind,ro {tree} && "
              f"mount -t proc proc {tree}/proc && "
              f"chroot {tree} env kbroot={mode} kbroot_init=/usr/local/bin/kbcheck "
              "/sbin/kbuild-root")
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                       capture_output=True, text=True, timeout=60)
    return r.stdout + r.stderr


@pytest.mark.parametrize("mode", ["ro-shared", "overlay"])
def test_prepare_a_debian_root_and_run_the_early_boot_program(debian_root, tmp_path, capsys, mode):
    src, kind = debian_root
    tree = tmp_path / "root"
    subprocess.run(["cp", "-a", str(src), str(tree)], check=True)
    (tree / "usr/local/bin/kbcheck").write_text(CHECK)
    os.chmod(tree / "usr/local/bin/kbcheck", 0o755)
    syslog_before = sorted(p.name for p in (tree / "var/log").iterdir())
    assert cli.main(["root", "prepare", str(tree), "--mode", mode, "--path", "/var/log",
                     "--path", "/var/tmp"]) == 0
    err = capsys.readouterr().err
    if mode == "ro-shared":
        assert "move /var/log -> /flash/var/log, link /var/log -> /flash/var/log" in err
        assert os.readlink(tree / "var/log") == "/flash/var/log"
        assert sorted(p.name for p in (tree / "flash/var/log").iterdir()) == syslog_before
    program = tree / ("usr/sbin/kbuild-root" if kind == "debian" else "sbin/kbuild-root")
    assert program.read_bytes() == rp.program_text()
    out = _boot_in_namespace(tree, mode)
    assert f"kbuild-root: {mode}: " in out, out
    assert "check: ram ok" in out and "check: shared refused" in out, out
    assert "SHARED WRITABLE" not in out
    # the administrator's chroot: the tree writable, writes land in the tree's /flash
    r = subprocess.run(["chroot", str(tree), "/bin/sh", "-c", "echo admin > /var/log/admin.log"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    where = tree / ("flash/var/log" if mode == "ro-shared" else "var/log") / "admin.log"
    assert where.read_text() == "admin\n"
    # and undo gives the original layout back
    (where).unlink()
    assert cli.main(["root", "prepare", str(tree), "--undo"]) == 0
    assert (tree / "var/log").is_dir() and not (tree / "var/log").is_symlink()
    assert sorted(p.name for p in (tree / "var/log").iterdir()) == syslog_before
    assert not program.exists()
