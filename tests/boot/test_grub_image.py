"""The unsigned GRUB EFI image (grub-efi-unsigned): reproducible, self-contained, staged
for a dom0 profile with Xen's entry offered to it, and handed out by the DHCP snippets'
UEFI branch."""
from __future__ import annotations

import gzip
import shutil
import struct
import subprocess

import pytest

from kbuild.boot import efi, grub, grub_image, multiboot, server
from kbuild.boot.entry import BootEntry
from kbuild.errors import UserError
from kbuild.publish import stage
from kbuild.site.load import load_site
from tests.boot.test_hostfiles import SYNTHETIC_CONFIG, _base_toml
from tests.e2e import copy_site, fake_build

DOM0_HOST = """
[[hosts]]
name = "xen-uefi"
mac = "52:54:00:ef:00:02"
ip = "10.0.2.41"
profile = "dom0"
"""


def test_image_is_reproducible_and_self_contained(tmp_path):
    a = grub_image.efi_netboot_image(tmp_path / "a")
    b = grub_image.efi_netboot_image(tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()                   # same GRUB + modules: same bytes
    assert grub_image.efi_netboot_image(tmp_path / "a") == a  # cached
    data = a.read_bytes()
    assert data[:2] == b"MZ" and b"PE\0\0" in data[:512]      # an EFI application
    assert grub_image.EARLY_CONFIG.encode() in data           # the embedded config
    # every module is inside (nothing is fetched from the server at run time)
    for mod in ("multiboot2", "efinet", "tftp", "regexp", "gzio"):
        assert b"\0" + mod.encode() + b"\0" in data, mod
    assert not list((tmp_path / "a").glob(".*"))              # no temp files left


def test_missing_grub_efi_modules_name_the_package(tmp_path, monkeypatch):
    from kbuild.errors import InfraError

    monkeypatch.setattr(grub_image, "MODULE_DIR", tmp_path / "no-such-dir")
    with pytest.raises(InfraError) as e:
        grub_image.efi_netboot_image(tmp_path / "cache")
    assert "grub-efi-amd64-bin" in (e.value.hint or "")


def _entry(label, hypervisor=None):
    return BootEntry(label=label, title=label, arch="x86_64", kernel=f"images/{label}/vmlinuz",
                     kernel_args=("x",), hypervisor=hypervisor, multiboot2=bool(hypervisor),
                     profile=label)


def test_multiboot2_entries_are_offered_to_the_unsigned_image_only():
    dom0, nfs = _entry("dom0", "images/dom0/xen.gz"), _entry("nfsroot")
    entries, platform_of = efi.grub_menu_entries([dom0, nfs], [nfs], [dom0])
    assert [e.label for e in entries] == ["dom0", "nfsroot"]
    assert platform_of == {"dom0": "multiboot2"}
    cfg = grub.menu_config(entries, "nfsroot", efi_lookup=True, platform_of=platform_of)
    assert ('if [ "$grub_platform" = pc -o "$kb_multiboot2" = yes ]; then\n'
            "    menuentry dom0") in cfg
    # without the unsigned image the Xen entry stays BIOS-only, as before
    assert efi.grub_menu_entries([dom0, nfs], [nfs])[1] == {"dom0": "pc"}


@pytest.fixture
def dsite(tmp_path):
    root = copy_site(tmp_path / "site", _base_toml() + DOM0_HOST, link=True)
    site = load_site(root / "kbuild.toml")
    for p in site.profiles.values():
        fake_build(site, p, SYNTHETIC_CONFIG)
    return site


def test_dom0_profile_stages_the_image_and_dhcp_hands_it_to_uefi_clients(dsite, tmp_path):
    assert "grub-efi-unsigned" in dsite.profiles["dom0"].loaders
    by_rel = {f.relpath: f for f in stage.plan_tree(dsite).files}
    core = by_rel[grub_image.BOOT_FILE]
    assert core.meta["origin"] == "grub-mkimage" and core.source.read_bytes()[:2] == b"MZ"
    assert "grub/grub.cfg-01-52-54-00-ef-00-02" in by_rel     # the image searches it itself
    cfg = by_rel["grub/grub.cfg"].data.decode()
    assert '"$kb_multiboot2" = yes' in cfg and "multiboot2 /images/dom0/xen-4.17-amd64.gz" in cfg
    snip = server.snippets(dsite).files
    dns = snip["dnsmasq-hosts.conf"]
    assert f"dhcp-boot=tag:kb-xen-uefi,tag:kb-efi64,{grub_image.BOOT_FILE},,10.0.2.2" in dns
    assert "dhcp-boot=tag:kb-xen-uefi,tag:!kb-efi64,pxelinux.0,,10.0.2.2" in dns
    assert f'filename "{grub_image.BOOT_FILE}";' in snip["dhcpd-hosts.conf"]
    if shutil.which("dnsmasq"):
        conf = tmp_path / "dnsmasq.conf"
        conf.write_text("port=0\ndhcp-range=10.0.2.10,10.0.2.99,1h\n" + dns)
        r = subprocess.run(["dnsmasq", "--test", f"--conf-file={conf}"], capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stderr


def test_both_efi_grubs_in_one_profile_is_an_error(tmp_path):
    text = _base_toml().replace('loaders = ["pxelinux", "grub-efi"]',
                                'loaders = ["pxelinux", "grub-efi", "grub-efi-unsigned"]', 1)
    assert "grub-efi-unsigned\"]" in text
    root = copy_site(tmp_path / "site", text, link=True)
    with pytest.raises(UserError) as e:
        load_site(root / "kbuild.toml")
    assert "one UEFI loader" in str(e.value) and "kbuild.toml" in str(e.value)


def _mb2_image(path, tags: list[int]):
    body = b"".join(struct.pack("<HHI", t, 0, 8) for t in tags) + struct.pack("<HHI", 0, 0, 8)
    length = 16 + len(body)
    magic = multiboot.MB2_MAGIC
    head = struct.pack("<IIII", magic, 0, length, (-(magic + length)) & 0xFFFFFFFF)
    path.write_bytes(gzip.compress(b"\0" * 64 + head + body + b"\0" * 256, mtime=0))
    return path


def test_multiboot2_efi_entry_is_detected(tmp_path):
    efi_ok = multiboot.inspect(_mb2_image(tmp_path / "a.gz", [7, 9]))
    assert efi_ok.multiboot2 and efi_ok.compressed and efi_ok.efi64
    assert not multiboot.inspect(_mb2_image(tmp_path / "b.gz", [9])).efi64
