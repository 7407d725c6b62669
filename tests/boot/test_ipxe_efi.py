"""iPXE under UEFI: the ``ipxe-efi`` loader staged from Debian's ipxe package, the DHCP
branch that hands iPXE's own request (user class iPXE) the host's script, checked by the
real daemons (dnsmasq --test, dhcpd -t); iPXE scripts with ``[site] http_base``."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kbuild.boot import binaries, efi, server
from kbuild.errors import InfraError
from kbuild.publish import stage
from kbuild.site import layout
from kbuild.site.load import SiteError, load_site
from kbuild.site.model import Site
from tests.boot.test_hostfiles import HOSTS, SYNTHETIC_CONFIG, _base_toml
from tests.e2e import copy_site, fake_build

HTTP = 'http_base = "http://10.0.2.2:8080"'
NFSROOT_LOADERS = 'loaders = ["pxelinux", "grub-efi"]'


def _site(root: Path, loaders: str = '["pxelinux", "ipxe-efi"]', http: str | None = HTTP,
          extra: str = "") -> Site:
    text = _base_toml()
    assert NFSROOT_LOADERS in text
    text = text.replace(NFSROOT_LOADERS, f"loaders = {loaders}", 1)
    if http:
        text = text.replace("[site]\n", f"[site]\n{http}\n", 1)
    copy_site(root, text + extra + HOSTS, link=True)
    site = load_site(root / "kbuild.toml")
    fake_build(site, site.profiles["nfsroot"], SYNTHETIC_CONFIG)   # only nfsroot: no Xen fetch
    return site


def _files(site: Site) -> dict[str, stage.TreeFile]:
    return {f.relpath: f for f in stage.plan_tree(site).files}


def test_ipxe_efi_stages_debians_binaries_and_http_scripts(tmp_path):
    site = _site(tmp_path / "s")
    assert site.http_base == "http://10.0.2.2:8080/"          # trailing slash normalised
    files = _files(site)
    assert files["snponly.efi"].meta["origin"] == "/usr/lib/ipxe/snponly.efi"
    assert files["ipxe.efi"].meta["origin"] in ("/usr/lib/ipxe/ipxe.efi", "/boot/ipxe.efi")
    assert "undionly.kpxe" not in files and "bootx64.efi" not in files
    for rel in ("ipxe/nfsroot.ipxe", "ipxe/52-54-00-aa-00-01.ipxe"):
        text = files[rel].data.decode()
        assert "\nkernel http://10.0.2.2:8080/images/nfsroot/vmlinuz-6.1.192 console=ttyS0,115200 " \
               "ip=dhcp root=/dev/nfs" in text, text
    assert "chain ${target}.ipxe" in files["ipxe/default.ipxe"].data.decode()
    assert efi.boot_file(site.profiles["nfsroot"].loaders) == "snponly.efi"


def test_without_http_base_ipxe_scripts_fetch_over_tftp(tmp_path):
    files = _files(_site(tmp_path / "s", http=None))
    assert "\nkernel /images/nfsroot/vmlinuz-6.1.192 " in files["ipxe/nfsroot.ipxe"].data.decode()


def test_first_uefi_loader_listed_is_the_dhcp_boot_file():
    assert efi.boot_file(("pxelinux", "grub-efi", "ipxe-efi")) == "bootx64.efi"
    assert efi.boot_file(("ipxe-efi", "grub-efi")) == "snponly.efi"
    assert efi.boot_file(("pxelinux", "ipxe")) is None


def test_missing_ipxe_efi_file_is_named_and_nothing_is_published(tmp_path, monkeypatch):
    site = _site(tmp_path / "s")
    target = tmp_path / "published"
    stage.stage(site, target)
    before = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    monkeypatch.setitem(binaries._FILES, "snponly.efi", (("/usr/lib/ipxe/no-such-snponly.efi",), "ipxe"))
    (layout.build_dir(site, site.profiles["nfsroot"]) / "arch/x86/boot/bzImage").write_bytes(b"new")
    with pytest.raises(InfraError) as e:
        stage.stage(site, target)
    assert "snponly.efi not found" in e.value.message
    assert "/usr/lib/ipxe/no-such-snponly.efi" in e.value.message
    assert "ipxe" in (e.value.hint or "")
    assert {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()} == before


def _check(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True)


def _dnsmasq_test(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text(text)
    return _check(["dnsmasq", "--test", f"--conf-file={conf}"])


def _dhcpd_t(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    inc = tmp_path / "hosts.conf"
    inc.write_text(text)
    conf = tmp_path / "dhcpd.conf"
    conf.write_text(f'subnet 10.0.2.0 netmask 255.255.255.0 {{ }}\ninclude "{inc}";\n')
    return _check(["dhcpd", "-t", "-4", "-cf", str(conf)])


def test_dnsmasq_gives_uefi_snponly_then_ipxe_its_script(tmp_path):
    text = server.snippets(_site(tmp_path / "s")).files["dnsmasq-hosts.conf"]
    assert "dhcp-userclass=set:kb-ipxe,iPXE" in text
    assert "dhcp-boot=tag:kb-client1,tag:!kb-efi64,pxelinux.0,,10.0.2.2" in text
    assert "dhcp-boot=tag:kb-client1,tag:kb-efi64,tag:!kb-ipxe,snponly.efi,,10.0.2.2" in text
    assert ("dhcp-boot=tag:kb-client1,tag:kb-efi64,tag:kb-ipxe,ipxe/52-54-00-aa-00-01.ipxe,,10.0.2.2"
            in text)
    r = _dnsmasq_test(text, tmp_path)
    assert r.returncode == 0 and "syntax check OK" in r.stderr, r.stderr
    assert _dnsmasq_test(text.replace("dhcp-userclass=", "dhcp-userclas=", 1), tmp_path).returncode != 0


def test_dhcpd_gives_uefi_snponly_then_ipxe_its_script(tmp_path):
    text = server.snippets(_site(tmp_path / "s")).files["dhcpd-hosts.conf"]
    assert ('    if option pxe-system-type = 00:07 or option pxe-system-type = 00:09 {\n'
            '        if exists user-class and option user-class = "iPXE" {\n'
            '            filename "ipxe/52-54-00-aa-00-01.ipxe";\n'
            '        } else {\n'
            '            filename "snponly.efi";\n'
            '        }\n'
            '    } else {\n'
            '        filename "pxelinux.0";\n'
            '    }\n') in text, text
    r = _dhcpd_t(text, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _dhcpd_t(text.replace("user-class =", "user-clas =", 1), tmp_path).returncode != 0


def test_bios_ipxe_boot_file_also_chains_to_the_script(tmp_path):
    site = _site(tmp_path / "s", loaders='["ipxe"]', http=None)
    snip = server.snippets(site).files
    assert "dhcp-boot=tag:kb-client1,tag:!kb-ipxe,undionly.kpxe,,10.0.2.2" in snip["dnsmasq-hosts.conf"]
    assert ("dhcp-boot=tag:kb-client1,tag:kb-ipxe,ipxe/52-54-00-aa-00-01.ipxe,,10.0.2.2"
            in snip["dnsmasq-hosts.conf"])
    assert _dnsmasq_test(snip["dnsmasq-hosts.conf"], tmp_path).returncode == 0
    assert _dhcpd_t(snip["dhcpd-hosts.conf"], tmp_path).returncode == 0


def test_sites_without_ipxe_boot_files_or_http_base_keep_their_snippets(tmp_path):
    snip = server.snippets(_site(tmp_path / "s", loaders='["pxelinux", "grub-efi"]', http=None)).files
    assert sorted(snip) == ["dhcpd-hosts.conf", "dnsmasq-hosts.conf", "exports", "ganesha-exports.conf"]
    assert "ipxe" not in snip["dnsmasq-hosts.conf"] and "user-class" not in snip["dhcpd-hosts.conf"]


def test_ipxe_efi_is_refused_for_xen_and_before_grub_under_secure_boot(tmp_path):
    base = _base_toml()
    dom0_loaders = next(line for line in base.splitlines()
                        if line.startswith("loaders =") and '"grub2"' in line)   # the Xen profile's
    text = base.replace(dom0_loaders, 'loaders = ["pxelinux", "ipxe-efi"]', 1)
    copy_site(tmp_path / "a", text, link=True)
    with pytest.raises(SiteError) as e:
        load_site(tmp_path / "a/kbuild.toml")
    assert "iPXE's EFI build cannot start Xen" in str(e.value)
    sb = ('\n[profiles.nfsroot.secure_boot]\nkey = "keys/site.key"\ncert = "keys/site.crt"\n')
    text = _base_toml().replace(NFSROOT_LOADERS, 'loaders = ["ipxe-efi", "grub-efi"]', 1)
    cut = text.index("[profiles.nfsroot.nfsroot]")
    copy_site(tmp_path / "b", text[:cut] + sb + text[cut:], link=True)
    with pytest.raises(SiteError) as e:
        load_site(tmp_path / "b/kbuild.toml")
    assert "UEFI clients would get iPXE, which is not signed" in str(e.value)
