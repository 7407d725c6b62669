"""The second kernel series for real: `nfsroot-6.12` builds from Debian's linux-source-6.12
(fetched from the signed index as kbuild.lock says), passes verify, and boots over NFS."""
from __future__ import annotations

import json
import re

import pytest

from kbuild.publish.manifest import read_manifest

pytestmark = [pytest.mark.build, pytest.mark.boot]


@pytest.fixture
def built(work_site):
    return work_site.kernel("nfsroot-6.12")


def test_612_build_record_and_manifest_carry_the_lock(work_site, built):
    site = work_site.site
    entry = site.sources["debian-6.12"].locked
    assert entry is not None and entry.package == "linux-source-6.12"
    assert re.fullmatch(r"6\.12\.\d+", entry.upstream)
    record = json.loads((work_site.artifacts / "build/nfsroot-6.12/kbuild-build.json").read_text())
    assert record["kernel_release"].startswith(entry.upstream)
    assert (record["source_package"], record["source_version"], record["source_upstream"],
            record["source_deb_sha256"], record["source_sha256"]) == \
        (entry.package, entry.version, entry.upstream, entry.deb_sha256, entry.sha256)
    manifest = read_manifest(work_site.tftp) or {}
    files = manifest["files"]
    image = next(m for path, m in files.items() if path.startswith("images/nfsroot-6.12/vmlinuz-"))
    assert image["meta"]["source_version"] == entry.version
    assert image["meta"]["source_deb_sha256"] == entry.deb_sha256


def test_612_config_passes_verify(work_site, built):
    config = work_site.artifacts / "build/nfsroot-6.12/.config"
    r = work_site.kbuild("verify", str(config), "--profile", "nfsroot-6.12")
    assert r.code == 0, r.out
    assert "Linux/x86_64 6.12." in config.read_text()[:300]


def test_boot_612_runs_init_from_nfs(work_site, built):
    r = work_site.doit("boot:nfsroot-6.12", timeout=900)
    assert r.code == 0, r.out
    assert "init ran from the NFS root" in r.out
    console = (work_site.artifacts / "boot/nfsroot-6.12/console.log").read_text(errors="replace")
    assert "KBUILD-MARKER" in console and "VFS: Mounted root (nfs" in console
    assert re.search(r"Linux version 6\.12\.\d+", console), console[:2000]
