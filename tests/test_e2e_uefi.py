"""UEFI end to end: the nfsroot kernel carries an EFI stub; OVMF boots it through shim and
Debian's signed GRUB; with Secure Boot on, the kernel signed by the site key boots and the
same kernel unsigned is refused; one dnsmasq from the generated snippet gives a BIOS and a
UEFI client each its own loader (DHCP option 93). iPXE under UEFI and HTTP for the big
files: tests/test_e2e_uefi_http.py.

`doit boot:nfsroot` itself (tests/test_e2e_nfsroot.py) boots BIOS and UEFI; these tests
add what a plain `doit` run does not do."""
from __future__ import annotations

import re

import pytest

from kbuild.errors import InfraError
from kbuild.lab import dhcplab
from kbuild.lab.qemu import boot_pxe, secure_boot_firmware
from kbuild.signing import keys, sign
from kbuild.site import layout
from tests.boot.test_hostfiles import _base_toml
from tests.e2e import copy_site

pytestmark = [pytest.mark.build, pytest.mark.boot]


@pytest.fixture
def built(work_site):
    work_site.kernel("nfsroot")
    return work_site.site


def _kernel(site):
    p = site.profiles["nfsroot"]
    image = layout.build_dir(site, p) / "arch/x86/boot/bzImage"
    staged = sorted((layout.stage_dir(site) / "images/nfsroot").glob("vmlinuz-*"))
    assert len(staged) == 1
    return p, image, str(staged[0].relative_to(layout.stage_dir(site)))


def test_kernel_is_an_efi_application_and_uefi_loaders_are_staged(work_site, built):
    _p, image, rel = _kernel(built)
    assert sign.is_pe(image)                      # EFI_STUB: shim and GRUB can start it
    tftp = work_site.tftp
    assert (tftp / "bootx64.efi").read_bytes() == open("/usr/lib/shim/shimx64.efi.signed", "rb").read()
    assert (tftp / "grubx64.efi").stat().st_size > 1_000_000
    assert (tftp / "mmx64.efi").is_file()
    cfg = (tftp / "grub/grub.cfg").read_text()
    assert "configfile \"$prefix/grub.cfg-01-" in cfg and f"linux /{rel} " in cfg
    dns = (work_site.artifacts / "server/dnsmasq-hosts.conf")
    assert dns.is_file()


def test_secure_boot_signed_kernel_boots_and_unsigned_is_refused(work_site, built, tmp_path):
    site = built
    profile, image, rel = _kernel(site)
    key = keys.init_key(tmp_path / "site.key", tmp_path / "site.crt")
    signed = sign.signed_copy(image, key, tmp_path / "signed", rel)
    firmware = secure_boot_firmware(key.cert, tmp_path / "fw")
    ok = boot_pxe(site, profile, timeout=300, loader="grub-efi", nic="virtio-net-pci",
                  firmware=firmware, replace={rel: signed})
    assert ok.ok and ok.marker_seconds is not None
    console = ok.console.read_bytes().decode(errors="replace")
    assert "secureboot: Secure boot enabled" in console   # the kernel saw Secure Boot on
    assert re.search(r"VFS: Mounted root \(nfs4? filesystem\)", console), console[-2000:]
    with pytest.raises(InfraError) as e:
        boot_pxe(site, profile, timeout=300, loader="grub-efi", nic="virtio-net-pci",
                 firmware=firmware, replace={rel: image})
    assert "bad shim signature" in e.value.message
    refused = (layout.boot_dir(site, profile) / "grub-efi-sb/console.log").read_bytes().decode(
        errors="replace")
    assert "error: bad shim signature" in refused and "KBUILD-MARKER" not in refused


def test_generated_dnsmasq_conf_gives_bios_and_uefi_clients_their_own_loader(work_site, built,
                                                                               tmp_path):
    from kbuild.boot import server
    from kbuild.site.load import load_site

    hosts = """
[[hosts]]
name = "pc-bios"
mac = "52:54:00:b1:05:01"
ip = "10.0.2.31"
profile = "nfsroot"

[[hosts]]
name = "pc-uefi"
mac = "52:54:00:ef:01:02"
ip = "10.0.2.32"
profile = "nfsroot"
"""
    root = copy_site(tmp_path / "site", _base_toml() + hosts, link=True)
    snippet = server.snippets(load_site(root / "kbuild.toml")).files["dnsmasq-hosts.conf"]
    clients = dhcplab.pair(("52:54:00:b1:05:01", "10.0.2.31"), ("52:54:00:ef:01:02", "10.0.2.32"))
    result = dhcplab.run_pair(work_site.tftp, snippet, clients, "10.0.2.2", tmp_path / "lab",
                              timeout=300)
    log = (tmp_path / "lab/dnsmasq.log").read_text(errors="replace")
    assert result["ok"], (result, log[-3000:])
    # option 93 in the requests, the tag, and the boot file each got
    assert re.search(r"vendor class: PXEClient:Arch:00000", log)
    assert re.search(r"vendor class: PXEClient:Arch:0000[79]", log)
    assert re.search(r"tags: kb-pc-uefi, known, kb-efi64", log)
    assert f"sent {work_site.tftp}/pxelinux.0 to 10.0.2.31" in log
    assert f"sent {work_site.tftp}/bootx64.efi to 10.0.2.32" in log
    assert f"sent {work_site.tftp}/bootx64.efi to 10.0.2.31" not in log
    assert f"sent {work_site.tftp}/pxelinux.0 to 10.0.2.32" not in log

