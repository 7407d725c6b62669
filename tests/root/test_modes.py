"""Root modes end to end through the data: kbuild.toml (profile and host), the entries
every loader writes, the exports and ganesha blocks, check-site's contradictions, and
the verify rules a shared root adds."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kbuild import cli
from kbuild.boot import server
from kbuild.boot.entry import entry_from_cmdline, make_entry
from kbuild.boot.hostfiles import host_files
from kbuild.site.load import SiteError, load_site
from kbuild.verify import check as verify
from tests.verify.test_check import GOOD, write_config

SITE = """\
[site]
boot_server = "10.0.2.2"

[nfs]
server = "10.0.2.2"

[sources."debian-6.1"]
url = "file:///usr/src/linux-source-6.1.tar.xz"
sha256 = "4d415b3d364834fd818270e88813e90323bbfce4f519a0e6bd4940ddcd7df693"

[profiles.pool]
source = "debian-6.1"
fragments = ["core"]
console = ["ttyS0,115200"]
cmdline = ["rw", "init=/init"]
root_mode = "ro-shared"

[profiles.pool.nfsroot]
path = "/srv/pool"

[profiles.own]
source = "debian-6.1"
fragments = ["core"]
cmdline = ["rw"]

[profiles.own.nfsroot]
path = "/srv/own"
"""

HOSTS = """
[[hosts]]
name = "a"
mac = "52:54:00:00:00:0a"
ip = "10.0.2.10"
profile = "pool"

[[hosts]]
name = "b"
mac = "52:54:00:00:00:0b"
ip = "10.0.2.11"
profile = "pool"
root_mode = "overlay"
"""


def _site(tmp_path: Path, text: str):
    (tmp_path / "fragments").mkdir(exist_ok=True)
    (tmp_path / "fragments" / "core.config").write_text("CONFIG_NET=y\n")
    p = tmp_path / "kbuild.toml"
    p.write_text(textwrap.dedent(text))
    return load_site(p)


def test_shared_modes_change_the_entry_and_hosts_override(tmp_path):
    site = _site(tmp_path, SITE + HOSTS)
    pool, own = site.profile("pool"), site.profile("own")
    assert (pool.root_mode, own.root_mode) == ("ro-shared", "rw")
    assert pool.kernel_args()[-5:] == ["nfsroot=10.0.2.2:/srv/pool,vers=4,tcp", "ro",
                                       "init=/sbin/kbuild-root", "kbroot=ro-shared", "kbroot_init=/init"]
    assert own.kernel_args()[-1] == "rw" and "init=/sbin/kbuild-root" not in own.kernel_args()
    a, b = site.hosts
    assert make_entry(pool, "6.1", a).kernel_args[-2:] == ("kbroot=ro-shared", "kbroot_init=/init")
    entry_b = make_entry(pool, "6.1", b)
    assert entry_b.kernel_args[-4:] == ("ro", "init=/sbin/kbuild-root", "kbroot=overlay", "kbroot_init=/init")
    text = next(f.text for f in host_files(b, pool, entry_b) if f.relpath.startswith("pxelinux.cfg/"))
    assert "root=/dev/nfs" in text and " rw" not in text
    assert " ro init=/sbin/kbuild-root kbroot=overlay" in text


def test_unknown_root_mode_is_refused_with_its_line(tmp_path):
    with pytest.raises(SiteError) as exc:
        _site(tmp_path, SITE.replace('root_mode = "ro-shared"', 'root_mode = "shared"'))
    assert "kbuild.toml:16: error: " in str(exc.value) and "ro-shared" in str(exc.value)


def test_exports_and_ganesha_are_ro_for_a_shared_root(tmp_path):
    site = _site(tmp_path, SITE + HOSTS)
    files = server.snippets(site).files
    assert "/srv/pool 10.0.2.10(ro,no_root_squash,no_subtree_check,sync) " \
           "10.0.2.11(ro,no_root_squash,no_subtree_check,sync)" in files["exports"]
    pool_block = files["ganesha-exports.conf"].split("EXPORT {")[1]
    assert 'Path = "/srv/pool";' in pool_block and "Access_Type = RO;" in pool_block
    own_block = files["ganesha-exports.conf"].split("EXPORT {")[2]
    assert 'Path = "/srv/own";' in own_block


def test_check_site_accepts_a_consistent_pool(tmp_path, capsys):
    _site(tmp_path, SITE + HOSTS)
    assert cli.main(["check-site", "--site", str(tmp_path / "kbuild.toml")]) == 0
    assert "profile pool: " in capsys.readouterr().out


@pytest.mark.parametrize("extra,message", [
    ("""
