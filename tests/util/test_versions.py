"""Kernel versions (one parser for patch series, rules and verify) and Debian versions."""
from __future__ import annotations

import subprocess

import pytest

from kbuild.errors import UserError
from kbuild.util import versions as debversion
from kbuild.util.versions import kernel_version, parse_kernel_version, read_kernel_version


def test_kernel_versions_parse_like_uname():
    assert str(parse_kernel_version("6.1.0-13-amd64")) == "6.1.0"
    assert str(parse_kernel_version("v5.10")) == "5.10"
    assert str(parse_kernel_version("6.1.192")) == "6.1.192"
    assert parse_kernel_version("debian") is None
    assert parse_kernel_version(None) is None and parse_kernel_version("") is None


def test_kernel_version_parsing():
    assert str(kernel_version("6.1.0-13-amd64")) == "6.1.0"
    assert str(kernel_version("6.1")) == "6.1"
    with pytest.raises(UserError, match="cannot read a kernel version from 'linux'"):
        kernel_version("linux")


def test_a_source_tree_version_comes_from_its_makefile(tmp_path):
    (tmp_path / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 192\n"
                                       "EXTRAVERSION = -rc1\nNAME = x\n")
    assert read_kernel_version(tmp_path) == "6.1.192-rc1"
    (tmp_path / "Makefile").write_text("# not a kernel\n")
    with pytest.raises(UserError, match="no VERSION line"):
        read_kernel_version(tmp_path)
    with pytest.raises(UserError, match="not a kernel source tree"):
        read_kernel_version(tmp_path / "nowhere")


@pytest.mark.parametrize("a,b,want", [
    ("1.0-1", "1.0-2", -1), ("1.0~rc1-1", "1.0-1", -1), ("1:0.9", "2.0", 1), ("6.1.192-3", "6.1.192-10", -1),
    ("6.12.117-1~deb12u1", "6.12.117-1", -1), ("4.17.7+13-g24-0+deb12u1", "4.17.5+72-g01-1", 1),
    ("1.0a", "1.0+", -1), ("1.0", "1.0-0", 0)])
def test_debian_version_order_matches_dpkg(a, b, want):
    assert debversion.compare(a, b) == want
    r = subprocess.run(["dpkg", "--compare-versions", a, "lt" if want < 0 else "gt" if want > 0 else "eq", b])
    assert r.returncode == 0  # dpkg agrees


def test_upstream_part_and_range():
    assert debversion.upstream("6.1.192-3") == "6.1.192"
    assert debversion.upstream("4.17.7+13-g2445b30a44-0+deb12u1") == "4.17.7+13-g2445b30a44"
    assert debversion.in_range("6.12.117-1~deb12u1", "6.12.*")
    assert not debversion.in_range("6.12.117-1~deb12u1", "6.1.*")
    for bad in ("", "x1.0", "1.0 -1", "٦.١-1", "1" * 300):
        with pytest.raises(debversion.BadVersion):
            debversion.split(bad)
