"""The fast path for [[hosts]]: the same data, lines and errors as tomllib + KeyLines."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from kbuild.site import load as load_mod
from kbuild.site.load import SiteError, load_site
from kbuild.site.load_text import parse_site_text
from kbuild.site.reader import _ipv4_reference, ipv4
from kbuild.util.toml import KeyLines

HEAD = """\
[nfs]
server = "10.0.2.2"

[sources."debian-6.1"]
url = "file:///usr/src/linux-source-6.1.tar.xz"
sha256 = "4d415b3d364834fd818270e88813e90323bbfce4f519a0e6bd4940ddcd7df693"

[profiles.nfsroot]
source = "debian-6.1"
fragments = ["core"]

[profiles.nfsroot.nfsroot]
path = "/nfsroot"
"""

HOSTS = """\
[[hosts]]
name = "a1"
mac = "52:54:00:00:00:01"   # rack 1
ip = '10.0.0.1'
profile = "nfsroot"
extra = ["quiet", 'loglevel=3' , ]

# a comment between hosts
[[hosts]]
  name="b-2"
	profile = "nfsroot"
ip = "10.0.0.2"
console = []
extra = [ "ünïcode" ]

[[hosts]]
name = "c3"
profile = "nfsroot"
mac = "52:54:00:00:00:03"
"""


def _slow(text: str) -> tuple[dict, KeyLines]:
    return tomllib.loads(text), KeyLines(text)


def test_fast_path_gives_tomllibs_data_and_keylines_lines() -> None:
    text = HEAD + "\n" + HOSTS
    fast = parse_site_text(text)
    assert fast is not None
    data, lines = fast
    ref, ref_lines = _slow(text)
    assert data == ref
    for path in [("nfs",), ("nfs", "server"), ("profiles", "nfsroot"), ("profiles", "nfsroot", "nfsroot"),
                 ("sources", "debian-6.1", "sha256"), ("hosts",), ("hosts", 0), ("hosts", 1),
                 ("hosts", 2), ("hosts", 1, "ip"), ("hosts", 2, "mac"), ("hosts", 7)]:
        assert lines.line(path) == ref_lines.line(path), path


@pytest.mark.parametrize("hosts", [
    '[[hosts]]\nname = "a\\u0041"\n',               # an escape: tomllib decodes it
    '[[hosts]]\nname = """a"""\n',                   # a multi-line string
    '[[hosts]]\nname.first = "a"\n',                 # a dotted key
    '[[hosts]]\nname = "a"\nname = "b"\n',           # a repeated key (tomllib's error)
    '[[hosts]]\nname = "a"\n[site]\nlocked = true\n',  # a table after the hosts
    '[[hosts]] # first\nname = "a"\n',               # a header with a comment
    '[[hosts]]\r\nname = "a"\r\n',                   # CRLF
    '[[hosts]]\nname = 5\n',                         # not a string
    '[[hosts]]\nextra = [["nested"]]\n',             # nested arrays
    '[[hosts]]\nname = "a\x01"\n',                   # a control character
])
def test_anything_unusual_goes_through_tomllib(hosts: str) -> None:
    assert parse_site_text(HEAD + "\n" + hosts) is None


def test_no_hosts_or_hosts_in_the_head_go_through_tomllib() -> None:
    assert parse_site_text(HEAD) is None
    assert parse_site_text('hosts = []\n' + HEAD + '\n[[hosts]]\nname = "a"\n') is None


def _load_both(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    (tmp_path / "fragments").mkdir(exist_ok=True)
    (tmp_path / "fragments" / "core.config").write_text("CONFIG_NET=y\n")
    site = tmp_path / "kbuild.toml"
    site.write_text(text)
    out = []
    for fast in (True, False):
        if not fast:
            monkeypatch.setattr(load_mod, "parse_site_text", lambda text: None)
        try:
            s = load_site(site)
            out.append(repr((s.hosts, s.profiles, s.sources, s.nfs_server, s.tftp_root)))
        except SiteError as e:
            out.append(str(e))
    return out[0], out[1]


def test_the_site_is_the_same_either_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = _load_both(tmp_path, HEAD + "\n" + HOSTS, monkeypatch)
    assert "Host(name='b-2'" in fast and "line=23" in fast
    assert fast == slow


def test_errors_name_the_same_lines_either_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = HOSTS.replace('"52:54:00:00:00:03"', '"52:54:00:00:00"').replace('"10.0.0.2"', '"10.0.0.1"')
    bad += '\n[[hosts]]\nprofile = "nope"\nmac = "52:54:00:00:00:09"\n'
    fast, slow = _load_both(tmp_path, HEAD + "\n" + bad, monkeypatch)
    assert "kbuild.toml:33: error: mac = '52:54:00:00:00' is not a MAC address" in fast
    assert "kbuild.toml:26: error: duplicate ip '10.0.0.1': already used by the host at line 15" in fast
    assert "kbuild.toml:35: error: [hosts.3] is missing 'name'" in fast
    assert fast == slow


@pytest.mark.parametrize("text", ["10.0.0.1", "255.255.255.255", "0.0.0.0", "256.1.1.1", "01.2.3.4",
                                  "1.2.3", "1.2.3.4.5", "1.2.3.4\n", " 1.2.3.4", "١.2.3.4", "1..3.4",
                                  "", "a.b.c.d", "1.2.3.04", "199.249.200.0"])
def test_ipv4_agrees_with_ipaddress(text: str) -> None:
    assert ipv4(text) == _ipv4_reference(text)


def test_plain_hosts_checked_at_sight_give_the_same_site_and_errors(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """read_hosts' shortcut for plain host tables changes neither the hosts nor any error."""
    from kbuild.site import load_hosts

    hosts = HOSTS + """
[[hosts]]
name = "d4"
profile = "nfsroot"
mac = "52-54-00-00-00-0A"
extra = []
[[hosts]]
name = "e5"
profile = "nfsroot"
ip = ""
[[hosts]]
name = "a1"
profile = "nfsroot"
ip = "10.0.0.9"
[[hosts]]
name = "f6"
profile = "nfsroot"
[[hosts]]
name = "g7"
profile = "nfsroot"
mac = "52:54:00:00:00:01"
extra = "quiet"
"""
    text = HEAD + "\n" + hosts
    site = tmp_path / "kbuild.toml"
    (tmp_path / "fragments").mkdir()
    (tmp_path / "fragments" / "core.config").write_text("CONFIG_NET=y\n")
    good = HEAD + "\n" + HOSTS
    out = []
    for shortcut in (True, False):
        if not shortcut:
            monkeypatch.setattr(load_hosts, "_plain_host", lambda *a: None)
        site.write_text(good)
        hosts_repr = repr(load_site(site).hosts)
        site.write_text(text)
        with pytest.raises(SiteError) as exc:
            load_site(site)
        out.append((hosts_repr, str(exc.value)))
    assert out[0] == out[1]
    assert "mac='52:54:00:00:00:01'" in out[0][0]
    for msg in ("ip = '' is not an IPv4 address", "duplicate name 'a1'", "has neither mac nor ip",
                "extra must be a list of strings", "duplicate mac '52:54:00:00:00:01'"):
        assert msg in out[0][1], msg