[[hosts]]
name = "c"
mac = "52:54:00:00:00:0c"
ip = "10.0.2.12"
profile = "pool"
root_mode = "rw"
""", "export /srv/pool is a shared read-only root (host a, host b) but host c mounts it read-write"),
    ("""
[[hosts]]
name = "c"
mac = "52:54:00:00:00:0c"
ip = "10.0.2.12"
profile = "own"

[[hosts]]
name = "d"
mac = "52:54:00:00:00:0d"
ip = "10.0.2.13"
profile = "own"
""", "host c and host d share the read-write root /srv/own: each would write over the other's state"),
    ("""
[[hosts]]
name = "c"
mac = "52:54:00:00:00:0c"
ip = "10.0.2.12"
profile = "own"
nfs_path = "/srv/pool"
""", "export /srv/pool is a shared read-only root (host a, host b) but host c mounts it read-write"),
])
def test_check_site_refuses_contradictions(tmp_path, capsys, extra, message):
    _site(tmp_path, SITE + HOSTS + extra)
    assert cli.main(["check-site", "--site", str(tmp_path / "kbuild.toml")]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "kbuild.toml:" in err and "fix: " in err


def test_hosts_with_their_own_rw_paths_are_fine(tmp_path, capsys):
    _site(tmp_path, SITE + """
[[hosts]]
name = "c"
mac = "52:54:00:00:00:0c"
profile = "own"
nfs_path = "/srv/c"

[[hosts]]
name = "d"
mac = "52:54:00:00:00:0d"
profile = "own"
nfs_path = "/srv/d"
""")
    assert cli.main(["check-site", "--site", str(tmp_path / "kbuild.toml")]) == 0


ENTRY = "console=ttyS0,115200 ip=dhcp root=/dev/nfs nfsroot=10.0.2.2:/srv/pool,vers=4,tcp"


def _check(tmp_path: Path, mode: str | None, changes: dict[str, str | None]):
    cmd = ENTRY + (f" ro init=/sbin/kbuild-root kbroot={mode} kbroot_init=/init" if mode else " rw")
    cfg = write_config(tmp_path, {"SHMEM": "y", **changes})
    return verify.verify_config(cfg, entry=entry_from_cmdline(cmd), nics=["e1000"])


@pytest.mark.parametrize("mode,changes,fails", [
    (None, {"TMPFS": "n", "SHMEM": "n"}, []),
    ("ro-shared", {}, []),
    ("ro-shared", {"TMPFS": "n"}, ["root-tmpfs"]),
    ("ro-shared", {"SHMEM": "n"}, ["root-shmem"]),
    ("overlay", {}, ["root-overlay-fs", "root-tmpfs-xattr"]),
    ("overlay", {"OVERLAY_FS": "y", "TMPFS_XATTR": "y"}, []),
    ("overlay", {"OVERLAY_FS": "m", "TMPFS_XATTR": "y"}, ["root-overlay-fs"]),
    ("overlay", {"OVERLAY_FS": "y"}, ["root-tmpfs-xattr"]),
])
def test_verify_rules_follow_the_root_mode(tmp_path, mode, changes, fails):
    assert "SHMEM" not in GOOD
    report = _check(tmp_path, mode, changes)
    assert sorted(c.rule for c in report.failures) == fails
    ran = {c.rule for c in report.checks}
    assert ("root-tmpfs" in ran) == (mode is not None)


def test_a_failed_overlay_rule_names_its_source(tmp_path):
    report = _check(tmp_path, "overlay", {"OVERLAY_FS": "y"})
    c = next(c for c in report.failures if c.rule == "root-tmpfs-xattr")
    text = str(c.__dict__)
    assert "fs/overlayfs/dir.c:247-254" in text and "EIO" in text
