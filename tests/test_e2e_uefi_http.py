"""HTTP for the big files, end to end (issue 10): with ``[site] http_base`` the iPXE scripts
fetch kernel and hypervisor from Debian's nginx, run by the server block kbuild generates.

- UEFI: OVMF PXE → ``snponly.efi`` (TFTP) → iPXE's own DHCP (user class iPXE) → the host's
  script → the kernel over HTTP → NFS root → init's marker, with dnsmasq also run by the
  generated snippet (kbuild/lab/httplab.py).
- BIOS dom0: QEMU's iPXE ROM → ``ipxe/dom0.ipxe`` → Xen and the dom0 kernel over HTTP →
  dom0 on the NFS root (the lab starts nginx beside QEMU's user network).

Each test stages, in a copy of the site with http_base, the kernel the session's work site
built (``doit kernel:<profile>``); the work site itself is not changed."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from kbuild.lab import httplab
from kbuild.lab.qemu import boot_pxe
from kbuild.publish import stage
from kbuild.site import layout
from kbuild.site.load import load_site
from kbuild.site.model import Site
from tests.boot.test_hostfiles import _base_toml
from tests.e2e import WorkSite, copy_site

pytestmark = [pytest.mark.build, pytest.mark.boot]

HTTP_BASE = "http://10.0.2.2:8080/"
HOST = ('\n[[hosts]]\nname = "efi-http"\nmac = "52:54:00:12:34:56"\nip = "10.0.2.15"\n'
        'profile = "nfsroot"\n')


def _http_site(work_site: WorkSite, root: Path, profile: str, text: str) -> Site:
    """A copy of the site (``text``) with http_base, staging ``profile`` as built in the work
    site; it reads the work site's source cache (the hypervisor) and lock."""
    r = work_site.doit(f"kernel:{profile}")
    assert r.code == 0, r.out
    text = text.replace("[site]\n", f'[site]\nhttp_base = "{HTTP_BASE}"\n', 1)
    copy_site(root, text, link=True)
    shutil.copy2(work_site.root / "kbuild.lock", root / "kbuild.lock")
    (root / "artifacts/build").mkdir(parents=True)
    os.symlink(work_site.artifacts / "build" / profile, root / "artifacts/build" / profile)
    os.symlink(work_site.artifacts / "cache", root / "artifacts/cache")
    site = load_site(root / "kbuild.toml")
    stage.stage(site)
    return site


def test_uefi_ipxe_fetches_the_kernel_over_http_from_the_generated_nginx(work_site, tmp_path):
    text = _base_toml().replace('loaders = ["pxelinux", "grub-efi"]',
                                'loaders = ["pxelinux", "ipxe-efi"]', 1) + HOST
    site = _http_site(work_site, tmp_path / "site", "nfsroot", text)
    tree = layout.stage_dir(site)
    kernel = next((tree / "images/nfsroot").glob("vmlinuz-*"))

    result = httplab.boot_http(site, site.profiles["nfsroot"], site.hosts[0], tmp_path / "lab",
                               timeout=300)
    assert result.ok and result.marker_seconds is not None
    console = result.console.read_bytes().decode(errors="replace")
    assert re.search(r"VFS: Mounted root \(nfs4? filesystem\)", console), console[-2000:]
    assert f"{HTTP_BASE}images/nfsroot/{kernel.name}... ok" in console     # iPXE's own line
    # nginx (from the generated snippet) served the whole kernel to the client, over HTTP
    fetches = httplab.access_log(tmp_path / "lab/nginx-access.log")
    got = [f for f in fetches if f.path == f"/images/nfsroot/{kernel.name}"]
    assert len(got) == 1, fetches
    assert got[0].status == 200 and got[0].size == kernel.stat().st_size
    assert got[0].client == "10.0.2.15" and got[0].agent.startswith("iPXE/")
    # dnsmasq (from the generated snippet): the loader and the script over TFTP, not the kernel
    log = (tmp_path / "lab/dnsmasq.log").read_text(errors="replace")
    assert f"sent {tree}/snponly.efi to 10.0.2.15" in log
    assert "user class: iPXE" in log and "tags: kb-efi-http, known, kb-ipxe, kb-efi64" in log
    assert f"sent {tree}/ipxe/52-54-00-12-34-56.ipxe to 10.0.2.15" in log
    assert f"sent {tree}/images/" not in log


def test_bios_ipxe_fetches_xen_and_dom0_over_http(work_site, tmp_path):
    site = _http_site(work_site, tmp_path / "site", "dom0", _base_toml())
    tree = layout.stage_dir(site)
    script = (tree / "ipxe/dom0.ipxe").read_text()
    assert f"\nkernel {HTTP_BASE}images/dom0/xen-4.17-amd64 " in script
    assert f"\nmodule {HTTP_BASE}images/dom0/vmlinuz-" in script

    profile = site.profiles["dom0"]
    result = boot_pxe(site, profile, timeout=300, loader="ipxe")
    assert result.ok and any("control_d" in e for e in result.evidence), result.summary()
    fetches = httplab.access_log(layout.boot_dir(site, profile) / "ipxe/nginx-access.log")
    for rel in ("images/dom0/xen-4.17-amd64", str(next((tree / "images/dom0").glob("vmlinuz-*"))
                                                   .relative_to(tree))):
        got = [f for f in fetches if f.path == "/" + rel]
        assert len(got) == 1, (rel, fetches)
        assert got[0].status == 200 and got[0].size == (tree / rel).stat().st_size
        assert got[0].agent.startswith("iPXE/")
