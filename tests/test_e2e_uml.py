"""`doit kernel:uml` builds the patched 64-bit UML kernel and stages it with a launch
script; `doit boot:uml` runs it in a network namespace with root over NFS: NFSv4 and
NFSv3, vector and tuntap, ip=dhcp and static ip=, and an FPU/vector stress workload."""
from __future__ import annotations

import json
import re

import pytest

from kbuild.kconfig.tree import values_of

pytestmark = [pytest.mark.build, pytest.mark.boot]


@pytest.fixture
def built(work_site):
    """`doit kernel:uml` in the session's work site before each test: builds once,
    then a no-op."""
    return work_site.kernel("uml")


def test_uml_is_64bit_patched_and_staged_with_a_launch_script(work_site, built):
    tftp = work_site.tftp
    cfg = values_of((work_site.artifacts / "build/uml/.config").read_text())
    assert cfg["64BIT"] == "y" and cfg["UML_NET_VECTOR"] == "y" and cfg["UML_NET_TUNTAP"] == "y"
    assert cfg["ROOT_NFS"] == "y" and cfg["NFS_V3"] == "y" and cfg["NFS_V4"] == "y"
    record = json.loads((work_site.artifacts / "build/uml/kbuild-build.json").read_text())
    assert record["patches"] == "uml"
    stamps = (work_site.artifacts / "src").glob("debian-6.1-*-p*/.kbuild-tree.json")
    stamp = json.loads(next(stamps).read_text())
    assert stamp["applied"] == ["uml-xstate-host-size.patch"]
    binary = tftp / f"images/uml/linux-{record['kernel_release']}"
    assert binary.is_file() and binary.stat().st_mode & 0o111
    head = binary.read_bytes()[:20]
    assert head[:4] == b"\x7fELF" and head[4] == 2 and head[18] == 62  # ELFCLASS64, EM_X86_64
    script = (tftp / "uml/uml.sh").read_text()
    assert f'exec "$here/images/uml/linux-{record["kernel_release"]}"' in script
    assert "nfsroot=10.0.3.1:/nfsroot,vers=4,tcp" in script and "vec0:transport=tap" in script


def test_boot_uml_all_variants(work_site, built):
    r = work_site.doit("boot:uml", timeout=1200)
    assert r.code == 0, r.out
    for variant in ("nfs4-vector-dhcp", "nfs3-tuntap-static", "nfs4-tuntap-static", "nfs3-vector-dhcp"):
        assert re.search(rf"{variant}: marker after [0-9.]+ s", r.out), (variant, r.out)
    boot = work_site.artifacts / "boot/uml"
    v3 = (boot / "nfs3-tuntap-static/vm.log").read_text(errors="replace")
    assert re.search(r"kbuild-lab: root 10\.0\.3\.1:/nfsroot nfs\b", v3)  # NFSv3 really used
    v4 = (boot / "nfs4-vector-dhcp/vm.log").read_text(errors="replace")
    assert "kbuild-lab: root 10.0.3.1:/nfsroot nfs4" in v4
    assert "kbuild-lab: PASS /lab/fpstress.sh" in v4 and "fpstress: PASS" in v4
    assert "Host FP state: XSTATE" in v4     # the patch sized the FP transfer from the host
    assert "DHCPACK" in (boot / "nfs4-vector-dhcp/dnsmasq.log").read_text(errors="replace")
