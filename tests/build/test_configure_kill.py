"""SIGKILL in the middle of writing a profile's .config (`doit config:`): the old .config
stays whole, and the next run writes the new one.

The kill lands exactly where it matters, not after a guessed sleep: a sitecustomize
module on the doit process's path (tests only) pauses kbuild's atomic writer when it is
about to rename the finished temp file over this .config, and says so in a file. The
test waits for that, kills the process group, and sees the new content complete in the
temp file while .config still holds the old one.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from kbuild.kconfig.tree import values_of
from kbuild.site import layout
from kbuild.site.load import load_site
from tests.e2e import BIN, REPO, Run

pytestmark = pytest.mark.realtree

PAUSE = '''\
import os
import pathlib
import time

_target = os.environ.get("KBUILD_TEST_PAUSE_BEFORE_REPLACING")
if _target:
    import kbuild.util.files as _files

    class _PausingOs:
        """os, except that replacing the target waits to be killed (and says where)."""

        def __getattr__(self, name):
            return getattr(os, name)

        @staticmethod
        def replace(src, dst, *args, **kwargs):
            if str(dst) == _target:
                pathlib.Path(_target + ".paused").write_text(str(src))
                time.sleep(3600)
            return os.replace(src, dst, *args, **kwargs)

    _files.os = _PausingOs()
'''


@pytest.fixture
def kill_site(tmp_path, work_site, linux_src) -> Path:
    """A copy of the site whose artifacts/ shares the session work site's cache, apt state
    and unpacked 6.1 tree (read only), so `doit config:nfsroot` needs no download."""
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    for name in ("kbuild.toml", "kbuild.lock"):
        shutil.copy2(REPO / name, site_dir / name)
    shutil.copytree(REPO / "fragments", site_dir / "fragments")
    (site_dir / "patches").symlink_to(REPO / "patches")
    site = load_site(site_dir / "kbuild.toml")
    pristine = layout.pristine_tree(site, site.sources["debian-6.1"])
    pristine.parent.mkdir(parents=True)
    pristine.symlink_to(linux_src)
    for shared in ("cache", "apt"):
        if (work_site.artifacts / shared).is_dir():
            (site.artifacts / shared).symlink_to(work_site.artifacts / shared)
    return site_dir


def _env(site_dir: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, KBUILD_SITE=str(site_dir / "kbuild.toml"), **extra)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _doit(site_dir: Path, **extra: str) -> subprocess.Popen[str]:
    # --single: only configure (the tree is there; fetch and unpack are the work site's)
    return subprocess.Popen([str(BIN / "doit"), "-f", str(REPO / "dodo.py"), "-d", str(site_dir),
                             "--single", "config:nfsroot"], env=_env(site_dir, **extra),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _run(site_dir: Path) -> Run:
    proc = _doit(site_dir)
    out, _ = proc.communicate(timeout=600)
    return Run(proc.returncode, out)


def test_sigkill_mid_write_leaves_the_old_config_whole_and_the_next_run_writes_the_new(kill_site, tmp_path):
    first = _run(kill_site)
    assert first.code == 0 and "config:nfsroot" in first.executed, first.out
    site = load_site(kill_site / "kbuild.toml")
    cfg = layout.config_path(site, site.profiles["nfsroot"])
    before = cfg.read_text()
    assert 'CONFIG_LOCALVERSION=""' in before
    # a change that changes the .config (a comment would not: nothing would be written)
    frag = kill_site / "fragments" / "core.config"
    frag.write_text(frag.read_text() + 'CONFIG_LOCALVERSION="-killed"\n')

    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(PAUSE)
    paused = Path(f"{cfg}.paused")
    path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)
    proc = _doit(kill_site, PYTHONPATH=path, KBUILD_TEST_PAUSE_BEFORE_REPLACING=str(cfg))
    deadline = time.monotonic() + 300
    while not paused.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert paused.exists(), proc.communicate()[0] if proc.poll() is not None else "no pause in 300 s"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()

    # killed after the new content was written in full, before the rename
    temp = Path(paused.read_text())
    assert temp.parent == cfg.parent and temp.name.startswith("..config.") and temp.suffix == ".tmp"
    assert 'CONFIG_LOCALVERSION="-killed"' in temp.read_text()
    assert cfg.read_text() == before                    # the old .config, whole

    again = _run(kill_site)
    assert again.code == 0 and "config:nfsroot" in again.executed, again.out
    values = values_of(cfg.read_text())
    assert values["LOCALVERSION"] == "-killed" and values["ROOT_NFS"] == "y"
