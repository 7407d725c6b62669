"""kbuild.toml loading: every error carries kbuild.toml:LINE and a fix."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kbuild.site.load import SiteError, load_site, parse_site

GOOD = """\
[site]
boot_server = "10.0.2.2"

[nfs]
server = "10.0.2.2"

[sources."debian-6.1"]
url = "file:///usr/src/linux-source-6.1.tar.xz"
sha256 = "4d415b3d364834fd818270e88813e90323bbfce4f519a0e6bd4940ddcd7df693"

[profiles.nfsroot]
source = "debian-6.1"
arch = "x86_64"
fragments = ["core"]
console = ["ttyS0,115200"]
cmdline = ["rw"]

[profiles.nfsroot.nfsroot]
path = "/nfsroot"
version = "4"
"""


def _site(tmp_path: Path, text: str):
    (tmp_path / "fragments").mkdir(exist_ok=True)
    (tmp_path / "fragments" / "core.config").write_text("CONFIG_NET=y\n")
    p = tmp_path / "kbuild.toml"
    p.write_text(textwrap.dedent(text))
    return load_site(p)


def _errors(tmp_path: Path, text: str) -> str:
    with pytest.raises(SiteError) as exc:
        _site(tmp_path, text)
    return str(exc.value)


def test_good_site_loads(tmp_path):
    s = _site(tmp_path, GOOD)
    p = s.profile("nfsroot")
    assert p.image == "bzImage"
    assert p.kernel_args() == ["console=ttyS0,115200", "ip=dhcp", "root=/dev/nfs",
                               "nfsroot=10.0.2.2:/nfsroot,vers=4,tcp", "rw"]
    assert s.tftp_root == tmp_path.resolve() / "artifacts" / "tftpboot"


def test_repo_site_is_valid(repo_site):
    assert "nfsroot" in repo_site.profiles
    nfs = repo_site.profile("nfsroot").nfsroot
    assert "vers=" in nfs.argument()


def test_typo_key_is_an_error_with_line_and_suggestion(tmp_path):
    text = GOOD.replace('arch = "x86_64"', 'arch = "x86_64"\nfragmnets = ["x"]')
    msg = _errors(tmp_path, text)
    assert "kbuild.toml:14: error: unknown key 'fragmnets' in [profiles.nfsroot]" in msg
    assert "did you mean 'fragments'?" in msg


def test_bad_values_are_reported_together(tmp_path):
    text = (GOOD.replace('sha256 = "4d41', 'sha256 = "zz41')
            .replace('version = "4"', 'version = "2"')
            .replace('source = "debian-6.1"', 'source = "nope"'))
    msg = _errors(tmp_path, text)
    assert "kbuild.toml:9: error: sha256 of 'debian-6.1' is not 64 hex digits" in msg
    assert "kbuild.toml:12: error: profile 'nfsroot' uses unknown source 'nope'" in msg
    assert "kbuild.toml:20: error: version = '2' is not one of" in msg


def test_invalid_toml_names_the_line(tmp_path):
    msg = _errors(tmp_path, GOOD.replace('arch = "x86_64"', 'arch = x86_64'))
    assert msg.startswith("kbuild.toml:13: error: invalid TOML")


def test_unquoted_dotted_name_gets_a_hint(tmp_path):
    msg = _errors(tmp_path, GOOD.replace('[sources."debian-6.1"]', "[sources.debian-6.1]"))
    assert 'quote the name: [sources."debian-6.1"]' in msg


def test_missing_fragment_and_udp_option(tmp_path):
    text = GOOD.replace('fragments = ["core"]', 'fragments = ["core", "nic/none"]').replace(
        'version = "4"', 'version = "4"\noptions = ["udp"]')
    msg = _errors(tmp_path, text)
    assert "kbuild.toml:14: error: fragment 'nic/none' (item 2) not found" in msg
    assert "NFS over UDP" in msg


def test_hosts_validation(tmp_path):
    text = GOOD + textwrap.dedent("""
        [[hosts]]
        name = "a"
        mac = "52:54:00:12:34:56"
        ip = "10.0.0.5"
        profile = "nfsroot"

        [[hosts]]
        name = "b"
        mac = "52-54-00-12-34-56"
        ip = "10.0.0.300"
        profile = "ghost"

        [[hosts]]
        name = "a"
        profile = "nfsroot"
        """)
    msg = _errors(tmp_path, text)
    assert "duplicate mac '52:54:00:12:34:56'" in msg
    assert "ip = '10.0.0.300' is not an IPv4 address" in msg
    assert "unknown profile 'ghost'" in msg
    assert "duplicate name 'a'" in msg
    assert "host 'a' has neither mac nor ip" in msg


def test_nfs_server_must_be_ipv4(tmp_path):
    msg = _errors(tmp_path, GOOD.replace('server = "10.0.2.2"', 'server = "nfs.example.com"'))
    assert "kbuild.toml:5: error: server = 'nfs.example.com' is not an IPv4 address" in msg


def test_parse_site_never_raises_other_errors(tmp_path):
    for garbage in ["[[[", "a = [1,", "profiles = 3", "[profiles]\nx = 1\n", "[sources.x]\nurl = 1\n"]:
        with pytest.raises(SiteError):
            parse_site(garbage, tmp_path / "kbuild.toml")


def test_host_nic_must_be_built_into_its_profile(tmp_path):
    text = GOOD.replace('fragments = ["core"]', 'fragments = ["core"]\nnics = ["e1000"]')
    text += textwrap.dedent("""
        [[hosts]]
        name = "old-pc"
        mac = "52:54:00:12:34:99"
        profile = "nfsroot"
        nic = "r8169"
        """)
    msg = _errors(tmp_path, text)
    assert "host 'old-pc' has NIC 'r8169', but profile 'nfsroot' builds in only e1000" in msg
    assert msg.startswith("kbuild.toml:27:")  # the nic line


def test_kbuild_site_env_names_the_site_for_the_command(tmp_path, monkeypatch, capsys):
    from kbuild import cli

    _site(tmp_path, GOOD)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("KBUILD_SITE", str(tmp_path / "kbuild.toml"))
    assert cli.main(["check-site"]) == 0
    assert f"{tmp_path.resolve() / 'kbuild.toml'}: ok" in capsys.readouterr().out
    other = tmp_path / "other"
    other.mkdir()
    _site(other, GOOD.replace('boot_server = "10.0.2.2"', 'boot_server = "10.0.2.9"'))
    assert cli.main(["check-site", "--site", str(other / "kbuild.toml")]) == 0  # --site wins
    assert f"{other / 'kbuild.toml'}: ok" in capsys.readouterr().out
    monkeypatch.setenv("KBUILD_SITE", str(tmp_path / "missing.toml"))
    assert cli.main(["check-site"]) == 2
    assert "KBUILD_SITE names" in capsys.readouterr().err


def test_deb_source_keys_are_checked(tmp_path):
    text = GOOD.replace('url = "file:///usr/src/linux-source-6.1.tar.xz"',
                        'package = "linux-source-6.1"\nupstream = "6.1.*"')
    err = _errors(tmp_path, text)
    assert "sha256 does not apply to a deb source" in err
    assert "deb sources need an [apt] table" in err
    head = '[sources."debian-6.1"]'
    err = _errors(tmp_path, GOOD.replace(head, head + '\nupstream = "6.*"'))
    assert "upstream belongs to a deb source" in err


