"""Boot entry files of every loader, read back the way the loaders read them."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kbuild.boot import pxelinux
from kbuild.boot.read import parse_entry, read_entry
from kbuild.errors import UserError

PXELINUX = """\
DEFAULT menu.c32
APPEND console=ttyS0 ip=dhcp root=/dev/nfs nfsroot=10.0.0.1:/global
ONTIMEOUT second
LABEL first
  KERNEL vmlinuz-a
  APPEND -
LABEL second
  MENU LABEL Second
  KERNEL images/vmlinuz-b
  IPAPPEND 3
LABEL xen
  KERNEL mboot.c32
  APPEND xen.gz dom0_mem=512M --- vmlinuz-c console=hvc0 ip=dhcp root=/dev/nfs \
nfsroot=10.0.0.1:/x --- initrd.img
"""


def test_pxelinux_default_label_global_append_and_ipappend():
    spec = parse_entry(PXELINUX, "pxelinux.cfg/default")
    assert spec.format == "pxelinux"
    assert spec.label == "second"              # ONTIMEOUT names it; DEFAULT is the menu module
    assert spec.source == "pxelinux.cfg/default:7"
    assert spec.cmdline.get("nfsroot") == "10.0.0.1:/global"   # the global APPEND
    assert spec.cmdline.get("ip") == pxelinux.IPAPPEND_IP.removeprefix("ip=")  # IPAPPEND 1 wins
    assert spec.cmdline.has("BOOTIF")
    assert spec.extra_bytes == len("BOOT_IMAGE=images/vmlinuz-b ")
    assert spec.labels == ("first", "second", "xen")
    assert any("IPAPPEND 1" in n for n in spec.notes)


def test_pxelinux_append_dash_clears_and_mboot_is_xen():
    first = parse_entry(PXELINUX, "f", label="first")
    assert first.cmdline.args == ()
    xen = parse_entry(PXELINUX, "f", label="xen")
    assert (xen.hypervisor, xen.hypervisor_args, xen.kernel) == ("xen.gz", ("dom0_mem=512M",), "vmlinuz-c")
    assert xen.cmdline.get("console") == "hvc0"
    assert xen.initrd
    with pytest.raises(UserError, match="no LABEL 'nope'") as e:
        parse_entry(PXELINUX, "f", label="nope")
    assert "first, second, xen" in str(e.value)


GRUB = """\
set default='net'
menuentry 'Plain' --id plain {
    linux /vmlinuz root=/dev/nfs ip=dhcp nfsroot=10.0.0.1:/p
}
menuentry 'Xen dom0' --id net {
    multiboot2 /xen.gz placeholder dom0_mem=1G console=com1
    module2 /vmlinuz placeholder console=hvc0 root=/dev/nfs ip=dhcp 'nfsroot=10.0.0.1:/x,vers=4.2'
    module2 --nounzip /initrd.img
}
"""


def test_grub2_default_by_id_multiboot2_placeholder_and_quotes():
    spec = parse_entry(GRUB, "grub.cfg")
    assert (spec.format, spec.label, spec.source) == ("grub2", "Xen dom0", "grub.cfg:5")
    assert spec.hypervisor == "/xen.gz"
    assert spec.hypervisor_args == ("dom0_mem=1G", "console=com1")
    assert spec.cmdline.args[0] == "console=hvc0"          # placeholder dropped
    assert spec.cmdline.get("nfsroot") == "10.0.0.1:/x,vers=4.2"
    assert spec.initrd
    plain = parse_entry(GRUB, "grub.cfg", label="plain")
    assert plain.hypervisor is None and not plain.initrd


def test_grub_legacy_xen_kernel_is_the_hypervisor():
    text = ("default 0\ntimeout 3\ntitle Xen NFS root\n  root (nd)\n  kernel /xen.gz dom0_mem=512M\n"
            "  module /vmlinuz root=/dev/nfs ip=dhcp nfsroot=10.0.0.1:/r,vers=3\n")
    spec = parse_entry(text, "menu.lst")
    assert (spec.format, spec.hypervisor, spec.kernel) == ("grub-legacy", "/xen.gz", "/vmlinuz")
    assert spec.cmdline.get("nfsroot") == "10.0.0.1:/r,vers=3"
    assert not spec.initrd


def test_ipxe_multiboot_counts_every_command_line_with_its_uri():
    text = ("#!ipxe\ndhcp\n:xen\nkernel http://s/xen.gz dom0_mem=1G\n"
            "module http://s/vmlinuz root=/dev/nfs ip=dhcp\nboot\n:chained\nchain next.ipxe\n")
    spec = parse_entry(text, "boot.ipxe")
    assert (spec.format, spec.label, spec.hypervisor) == ("ipxe", "xen", "http://s/xen.gz")
    assert spec.multiboot_bytes == len("http://s/xen.gz dom0_mem=1G") + 1 + \
        len("http://s/vmlinuz root=/dev/nfs ip=dhcp") + 1
    assert spec.labels == ("xen",)              # "chain next.ipxe" is a script, not a kernel


def test_uml_launch_script():
    text = ('#!/bin/sh\n# generated\nhere=$(pwd)\nexec "$here/linux" \\\n    mem=256M \\\n'
            "    'vec0:transport=tap,ifname=t0' \\\n    ip=dhcp root=/dev/nfs \\\n    umid=x \"$@\"\n")
    spec = parse_entry(text, "run-uml")
    assert spec.format == "uml"
    assert spec.cmdline.args == ("mem=256M", "vec0:transport=tap,ifname=t0", "ip=dhcp",
                                 "root=/dev/nfs", "umid=x")


def test_bare_command_line_file(tmp_path):
    f = tmp_path / "cmdline"
    f.write_text("# from /proc/cmdline\nroot=/dev/nfs ip=dhcp initrd=/i.img\n")
    spec = read_entry(f)
    assert (spec.format, spec.source, spec.initrd) == ("cmdline", f"{f}:2", True)


@pytest.mark.parametrize("content,needle", [
    (b"just some prose without any keyword\n", "not a boot entry"),
    (b"\x7fELF\0\0", "binary file"),
    (b"LABEL only\n  MENU LABEL x\n", "no LABEL with a kernel"),
])
def test_non_entries_are_user_errors(tmp_path, content, needle):
    f = tmp_path / "e"
    f.write_bytes(content)
    with pytest.raises(UserError, match=needle):
        read_entry(f)


def test_entries_kbuild_writes_read_back_exactly(repo_site):
    """Every loader file kbuild's bootcfg writes for the repo's profiles carries the
    profile's own kernel arguments, and the hypervisor when there is one."""
    from kbuild.boot import entry as bootentry
    from kbuild.boot import grub, grub_legacy, ipxe, pxelinux

    seen = 0
    for profile in repo_site.profiles.values():
        if profile.arch == "um":
            continue
        e = bootentry.make_entry(profile, "6.1.192", hypervisor_file="xen.gz" if profile.xen else None)
        for text in (pxelinux.menu_config([e], None), grub.menu_config([e], None),
                     grub_legacy.menu_config([e], None), ipxe.script(e)):
            spec = parse_entry(text, "x")
            assert spec.cmdline.args[:len(e.kernel_args)] == tuple(e.kernel_args)
            assert bool(spec.hypervisor) == bool(profile.xen)
            seen += 1
    assert seen >= 4


@given(st.text(alphabet=st.sampled_from(list("LABEL KERNEL APPEND menuentry { } #!ipxe title module "
                                               "kernel linux=/:-\n\t'\"")), max_size=300))
@settings(max_examples=300, deadline=None)
def test_entry_garbage_is_a_user_error_or_an_entry(text):
    try:
        spec = parse_entry(text, "g")
    except UserError as e:
        assert str(e).startswith("g")
    else:
        assert spec.source.startswith("g:")
