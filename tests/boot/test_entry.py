"""Boot entry writers: pxelinux, GRUB 2, legacy GRUB, iPXE, UML launch scripts."""
from __future__ import annotations

import gzip
import struct
import subprocess

import pytest

from kbuild.boot import grub, grub_legacy, ipxe, multiboot, pxelinux, uml
from kbuild.boot.entry import BootEntry, make_entry
from kbuild.errors import UserError
from kbuild.site.model import NfsRoot, Profile, UmlSpec, XenSpec

NFS = NfsRoot("10.0.2.2", "/nfsroot", "4", ("tcp",))


def _profile(**kw) -> Profile:
    base = dict(name="nfsroot", source="s", arch="x86_64", base="tinyconfig", fragments=(),
                nfsroot=NFS, console=("ttyS0,115200",), cmdline=("rw", "init=/init"))
    base.update(kw)
    return Profile(**base)


def _dom0() -> BootEntry:
    p = _profile(name="dom0", console=("hvc0",),
                 xen=XenSpec("xen", ("dom0_mem=256M,max:256M", "console=com1")))
    return make_entry(p, "6.1.192", hypervisor_file="xen-4.17-amd64.gz", multiboot2=True)


def test_pxelinux_menu_pins_nfs_version_and_ipappend():
    e = make_entry(_profile(), "6.1.192")
    text = pxelinux.menu_config([e], "nfsroot")
    assert "KERNEL images/nfsroot/vmlinuz-6.1.192" in text
    assert ("APPEND console=ttyS0,115200 ip=dhcp root=/dev/nfs "
            "nfsroot=10.0.2.2:/nfsroot,vers=4,tcp rw init=/init") in text
    assert "IPAPPEND 2" in text and "ONTIMEOUT nfsroot" in text and "UI menu.c32" in text
    assert pxelinux.needed_files([e], menu=True) == ("pxelinux.0", "ldlinux.c32", "menu.c32", "libutil.c32")


def test_pxelinux_xen_uses_mboot_with_separators():
    text = pxelinux.label_block(_dom0())
    assert "KERNEL mboot.c32" in text
    assert ("APPEND images/dom0/xen-4.17-amd64.gz dom0_mem=256M,max:256M console=com1 --- "
            "images/dom0/vmlinuz-6.1.192 console=hvc0 ip=dhcp root=/dev/nfs") in text
    assert "IPAPPEND" not in text  # mboot.c32 would hand BOOTIF to Xen, not Linux
    assert "mboot.c32" in pxelinux.needed_files([_dom0()], menu=False)


def test_grub2_multiboot2_or_multiboot_by_header():
    e = _dom0()
    text = grub.menuentry(e)
    assert "multiboot2 /images/dom0/xen-4.17-amd64.gz placeholder dom0_mem=256M,max:256M console=com1" in text
    assert "module2 /images/dom0/vmlinuz-6.1.192 placeholder console=hvc0" in text
    old = BootEntry(**{**e.__dict__, "multiboot2": False})
    assert "multiboot /images" in grub.menuentry(old) and "module /images" in grub.menuentry(old)
    assert "set default=nfsroot" in grub.menu_config([make_entry(_profile(), "6.1.192")], "nfsroot")


def test_grub_quoting():
    assert grub.quote_arg("a;b") == "'a;b'"
    assert grub.quote_arg("it's") == "'it'\\''s'"
    with pytest.raises(UserError):
        grub.quote_arg("a\nb")


def test_legacy_grub_kernel_module_lines():
    text = grub_legacy.menu_config([make_entry(_profile(), "6.1.192"), _dom0()], "dom0")
    assert "default 1" in text
    assert "kernel /images/dom0/xen-4.17-amd64.gz dom0_mem=256M,max:256M console=com1" in text
    assert "module /images/dom0/vmlinuz-6.1.192 console=hvc0 ip=dhcp" in text


def test_ipxe_scripts_and_the_512_byte_multiboot_limit():
    e = _dom0()
    s = ipxe.script(e, "images/dom0/xen-4.17-amd64", "tftp://10.0.2.2")
    assert s.startswith("#!ipxe\n")
    assert "kernel /images/dom0/xen-4.17-amd64 dom0_mem=256M,max:256M console=com1" in s
    assert "module /images/dom0/vmlinuz-6.1.192 console=hvc0" in s and s.rstrip().endswith("boot")
    long_args = e.kernel_args + tuple(f"x{i}=" + "y" * 20 for i in range(20))
    with pytest.raises(UserError, match="iPXE allows 512"):
        ipxe.script(BootEntry(**{**e.__dict__, "kernel_args": long_args}), None, "tftp://10.0.2.2")
    menu = ipxe.menu_script([e], "dom0")
    assert "choose --default dom0" in menu and "chain ${target}.ipxe" in menu


def test_uml_launch_script_runs_in_sh(tmp_path):
    p = _profile(name="uml", arch="um", console=("tty0",),
                 nfsroot=NfsRoot("10.0.3.1", "/nfsroot", "4", ("tcp",)), uml=UmlSpec())
    script = uml.launch_script(p, "images/uml/linux-6.1.192")
    args = uml.command_args(p)
    assert "vec0:transport=tap,ifname=kbtap0,mac=52:54:00:12:34:56,gro=1" in args
    assert "nfsroot=10.0.3.1:/nfsroot,vers=4,tcp" in args and "mem=256M" in args
    # run the script with a fake binary that prints its argv: the command line survives sh
    (tmp_path / "images/uml").mkdir(parents=True)
    fake = tmp_path / "images/uml/linux-6.1.192"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    fake.chmod(0o755)
    (tmp_path / "uml").mkdir()
    sh = tmp_path / "uml/uml.sh"
    sh.write_text(script)
    out = subprocess.run(["sh", str(sh), "extra=1"], capture_output=True, text=True,
                         env={"UML_DIR": str(tmp_path / "u"), "PATH": "/usr/bin:/bin"}).stdout.split("\n")
    assert out[: len(args)] == args
    assert out[len(args):len(args) + 3] == [f"uml_dir={tmp_path / 'u'}", "umid=uml", "extra=1"]
    assert uml.network_args("tuntap", "t0", "52:54:00:00:00:01") == (
        ["eth0=tuntap,t0,52:54:00:00:00:01"], "eth0")


def test_multiboot_detection(tmp_path):
    mb1 = struct.pack("<III", multiboot.MB1_MAGIC, 0, (-multiboot.MB1_MAGIC) & 0xFFFFFFFF)
    img = tmp_path / "mb1.gz"
    img.write_bytes(gzip.compress(b"\0" * 64 + mb1 + b"\0" * 100))
    assert multiboot.inspect(img) == multiboot.MultibootInfo(True, False, True)
    plain = tmp_path / "none"
    plain.write_bytes(b"\0" * 4096)
    assert multiboot.inspect(plain) == multiboot.MultibootInfo(False, False, False)


def test_real_xen_has_both_headers(work_site):
    """Debian's Xen, as the site locks it (fetched from the signed index, not installed)."""
    from kbuild.source import kinds as pipeline

    site = work_site.site
    info = multiboot.inspect(pipeline.fetch_source(site, site.sources["xen-4.17"]))
    assert info.multiboot1 and info.multiboot2 and info.compressed
