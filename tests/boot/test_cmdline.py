"""Kernel command lines, read the way Linux 6.1 reads them."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kbuild.boot.cmdline import (
    KernelCmdline,
    nfsroot_device_bytes,
    nfsroot_option_bytes,
    parse_ip,
    parse_nfsroot,
    split_args,
)


def test_split_args_keeps_quoted_spaces_and_stops_kernel_params_at_dashdash():
    args = split_args('  console=ttyS0  foo="a b c" "quoted flag" init=/init -- single x=1\n')
    assert args == ["console=ttyS0", 'foo="a b c"', '"quoted flag"', "init=/init", "--", "single", "x=1"]
    cmd = KernelCmdline.from_args(args)
    assert cmd.get("foo") == "a b c"
    assert cmd.init_args == ("single", "x=1")
    assert not cmd.has("x")            # after "--" it is init's, not the kernel's
    assert cmd.text.endswith("-- single x=1")


def test_last_value_wins_and_all_values_kept():
    cmd = KernelCmdline.parse("console=tty0 ip=off console=ttyS0,115200 ip=dhcp")
    assert cmd.get("ip") == "dhcp"
    assert cmd.all("console") == ["tty0", "ttyS0,115200"]
    assert cmd.get("missing") is None


@pytest.mark.parametrize("value,form,server,path,version,transport", [
    ("10.0.2.2:/srv/root,vers=4.2,tcp", "server-path", "10.0.2.2", "/srv/root", "4.2", "tcp"),
    ("/srv/root", "path", None, "/srv/root", "default", "default"),
    (",vers=3", "path", None, "", "3", "default"),
    ("10.0.0.1:/r,v3,proto=udp6", "server-path", "10.0.0.1", "/r", "3", "udp"),
    ("10.0.0.1:/r,vers=3,vers=4.1", "server-path", "10.0.0.1", "/r", "4.1", "default"),
    ("10.0.0.1", "server-path", "10.0.0.1", "", "default", "default"),
    ("nfs.example.org:/r", "tftpboot-name", None, "/tftpboot/nfs.example.org:/r", "default", "default"),
    ("10.0.2:/r", "bad-server", None, "10.0.2:/r", "default", "default"),
    ("300.1.1.1:/r", "bad-server", None, "300.1.1.1:/r", "default", "default"),
])
def test_parse_nfsroot_like_nfsroot_c(value, form, server, path, version, transport):
    arg = parse_nfsroot(value)
    assert (arg.form, arg.server, arg.path, arg.version, arg.transport) == (
        form, server, path, version, transport)


def test_nfsroot_buffers_are_measured_as_the_kernel_fills_them():
    arg = parse_nfsroot("10.0.2.2:/nfsroot,vers=4,tcp")
    # "vers=4,tcp,rsize=4096,wsize=4096" + ",vers=4,tcp" + ",nolock,addr=10.0.2.2"
    assert nfsroot_option_bytes(arg, "10.0.2.2") == 32 + 11 + 21
    assert nfsroot_device_bytes(arg, "10.0.2.2", None) == len("10.0.2.2:/nfsroot")
    default = parse_nfsroot("10.0.2.2")
    assert default.effective_path == "/tftpboot/%s"
    assert nfsroot_device_bytes(default, "10.0.2.2", "host1") == len("10.0.2.2:/tftpboot/host1")


@pytest.mark.parametrize("value,autoconf", [
    ("dhcp", "dhcp"), ("dhcp,1,abc", "dhcp"), ("bootp", "bootp"), ("rarp", "rarp"),
    ("both", "both"), ("on", "any"), ("any", "any"), ("", "off"), ("off", "off"), ("none", "off"),
    ("10.0.0.5:10.0.0.1:10.0.0.1:255.255.255.0:h1:eth0:off", "static"),
    ("0.0.0.0:::::eth0:", "any"),            # 0.0.0.0 means "no address": autoconfigure
    ("::::h1:eth0:dhcp", "dhcp"),
    ("::::h1:eth0:off", "off"),
    ("::::h1:eth0:nonsense", "off"),         # unknown protocol without an address: disabled
])
def test_parse_ip_autoconf(value, autoconf):
    assert parse_ip(value).autoconf == autoconf


def test_parse_ip_fields():
    ip = parse_ip("10.0.0.5:10.0.0.1:10.0.0.254:255.255.255.0:node7.example.org:eth1:off:1.1.1.1")
    assert (ip.client, ip.server, ip.gateway, ip.netmask) == (
        "10.0.0.5", "10.0.0.1", "10.0.0.254", "255.255.255.0")
    assert ip.hostname == "node7"            # the part after '.' is the NIS domain
    assert ip.device == "eth1"


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_any_text_splits_and_parses_without_raising(text):
    args = split_args(text)
    assert all(a and not any(ch in a for ch in " \t\n") or '"' in a for a in args)
    cmd = KernelCmdline.from_args(args)
    for _key, value in cmd.params():
        assert value is None or isinstance(value, str)
    parse_nfsroot(text)
    parse_ip(text)
