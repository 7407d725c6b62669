"""UEFI staging and DHCP: the loader files from Debian's packages, grub.cfg's per-host
lookup, and the option-93 branches checked by the real daemons (dnsmasq --test, dhcpd -t)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kbuild.boot import binaries, efi, grub, lookup, server
from kbuild.errors import InfraError
from kbuild.publish import stage
from kbuild.site import layout
from tests.boot.test_hostfiles import SYNTHETIC_CONFIG, _hosts_site


@pytest.fixture
def esite(tmp_path):
    return _hosts_site(tmp_path / "site", SYNTHETIC_CONFIG)


def test_efi_loaders_come_from_debian_packages():
    shim = binaries.locate("bootx64.efi")
    grubx = binaries.locate("grubx64.efi")
    assert shim == Path("/usr/lib/shim/shimx64.efi.signed")
    assert grubx.name == "grubnetx64.efi.signed"
    for name in efi.GRUB_EFI_FILES + efi.IPXE_EFI_FILES:
        assert binaries.locate(name).read_bytes()[:2] == b"MZ", name


def test_stage_puts_shim_grub_and_mokmanager_beside_each_other(esite):
    plan = stage.plan_tree(esite)
    by_rel = {f.relpath: f for f in plan.files}
    for name in ("bootx64.efi", "grubx64.efi", "mmx64.efi"):
        assert name in by_rel, name
    assert by_rel["bootx64.efi"].meta["origin"] == "/usr/lib/shim/shimx64.efi.signed"
    cfg = by_rel["grub/grub.cfg"].data.decode()
    assert 'configfile "$prefix/grub.cfg-01-$kb_m1' in cfg
    assert "--id nfsroot" in cfg
    # the host's file has the name the lookup computes (and GRUB's BIOS image reads)
    assert "grub/grub.cfg-01-52-54-00-aa-00-01" in by_rel


def test_missing_loader_file_is_named_and_nothing_is_published(esite, monkeypatch):
    target = esite.root / "published"
    stage.stage(esite, target)
    before = sorted(p.relative_to(target) for p in target.rglob("*"))
    monkeypatch.setitem(binaries._FILES, "grubx64.efi",
                        (("/usr/lib/grub/x86_64-efi-signed/no-such-grubnetx64.efi.signed",),
                         "grub-efi-amd64-signed"))
    (layout.build_dir(esite, esite.profiles["nfsroot"]) / "arch/x86/boot/bzImage").write_bytes(b"new")
    with pytest.raises(InfraError) as e:
        stage.stage(esite, target)
    assert "grubx64.efi not found" in e.value.message
    assert "no-such-grubnetx64.efi.signed" in e.value.message
    assert "grub-efi-amd64-signed" in (e.value.hint or "")
    assert sorted(p.relative_to(target) for p in target.rglob("*")) == before


def test_grub_efi_lookup_order_matches_hostfile_names():
    assert lookup.grub_efi_lookup_order("52:54:00:AA:00:01", "10.0.2.21") == [
        "grub.cfg-01-52-54-00-aa-00-01", "grub.cfg-0A000215", "grub.cfg"]
    # the hex table in grub.cfg gives the same digits as lookup.hex_ip
    text = grub.efi_host_lookup()
    table = dict(pair.split("=") for pair in text.split("set kb_hex=':")[1].split(":'")[0].split(":"))
    assert "".join(table[o] for o in "10.0.2.21".split(".")) == lookup.hex_ip("10.0.2.21")
    assert len(table) == 256 and table["255"] == "FF"


def test_platform_only_entries_are_wrapped():
    from kbuild.boot.entry import BootEntry
    bios_only = BootEntry(label="dom0", title="dom0", arch="x86_64", kernel="images/dom0/vmlinuz",
                          kernel_args=("x",), hypervisor="images/dom0/xen.gz", multiboot2=True,
                          profile="dom0")
    both = BootEntry(label="nfsroot", title="nfsroot", arch="x86_64", kernel="images/n/vmlinuz",
                     kernel_args=("y",), profile="nfsroot")
    entries, platform_of = efi.grub_menu_entries([bios_only, both], [both])
    assert platform_of == {"dom0": "pc"}
    cfg = grub.menu_config(entries, "nfsroot", efi_lookup=True, platform_of=platform_of)
    assert 'if [ "$grub_platform" = pc ]; then\n    menuentry dom0' in cfg
    assert "\nmenuentry nfsroot --id nfsroot {" in cfg


def _daemon_check(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True)


def test_dnsmasq_snippet_branches_on_option_93_and_passes_dnsmasq_test(esite, tmp_path):
    text = server.snippets(esite).files["dnsmasq-hosts.conf"]
    assert "dhcp-match=set:kb-efi64,option:client-arch,7" in text
    assert "dhcp-match=set:kb-efi64,option:client-arch,9" in text
    assert "dhcp-boot=tag:kb-client1,tag:kb-efi64,bootx64.efi,,10.0.2.2" in text
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text(text)
    r = _daemon_check(["dnsmasq", "--test", f"--conf-file={conf}"])
    assert r.returncode == 0 and "syntax check OK" in r.stderr, r.stderr
    # the check is real: a broken line fails it
    conf.write_text(text.replace("dhcp-match=", "dhcp-matchh=", 1))
    assert _daemon_check(["dnsmasq", "--test", f"--conf-file={conf}"]).returncode != 0


def _dhcpd_t(snippet: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    inc = tmp_path / "hosts.conf"
    inc.write_text(snippet)
    conf = tmp_path / "dhcpd.conf"
    conf.write_text(f'subnet 10.0.2.0 netmask 255.255.255.0 {{ }}\ninclude "{inc}";\n')
    return _daemon_check(["dhcpd", "-t", "-4", "-cf", str(conf)])


def test_dhcpd_snippet_branches_on_option_93_and_passes_dhcpd_t(esite, tmp_path):
    text = server.snippets(esite).files["dhcpd-hosts.conf"]
    assert 'if option pxe-system-type = 00:07 or option pxe-system-type = 00:09 {' in text
    assert '        filename "bootx64.efi";\n    } else {\n        filename "pxelinux.0";' in text
    r = _dhcpd_t(text, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _dhcpd_t(text.replace("filename", "filenme", 1), tmp_path).returncode != 0


def test_bios_only_snippets_pass_both_daemons(tmp_path):
    from tests.boot.test_hostfiles import HOSTS, _base_toml
    from tests.e2e import copy_site

    toml = _base_toml().replace('loaders = ["pxelinux", "grub-efi"]', 'loaders = ["pxelinux"]')
    toml = toml.replace(', "grub-efi-unsigned"]', "]") + HOSTS     # dom0's UEFI loader
    root = copy_site(tmp_path / "bios", toml, link=True)
    from kbuild.site.load import load_site

    files = server.snippets(load_site(root / "kbuild.toml")).files
    assert "kb-efi64" not in files["dnsmasq-hosts.conf"] + files["dhcpd-hosts.conf"]
    assert "dhcp-boot=tag:kb-client1,pxelinux.0,,10.0.2.2" in files["dnsmasq-hosts.conf"]
    conf = tmp_path / "d.conf"
    conf.write_text(files["dnsmasq-hosts.conf"])
    assert _daemon_check(["dnsmasq", "--test", f"--conf-file={conf}"]).returncode == 0
    assert _dhcpd_t(files["dhcpd-hosts.conf"], tmp_path).returncode == 0




def test_explain_boot_uefi_replays_the_grub_cfg_lookup(esite):
    from kbuild.publish import explain

    target = esite.root / "published"
    stage.stage(esite, target)
    exp = explain.explain(target, "52:54:00:aa:00:01", "10.0.2.21", firmware="uefi")
    assert exp.chain == ["bootx64.efi", "grubx64.efi"]
    assert exp.tried == [("grub.cfg-01-52-54-00-aa-00-01", True)]
    assert exp.config_file == "grub/grub.cfg-01-52-54-00-aa-00-01"
    assert (exp.label or "").startswith("client1 (nfsroot)")
    assert exp.kernel and exp.kernel.endswith("images/nfsroot/vmlinuz-6.1.192")
    assert exp.provenance["kernel"]["profile"] == "nfsroot"
    # an unknown client falls through both names to the menu's default
    other = explain.explain(target, "52:54:00:aa:00:99", "10.0.2.99", firmware="uefi")
    assert other.tried == [("grub.cfg-01-52-54-00-aa-00-99", False), ("grub.cfg-0A000263", False),
                           ("grub.cfg", True)]
    assert (other.label or "").startswith("generic x86_64 diskless client")
    # the BIOS replay of the same client is PXELINUX's
    bios = explain.explain(target, "52:54:00:aa:00:01", None)
    assert bios.config_file == "pxelinux.cfg/01-52-54-00-aa-00-01" and bios.chain == ["pxelinux.0"]


def test_explain_boot_command_firmware_flag(esite):
    import subprocess

    from tests.e2e import BIN, command_env

    target = esite.root / "published"
    stage.stage(esite, target)
    r = subprocess.run([str(BIN / "kbuild"), "explain-boot", "--site", str(esite.path), "--tree",
                        str(target), "--mac", "52:54:00:aa:00:99", "--firmware", "uefi"],
                       capture_output=True, text=True, env=command_env())
    assert "firmware: uefi: DHCP boot file bootx64.efi → grubx64.efi" in r.stdout, r.stdout + r.stderr
    assert "no     grub/grub.cfg-01-52-54-00-aa-00-99" in r.stdout
    assert "found  grub/grub.cfg" in r.stdout and "Traceback" not in r.stderr
    bad = subprocess.run([str(BIN / "kbuild"), "explain-boot", "--site", str(esite.path), "--tree",
                          str(esite.root), "--mac", "52:54:00:aa:00:99", "--firmware", "uefi"],
                         capture_output=True, text=True, env=command_env())
    assert bad.returncode == 2 and "no UEFI network boot published here" in bad.stderr
