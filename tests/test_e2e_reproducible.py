"""Bit-identical kernels: the build record's reproducer rebuilds the same image, and
`kbuild verify-build` rebuilds the full nfsroot image elsewhere — at another depth, under
another clock (faketime), host name (a UTS namespace) and user, with no compiler cache —
and finds it identical to the work site's ccache build; a changed fragment value is
reported as different, with the first differing section."""
from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from kbuild.publish.manifest import read_manifest
from tests.e2e import BIN, command_env

pytestmark = [pytest.mark.build]
NOBODY = 65534


@pytest.fixture
def built(work_site):
    work_site.kernel("nfsroot")
    return work_site.artifacts / "build" / "nfsroot"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_record_reproducer_rebuilds_the_same_image(work_site, built):
    record = json.loads((built / "kbuild-build.json").read_text())
    cmd = record["reproducer"]
    words = shlex.split(cmd)
    assert words[0] == "env" and "KBUILD_BUILD_VERSION=1" in words
    assert any(w.startswith("KBUILD_BUILD_TIMESTAMP=") for w in words)
    assert "CC=ccache gcc" in words and any(w.startswith("CCACHE_BASEDIR=") for w in words)
    assert record["environment"]["SOURCE_DATE_EPOCH"] == str(record["source_date_epoch"])
    assert record["engine"]["name"] == "local" and record["ccache_stats"] is not None
    # take away the image and what embeds the version counter and time, then paste the command
    for rel in ("arch/x86/boot/bzImage", "vmlinux", "init/version.o", "init/version-timestamp.o"):
        (built / rel).unlink(missing_ok=True)
    r = subprocess.run(["bash", "-c", cmd], cwd="/", capture_output=True, text=True,
                       env={**os.environ, "KCFLAGS": "-O0", "KBUILD_BUILD_USER": "someone"})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert _sha(built / "arch/x86/boot/bzImage") == record["image_sha256"]


def _open_path_for(uid: int, path: Path) -> list[tuple[Path, int]]:
    """Let ``uid`` traverse to ``path`` (pytest's temp dirs are 0700): o+x on each parent
    that lacks it; returns what to put back."""
    changed = []
    for d in [path, *path.parents]:
        mode = d.stat().st_mode & 0o7777
        if not mode & 0o001:
            os.chmod(d, mode | 0o001)
            changed.append((d, mode))
    return changed


def test_uncached_rebuild_elsewhere_is_identical_and_a_changed_value_is_not(
        work_site, built, tmp_path_factory):
    record = json.loads((built / "kbuild-build.json").read_text())
    assert record["ccache"] is True                     # this side went through ccache
    scratch = tmp_path_factory.mktemp("elsewhere") / "a/much/deeper/scratch"
    scratch.mkdir(parents=True)
    for d in (scratch, *list(scratch.parents)[:3]):
        os.chown(d, NOBODY, NOBODY)
    # the work site, the scratch dir and the interpreter (pyenv's may live under /root)
    restore = []
    for path in (work_site.root, scratch, Path(os.path.realpath(sys.executable)).parent):
        restore += _open_path_for(NOBODY, path)
    env = command_env()
    env.update(HOME=str(scratch), NO_FAKE_STAT="1", USER="nobody", LOGNAME="nobody")
    argv = ["unshare", "--uts", "--", "sh", "-c",
            'hostname elsewhere.example && exec "$@"', "sh",
            "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
            "faketime", "2031-06-01 12:00:00",
            str(BIN / "kbuild"), "verify-build", "nfsroot", "--site", str(work_site.toml),
            "--scratch", str(scratch), "--json"]
    # the published manifest's explicit field is what the first rebuild must match
    manifest = work_site.tftp / "kbuild-manifest.json"
    entries = (read_manifest(work_site.tftp) or {})["files"].values()
    published = [e["meta"].get("image_sha256") for e in entries
                 if e["meta"].get("profile") == "nfsroot" and "image_sha256" in e["meta"]]
    assert published and set(published) == {record["image_sha256"]}
    frag = work_site.fragment("ip-pnp")
    original = frag.read_text()
    try:
        r = subprocess.run(argv + ["--manifest", str(work_site.tftp)], cwd="/", env=env,
                           capture_output=True, text=True, timeout=3600)
        assert r.returncode == 0, r.stdout + r.stderr[-4000:]
        same = json.loads(r.stdout)
        assert same["identical"] is True and same["expected_sha256"] == record["image_sha256"]
        assert same["expected_from"] == str(manifest)
        assert "verify-build nfsroot: identical" in r.stderr
        uts = (scratch / "include/generated/compile.h").read_text()
        assert "elsewhere" not in uts and '"kbuild"' in uts  # host and user fixed, not leaked
        assert (scratch / "vmlinux").stat().st_uid == NOBODY   # really built by another user

        frag.write_text(original.replace("CONFIG_IP_PNP_RARP=y", "CONFIG_IP_PNP_RARP=n"))
        c = work_site.doit("config:nfsroot")
        assert c.code == 0, c.out
        r = subprocess.run(argv, cwd="/", env=env, capture_output=True, text=True, timeout=3600)
        assert r.returncode == 1, r.stdout + r.stderr[-4000:]
        diff = json.loads(r.stdout)
        assert diff["identical"] is False and diff["config_changed"] is True
        assert diff["difference"].startswith("vmlinux: section ."), diff
        assert "verify-build nfsroot: different" in r.stderr
    finally:
        frag.write_text(original)
        work_site.doit("config:nfsroot")
        for d, mode in reversed(restore):
            os.chmod(d, mode)
