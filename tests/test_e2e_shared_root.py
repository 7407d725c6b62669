"""The same ro-shared root booted by a QEMU BIOS PXE client (pxelinux) and by a Xen dom0
(pxelinux + mboot.c32): the entries kbuild stages say ``ro init=/sbin/kbuild-root``, the
lab root is prepared by ``kbuild root prepare`` and exported read-only, and the
early-boot program makes /flash in RAM before the lab's init prints its marker."""
from __future__ import annotations

import re

import pytest

from kbuild.lab.qemu import boot_pxe

pytestmark = [pytest.mark.build, pytest.mark.boot]


@pytest.fixture
def ro_shared(work_site):
    """The work site's nfsroot and dom0 profiles in root_mode ro-shared, put back after."""
    toml = work_site.toml
    original = toml.read_text()
    text = original
    for name in ("nfsroot", "dom0"):
        text = text.replace(f"[profiles.{name}]\n", f"[profiles.{name}]\nroot_mode = \"ro-shared\"\n", 1)
    assert text.count('root_mode = "ro-shared"') == 2
    toml.write_text(text)
    try:
        yield work_site
    finally:
        toml.write_text(original)


@pytest.mark.parametrize("profile", ["nfsroot", "dom0"])
def test_qemu_and_dom0_boot_the_ro_shared_root(ro_shared, profile):
    r = ro_shared.doit(f"kernel:{profile}")
    assert r.code == 0, r.out
    staged = (ro_shared.tftp / "pxelinux.cfg/default").read_text()
    assert re.search(rf"^LABEL {profile}\n(?:  .*\n)*?  APPEND .* ro init=/sbin/kbuild-root "
                     r"kbroot=ro-shared kbroot_init=/init$", staged, re.M), staged
    site = ro_shared.site
    result = boot_pxe(site, site.profile(profile), timeout=300)
    console = result.console.read_text(errors="replace")
    assert "kbuild-root: ro-shared: /flash in RAM" in console
    assert re.search(r"kbuild-lab: root 10\.0\.2\.2:/nfsroot nfs4", console)
    assert 'Access_Type = RO;' in (result.console.parent / "ganesha.conf").read_text()
    if profile == "dom0":
        assert any("control_d" in e for e in result.evidence)
