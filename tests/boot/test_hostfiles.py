"""Hosts: per-host entries, publish/remove/rollback, explain-boot, server snippets."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from kbuild.boot import server
from kbuild.publish import apply as publish
from kbuild.publish import explain, stage
from kbuild.site import layout
from kbuild.site.load import load_site
from kbuild.site.model import Site
from tests.e2e import BIN, REPO, command_env, copy_site, fake_build

# a .config that verify fails (no NFS root): staging, publishing and explaining a host
# do not depend on what it says; test_explain_boot_command also uses a real one
SYNTHETIC_CONFIG = "CONFIG_NET=y\n"

HOSTS = """
[[hosts]]
name = "client1"
mac = "52:54:00:aa:00:01"
ip = "10.0.2.21"
profile = "nfsroot"
nic = "e1000"

[[hosts]]
name = "xenhost1"
ip = "10.0.2.22"
profile = "dom0"
nfs_path = "/srv/nfsroot/xenhost1"

[[hosts]]
name = "uml1"
ip = "10.0.3.2"
profile = "uml"
"""

UML_PROFILE = """
[profiles.uml]
description = "UML test profile"
source = "debian-6.1"
arch = "um"
fragments = ["core", "net", "ip-pnp", "nfsroot", "uml"]
nics = ["uml-vector"]
console = ["tty0"]
cmdline = ["rw", "init=/init"]
[profiles.uml.nfsroot]
server = "10.0.3.1"
path = "/nfsroot"
[profiles.uml.uml]
mem = "128M"
"""


def _base_toml() -> str:
    text = (REPO / "kbuild.toml").read_text()
    # the repo's uml profile (if any) needs the real patch series; use a plain one here
    cut = text.find("[profiles.uml]")
    return (text[:cut] if cut >= 0 else text) + UML_PROFILE


def _hosts_site(root: Path, config_text: str) -> Site:
    """A site with three hosts whose every profile is "built" (a stand-in image and
    ``config_text`` as its .config), without compiling anything."""
    copy_site(root, _base_toml() + HOSTS, link=True)
    site = load_site(root / "kbuild.toml")
    for p in site.profiles.values():
        fake_build(site, p, config_text)
    return site


@pytest.fixture
def hsite(tmp_path):
    return _hosts_site(tmp_path / "site", SYNTHETIC_CONFIG)


def _tree_bytes(tree: Path) -> dict[str, bytes]:
    return {str(p.relative_to(tree)): p.read_bytes() for p in sorted(tree.rglob("*"))
            if p.is_file() and ".kbuild" not in p.parts}


def test_per_host_files_all_loaders(hsite):
    target = hsite.tftp_root
    stage.stage(hsite, target)
    cfg = target / "pxelinux.cfg"
    # client1 has a MAC: PXELINUX finds 01-<mac> first, so no hex-IP file (policy: hexip_files)
    assert (cfg / "01-52-54-00-aa-00-01").is_file() and not (cfg / "0A000215").exists()
    # xenhost1 has only an IP: the hex-IP files
    assert (cfg / "0A000216").is_file()
    xen = (cfg / "0A000216").read_text()
    assert "KERNEL mboot.c32" in xen and "nfsroot=10.0.2.2:/srv/nfsroot/xenhost1,vers=4,tcp" in xen
    assert (target / "grub/grub.cfg-0A000216").is_file()
    assert (target / "grub/xenhost1.conf").is_file()
    assert not list((target / "ipxe").glob("*aa-00-02*"))   # iPXE scripts are per MAC
    assert not (target / "grub/client1.conf").exists()       # nfsroot uses pxelinux only
    uml = (target / "uml/uml1.sh").read_text()
    assert "mem=128M" in uml and "nfsroot=10.0.3.1:/nfsroot,vers=4,tcp" in uml
    assert (target / "images/dom0/xen-4.17-amd64.gz").is_file()
    assert (target / "images/dom0/xen-4.17-amd64").is_file()  # unzipped, for iPXE
    # the menu still offers every profile
    default = (cfg / "default").read_text()
    assert "LABEL nfsroot" in default and "LABEL dom0" in default


def test_hexip_files_always(hsite):
    text = hsite.path.read_text().replace("[site]\n", '[site]\nhexip_files = "always"\n')
    hsite.path.write_text(text)
    site = load_site(hsite.path)
    stage.stage(site, site.tftp_root)
    cfg = site.tftp_root / "pxelinux.cfg"
    assert (cfg / "01-52-54-00-aa-00-01").read_text() == (cfg / "0A000215").read_text()


def test_explain_boot_follows_pxelinux_lookup_order(hsite):
    target = hsite.tftp_root
    stage.stage(hsite, target)
    by_mac = explain.explain(target, "52:54:00:aa:00:01", "10.0.2.21")
    assert by_mac.config_file == "pxelinux.cfg/01-52-54-00-aa-00-01"
    assert by_mac.kernel == "images/nfsroot/vmlinuz-6.1.192"
    assert by_mac.provenance["kernel"]["profile"] == "nfsroot"
    by_ip = explain.explain(target, "52:54:00:ff:ff:ff", "10.0.2.22")
    assert [n for n, _ in by_ip.tried] == ["01-52-54-00-ff-ff-ff", "0A000216"]
    assert by_ip.hypervisor == "images/dom0/xen-4.17-amd64.gz"
    assert by_ip.kernel == "images/dom0/vmlinuz-6.1.192"
    assert "console=hvc0" in by_ip.kernel_args
    unknown = explain.explain(target, "52:54:00:ff:ff:ff", "192.168.9.9")
    assert unknown.config_file == "pxelinux.cfg/default"
    assert [n for n, _ in unknown.tried][:10] == [
        "01-52-54-00-ff-ff-ff", "C0A80909", "C0A8090", "C0A809", "C0A80", "C0A8", "C0A", "C0", "C",
        "default"]
    assert "BOOTIF=01-52-54-00-ff-ff-ff" in unknown.kernel_args  # IPAPPEND 2


@pytest.mark.parametrize("config", ["synthetic", pytest.param("profile", marks=pytest.mark.realtree)])
def test_explain_boot_command(request, tmp_path, config):
    """The verdict comes from the published kernel's config: the synthetic one (no NFS
    root) will not boot, exit 1; the nfsroot profile's real one (`doit config:nfsroot`,
    via the nfsroot_config fixture) boots client1 (e1000), exit 0."""
    text = (SYNTHETIC_CONFIG if config == "synthetic"
            else request.getfixturevalue("nfsroot_config").read_text())
    hsite = _hosts_site(tmp_path / "site", text)
    stage.stage(hsite, hsite.tftp_root)
    r = subprocess.run([str(BIN / "kbuild"), "explain-boot", "--site", str(hsite.path),
                        "--mac", "52:54:00:aa:00:01", "--ip", "10.0.2.21", "--json"],
                       env=command_env(), capture_output=True, text=True)
    doc = json.loads(r.stdout)
    assert doc["config_file"] == "pxelinux.cfg/01-52-54-00-aa-00-01"
    assert doc["provenance"]["kernel"]["kernel_release"] == "6.1.192"
    assert doc["verdict"] is not None
    assert r.returncode == (1 if config == "synthetic" else 0), r.stdout + r.stderr


def test_removed_host_disappears_and_rollback_restores(hsite):
    target = hsite.tftp_root
    stage.stage(hsite, target)
    foreign = target / "site-notes.txt"
    foreign.write_text("not kbuild's\n")
    before = _tree_bytes(target)
    # drop xenhost1 and republish
    text = hsite.path.read_text()
    start = text.index('[[hosts]]\nname = "xenhost1"')
    end = text.index("[[hosts]]", start + 5)
    hsite.path.write_text(text[:start] + text[end:])
    stage.stage(load_site(hsite.path), target)
    after = _tree_bytes(target)
    gone = set(before) - set(after)
    assert gone == {"pxelinux.cfg/0A000216", "grub/grub.cfg-0A000216", "grub/xenhost1.conf"}
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {"kbuild-manifest.json"}
    assert foreign.read_text() == "not kbuild's\n"
    publish.rollback(target)
    restored = _tree_bytes(target)
    assert {k: v for k, v in restored.items() if k != "kbuild-manifest.json"} == \
           {k: v for k, v in before.items() if k != "kbuild-manifest.json"}


def test_host_whose_profile_is_not_built_gets_no_files(hsite):
    shutil.rmtree(layout.build_dir(hsite, hsite.profiles["dom0"]))
    plan = stage.plan_tree(hsite)
    assert any("xenhost1" in w and "not built" in w for w in plan.warnings)
    assert not any("0A000216" in f.relpath or "xenhost1" in f.relpath for f in plan.files)


def test_server_snippets_and_lints(hsite):
    snip = server.snippets(hsite)
    exports = snip.files["exports"]
    assert "/nfsroot 10.0.2.21(rw,no_root_squash,no_subtree_check,sync) 10.0.3.2(" in exports
    assert "/srv/nfsroot/xenhost1 10.0.2.22(rw" in exports
    assert "*" not in exports.replace("# ", "")
    dns = snip.files["dnsmasq-hosts.conf"]
    assert "dhcp-host=52:54:00:aa:00:01,set:kb-client1,10.0.2.21,client1" in dns
    # nfsroot boots BIOS and UEFI clients: option 93 picks the loader
    assert "dhcp-boot=tag:kb-client1,tag:!kb-efi64,pxelinux.0,,10.0.2.2" in dns
    assert "dhcp-boot=tag:kb-client1,tag:kb-efi64,bootx64.efi,,10.0.2.2" in dns
    assert "# xenhost1: no mac, no DHCP reservation" in dns
    dhcpd = snip.files["dhcpd-hosts.conf"]
    assert "hardware ethernet 52:54:00:aa:00:01;" in dhcpd and "next-server 10.0.2.2;" in dhcpd
    assert "# xenhost1: no mac, no host declaration" in dhcpd
    gan = snip.files["ganesha-exports.conf"]
    assert "Clients = 10.0.2.22;" in gan and "Squash = No_Root_Squash;" in gan


def test_lints_long_path_and_open_exports(tmp_path, hsite):
    text = hsite.path.read_text().replace('nfs_path = "/srv/nfsroot/xenhost1"',
                                          'nfs_path = "/mnt/disk1/work/nfs-client/rootfs/default/10.0.2.22"')
    text = text.replace("[nfs]\n", '[nfs]\nclients = ["*"]\n')
    text += '\n[[hosts]]\nname = "dyn"\nmac = "52:54:00:aa:00:09"\nprofile = "nfsroot"\n'
    hsite.path.write_text(text)
    snip = server.snippets(load_site(hsite.path))
    joined = "\n".join(snip.warnings)
    assert "sun_path" in joined and "xenhost1" in joined
    assert "open to every client" in joined


@pytest.mark.skipif(shutil.which("dnsmasq") is None, reason="dnsmasq missing: scripts/setup installs it")
def test_dnsmasq_accepts_the_snippet(hsite, tmp_path):
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text(server.snippets(hsite).files["dnsmasq-hosts.conf"])
    r = subprocess.run(["dnsmasq", "--test", f"--conf-file={conf}"], capture_output=True, text=True)
    assert r.returncode == 0 and "syntax check OK" in (r.stdout + r.stderr)


@pytest.mark.boot
def test_nfs_ganesha_loads_the_export_blocks(hsite, tmp_path):
    """Start a real nfs-ganesha (in its own namespaces) on the generated EXPORT blocks."""
    snip = server.snippets(hsite).files["ganesha-exports.conf"]
    paths = [line.split('"')[1] for line in snip.splitlines() if line.strip().startswith("Path =")]
    real = tmp_path / "exports"
    for p in paths:  # the export paths must exist: map them under tmp
        (real / p.lstrip("/")).mkdir(parents=True, exist_ok=True)
        snip = snip.replace(f'Path = "{p}"', f'Path = "{real / p.lstrip("/")}"')
    conf = tmp_path / "ganesha.conf"
    conf.write_text("NFS_CORE_PARAM { Protocols = 4; Enable_NLM = false; Enable_RQUOTA = false; }\n"
                    f"NFSv4 {{ Graceless = true; RecoveryRoot = \"{tmp_path}/rec\"; }}\n" + snip)
    log = tmp_path / "ganesha.log"
    script = (f"mount -t tmpfs t /run; ip link set lo up; ip addr add 192.0.2.1/32 dev lo; "
              f"ganesha.nfsd -F -L {log} -f {conf} -p /run/g.pid & sleep 3; kill $!; wait")
    subprocess.run(["unshare", "--net", "--mount", "--propagation", "private", "sh", "-c", script],
                   timeout=60, check=False)
    text = log.read_text()
    assert "Configuration file successfully parsed" in text
    # ganesha reports every bad key, value or export as ":CONFIG :CRIT" (or FSAL CRIT)
    assert not [line for line in text.splitlines() if ":CRIT :" in line and
                ("CONFIG" in line or "FSAL" in line)], text
    assert "Could not create export" not in text
    assert len(paths) == 2


def test_legacy_grub_host_gets_option_150_in_dhcpd_and_a_note_in_dnsmasq(hsite):
    text = hsite.path.read_text().replace('name = "xenhost1"\n',
                                          'name = "xenhost1"\nmac = "52:54:00:aa:00:02"\n')
    hsite.path.write_text(text)
    snip = server.snippets(load_site(hsite.path))
    assert 'option grub-configfile "(nd)/grub/xenhost1.conf";' in snip.files["dhcpd-hosts.conf"]
    assert "option grub-configfile code 150 = text;" in snip.files["dhcpd-hosts.conf"]
    assert "dnsmasq cannot send 150 as text" in snip.files["dnsmasq-hosts.conf"]
