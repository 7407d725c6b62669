"""The boot lab's supervisor with a real nfs-ganesha and stand-in guests:
isolation, failures reported with logs, and nothing left running."""
from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from kbuild.lab import rootfs
from kbuild.lab import run as bootlab

pytestmark = pytest.mark.boot


def _spec(tmp_path: Path, vm_script: str, protocols=(4,), config: str | None = None,
          timeout: float = 20) -> dict:
    root = rootfs.build_root(tmp_path / "root")
    token = rootfs.new_token(root)
    rec = tmp_path / "rec"
    rec.mkdir()
    return {
        "profile": "t", "marker": rootfs.MARKER, "done": rootfs.DONE, "token": token,
        "timeout": timeout, "console": str(tmp_path / "lab" / "vm.log"),
        "nfs": {"protocols": list(protocols),
                "config": config or bootlab.ganesha_config(root, "/nfsroot", list(protocols), rec)},
        "vm": {"argv": ["sh", "-c", vm_script.replace("TOKEN", token)], "console_is_stdout": True,
               "stdin_pipe": True},
    }


def _leftovers(marker: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd:
            found.append(cmd)
    return found


def test_marker_seen_and_everything_torn_down(tmp_path):
    spec = _spec(tmp_path, "echo KBUILD-MARKER TOKEN; echo KBUILD-DONE TOKEN; sleep 60")
    res = bootlab.run_lab(spec, tmp_path / "lab")
    assert res["ok"] is True, res
    assert _leftovers(str(tmp_path)) == []


def test_port_taken_on_the_host_does_not_matter(tmp_path):
    """The lab's NFS server lives in its own network namespace."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", 2049))
        except OSError:
            pytest.fail("port 2049 is already taken on this host by something else")
        s.listen()
        spec = _spec(tmp_path, "echo KBUILD-MARKER TOKEN; echo KBUILD-DONE TOKEN")
        assert bootlab.run_lab(spec, tmp_path / "lab")["ok"] is True


def test_nfs_server_that_fails_to_start(tmp_path):
    bad = ("EXPORT { Export_Id = 1; Path = /nonexistent; FSAL { Name = NOSUCHFSAL; } }\n"
           "NFS_CORE_PARAM { NFS_Port = 99999; }\n")
    spec = _spec(tmp_path, "sleep 60", config=bad)
    res = bootlab.run_lab(spec, tmp_path / "lab")
    assert res["ok"] is False
    assert "ganesha" in res["reason"] and "log:" in res["reason"]
    assert Path(res["logs"]["ganesha"]).exists()
    assert "vm" not in res["logs"]  # the guest never started
    assert _leftovers(str(tmp_path)) == []


def test_kernel_panic_is_reported_with_the_line(tmp_path):
    spec = _spec(tmp_path, "echo 'VFS: Unable to mount root fs via NFS, trying floppy.'; "
                           "echo 'Kernel panic - not syncing: VFS: Unable to mount root fs'; sleep 60")
    res = bootlab.run_lab(spec, tmp_path / "lab")
    assert res["ok"] is False
    assert "VFS: Unable to mount root fs" in res["reason"]
    assert res["seconds"] < 15
    assert _leftovers(str(tmp_path)) == []


def test_guest_that_never_prints_the_marker_times_out(tmp_path):
    spec = _spec(tmp_path, "echo booting; sleep 60", timeout=3)
    res = bootlab.run_lab(spec, tmp_path / "lab")
    assert res["ok"] is False
    assert res["reason"] == "init's marker did not appear within 3 s"
    assert _leftovers(str(tmp_path)) == []


def _host_rpcbind_socket() -> tuple[int, int, int] | None:
    """The host's /run/rpcbind.sock as it is now (inode, change time, type), or None."""
    try:
        st = os.lstat("/run/rpcbind.sock")
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_ctime_ns, stat.S_IFMT(st.st_mode)


def test_nfsv3_lab_starts_rpcbind_in_a_private_run(tmp_path):
    """rpcbind's socket is made in the lab's own /run (the guest, in the lab's mount
    namespace, sees it), and the host's /run/rpcbind.sock is exactly as it was: neither
    created, replaced nor removed by the lab."""
    before = _host_rpcbind_socket()
    spec = _spec(tmp_path, "if [ -S /run/rpcbind.sock ]; then echo RPCBIND-SOCKET-IN-LAB-RUN; fi; "
                           "echo KBUILD-MARKER TOKEN; echo KBUILD-DONE TOKEN", protocols=(3, 4))
    res = bootlab.run_lab(spec, tmp_path / "lab")
    assert res["ok"] is True, res
    assert "rpcbind" in res["logs"]
    assert "RPCBIND-SOCKET-IN-LAB-RUN" in Path(res["console"]).read_text()
    assert _host_rpcbind_socket() == before
    assert _leftovers(str(tmp_path)) == []
