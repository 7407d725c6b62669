"""`kbuild verify` as a command on real inputs: Debian's configs, the spine's own
config and entries, the real Linux 6.1 x86 and UML trees.

The nfsroot profile's .config comes from the ``nfsroot_config`` fixture (conftest):
`doit config:nfsroot` in the session's work site, so those tests are ``realtree``."""
from __future__ import annotations

import json
import lzma
import subprocess
import sys
from pathlib import Path

import pytest

from kbuild.kconfig import base as kconfig_base
from kbuild.kconfig import environment as toolchain
from kbuild.kconfig import merge as kconfig_merge
from kbuild.kconfig import tree as kconfig
from kbuild.kconfig.configfile import parse_text, read_config
from kbuild.verify import profile as verify
from kbuild.verify import render as verify_render
from tests.e2e import command_env

REPO = Path(__file__).resolve().parents[2]
DEBIAN = Path("/usr/src/linux-config-6.1")
DEBIAN_AMD64 = DEBIAN / "config.amd64_none_amd64.xz"
SCHEMA = json.loads((REPO / "docs/verify-schema.json").read_text())
NFSROOT_ENTRY = ("console=ttyS0,115200 ip=dhcp root=/dev/nfs "
                 "nfsroot=10.0.2.2:/nfsroot,vers=4,tcp rw init=/init")

needs_debian = pytest.mark.skipif(not DEBIAN_AMD64.is_file(),
                                  reason="Debian's linux-config-6.1 is not installed (scripts/setup)")


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kbuild", "verify", *args], cwd=cwd,
                          env=command_env(), capture_output=True, text=True, timeout=600)


def validate(doc: dict[str, object]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)


@needs_debian
def test_debian_amd64_fails_naming_nfs_fs_root_nfs_and_ip_pnp():
    r = run(str(DEBIAN_AMD64))
    assert r.returncode == 1, r.stderr
    out = r.stdout
    assert r.stderr == ""
    row = next(line for line in out.splitlines() if line.startswith("NFS_FS "))
    assert row.split()[1:4] == ["y", "m", "FAIL"]
    assert "NFS_FS=m: the NFS client would be a module" in out
    assert "FAIL ROOT_NFS: root=/dev/nfs and nfsroot= exist only with ROOT_NFS" in out
    assert "FAIL IP_PNP: kernel-level IP autoconfiguration" in out
    assert f"{DEBIAN_AMD64}:1190: # CONFIG_IP_PNP is not set" in out
    assert out.rstrip().splitlines()[-1].startswith("result: FAIL")


@needs_debian
@pytest.mark.parametrize("name", sorted(p.name for p in DEBIAN.glob("config.*.xz")) or ["none"])
def test_every_debian_config_fails_as_json_naming_each_symbol(name):
    r = run(str(DEBIAN / name), "--json", "--nic", "e1000")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    validate(doc)
    failed = {c["subject"]: c for c in doc["checks"] if c["verdict"] == "fail"}
    assert failed["NFS_FS"]["found"] == "m" and "module" in failed["NFS_FS"]["reason"]
    assert {"ROOT_NFS", "IP_PNP", "IP_PNP_DHCP"} <= set(failed)
    assert doc["kernel"] == {"version": "6.1.192", "source": "header"}
    assert doc["arch"] == {"name": "x86_64", "source": "config"}
    if "cloud" in name:
        assert failed["E1000"]["found"] == "n"
    else:
        assert failed["E1000"]["found"] == "m"


@needs_debian
def test_debian_config_as_a_xen_dom0_passes_the_xen_rules():
    r = run(str(DEBIAN_AMD64), "--json", "--dom0", "--cmdline",
            "console=hvc0 ip=dhcp root=/dev/nfs nfsroot=10.0.0.1:/r,vers=4.2,tcp")
    doc = json.loads(r.stdout)
    verdicts = {c["rule"]: c["verdict"] for c in doc["checks"]}
    for rule in ("xen", "xen-pv", "xen-dom0", "xen-dom0-acpi", "console-hvc-dom0", "cmdline-xen-dom0"):
        assert verdicts[rule] == "pass", rule
    cloud = json.loads(run(str(DEBIAN / "config.amd64_none_cloud-amd64.xz"), "--json", "--dom0").stdout)
    assert {c["rule"]: c["found"] for c in cloud["checks"]}["xen-dom0"] == "n"


@pytest.mark.realtree
def test_the_nfsroot_profile_config_passes(work_site, nfsroot_config):
    r = run("--profile", "nfsroot", "--site", str(work_site.toml))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "result: PASS" in r.stdout
    assert "profile nfsroot" in r.stdout
    r = run(str(nfsroot_config), "--json", "--cmdline", NFSROOT_ENTRY, "--nic", "e1000,virtio_net")
    doc = json.loads(r.stdout)
    validate(doc)
    assert (r.returncode, doc["status"], doc["summary"]["fail"]) == (0, "pass", 0)
    assert {"nic:e1000", "nic:virtio-net", "console-ttys-console"} <= {c["rule"] for c in doc["checks"]}


@pytest.mark.realtree
def test_verify_profile_api_for_the_doit_task(work_site, nfsroot_config):
    site = work_site.site
    report = verify.verify_profile(site, site.profiles["nfsroot"])
    assert report.passed
    assert report.config == "artifacts/build/nfsroot/.config"   # shown relative to the site
    assert site.root / report.config == nfsroot_config
    assert verify_render.render_summary(report).startswith("verify profile nfsroot: Linux 6.1.192 x86_64")


def _staged_entries(site, tmp_path: Path) -> dict[str, Path]:
    from kbuild.boot import entry as bootentry
    from kbuild.boot import grub, grub_legacy, ipxe, pxelinux

    e = bootentry.make_entry(site.profiles["nfsroot"], "6.1.192")
    files = {"pxelinux": pxelinux.menu_config([e], None), "grub2": grub.menu_config([e], None),
             "grub-legacy": grub_legacy.menu_config([e], None), "ipxe": ipxe.script(e)}
    out = {}
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text)
        out[name] = path
    return out


@pytest.mark.realtree
def test_the_spine_staged_entries_pass_in_every_loader_format(work_site, nfsroot_config, tmp_path):
    for fmt, path in _staged_entries(work_site.site, tmp_path).items():
        r = run(str(nfsroot_config), "--entry", str(path), "--nic", "e1000", "--json")
        doc = json.loads(r.stdout)
        assert (r.returncode, doc["entry"]["format"]) == (0, fmt), (fmt, r.stdout)


@pytest.mark.realtree
@pytest.mark.parametrize("change,rule", [
    (("ip=dhcp", "ip=bootp"), None),                                   # built in: passes
    (("console=ttyS0,115200", "console=hvc0"), "console-hvc"),
    (("vers=4", "vers=4.2"), "nfs-v4.1"),
    (("vers=4", "vers=2"), "nfs-v2"),
    (("vers=4,tcp", "vers=3,udp"), "nfs-udp"),
    (("vers=4,tcp", "vers=4,udp"), "nfs-udp-v4"),
    (("10.0.2.2:/nfsroot", "nfsserver:/nfsroot"), "nfsroot-name"),
    (("root=/dev/nfs", "root=/dev/sda1"), "root-not-nfs"),
    (("ip=dhcp ", ""), "ip-missing"),
    (("/nfsroot,", "/" + "x" * 1030 + ","), "nfsroot-length"),
])
def test_hand_broken_entries_fail_with_the_rule_that_caught_them(work_site, nfsroot_config,
                                                                  tmp_path, change, rule):
    path = _staged_entries(work_site.site, tmp_path)["pxelinux"]
    text = path.read_text()
    assert change[0] in text
    path.write_text(text.replace(change[0], change[1], 1))
    r = run(str(nfsroot_config), "--entry", str(path), "--nic", "e1000", "--json")
    doc = json.loads(r.stdout)
    validate(doc)
    failed = [c["rule"] for c in doc["checks"] if c["verdict"] == "fail"]
    if rule is None:
        assert r.returncode == 0 and failed == []
    else:
        assert r.returncode == 1 and rule in failed, failed


def test_bad_input_exits_2_with_a_clear_message(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list\n- milk\n")
    r = run(str(notes))
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.startswith(f"{notes}: error: not a kernel config: no CONFIG_ assignment")
    assert "Traceback" not in r.stderr
    r = run(str(notes), "--json")
    doc = json.loads(r.stdout)
    validate(doc)
    assert (doc["status"], doc["exit_code"]) == ("error", 2)
    broken = tmp_path / "broken.config"
    broken.write_text("CONFIG_A=y\nCONFIG_B = m\n")
    r = run(str(broken))
    assert r.returncode == 2 and r.stderr.startswith(f"{broken}:2: error: not a Kconfig assignment")
    for args in (["/nonexistent/.config"], [str(tmp_path)], ["--entry", str(notes), str(broken)],
                 [str(broken), "--nic", "wifi9"], ["--label", "x", str(broken)], []):
        r = run(*args)
        assert r.returncode == 2 and "Traceback" not in r.stderr and "error:" in r.stderr, args


@pytest.mark.realtree
def test_srctree_explains_the_file_locking_chain_and_the_fix_passes(linux_src, nfsroot_config,
                                                                    tmp_path):
    broken = tmp_path / "nolock.config"
    broken.write_text(nfsroot_config.read_text().replace(
        "CONFIG_FILE_LOCKING=y", "# CONFIG_FILE_LOCKING is not set"))
    fix = tmp_path / "fix.config"
    r = run(str(broken), "--srctree", str(linux_src), "--cmdline", NFSROOT_ENTRY, "--nic", "e1000",
            "--fix", str(fix), "--json")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    validate(doc)
    checks = {c["rule"]: c for c in doc["checks"]}
    nfs = checks["nfs-client"]
    assert (nfs["found"], nfs["file_values"]) == ("n", {"NFS_FS": "y"})
    assert "NFS_FS=n because FILE_LOCKING=n [fs/Kconfig:111]" in nfs["explanation"]
    assert any("ROOT_NFS=n because it depends on NFS_FS = y but NFS_FS=n" in line
               for line in checks["root-nfs"]["explanation"])
    assert doc["fix"]["verified"] and doc["fix"]["path"] == str(fix)
    lines = [a["line"] for a in doc["fix"]["assignments"]]
    assert "CONFIG_FILE_LOCKING=y" in lines and "CONFIG_NFS_FS=y" in lines

    # merged with kbuild's kconfig adapter, the fragment makes the config pass
    env = toolchain.kconfig_environment(linux_src, "x86_64", toolchain.detect_toolchain())
    tree = kconfig.load_tree(linux_src, "x86_64", env, tmp_path / "work")
    kconfig_base.apply_base(tree, str(broken))
    merged = kconfig_merge.merge_fragments(tree, [read_config(fix)])
    assert merged.errors == [] and kconfig_merge.check_requested(tree, merged.requested) == []
    fixed = tmp_path / "fixed.config"
    fixed.write_text(kconfig.config_text(tree))
    r = run(str(fixed), "--cmdline", NFSROOT_ENTRY, "--nic", "e1000")
    assert r.returncode == 0, r.stdout


@pytest.mark.realtree
def test_savedefconfig_is_uncertain_alone_and_resolved_with_the_tree(linux_src, nfsroot_config,
                                                                     tmp_path):
    env = toolchain.kconfig_environment(linux_src, "x86_64", toolchain.detect_toolchain())
    tree = kconfig.load_tree(linux_src, "x86_64", env, tmp_path / "work")
    kconfig_base.apply_base(tree, str(nfsroot_config))
    minimal = tmp_path / "defconfig"
    minimal.write_text(kconfig.min_config_text(tree))
    assert parse_text(minimal.read_text(), "m").header_version is None
    args = [str(minimal), "--cmdline", NFSROOT_ENTRY, "--nic", "e1000", "--json"]
    alone = json.loads(run(*args).stdout)
    assert alone["config"]["complete"] is False and alone["status"] == "fail"
    unknown = {c["subject"] for c in alone["checks"] if c["verdict"] == "unknown"}
    assert "NETWORK_FILESYSTEMS" in unknown          # default y: savedefconfig leaves it out
    assert not {c["subject"] for c in alone["checks"] if c["verdict"] == "fail"}
    r = run(*args, "--srctree", str(linux_src))
    resolved = json.loads(r.stdout)
    assert (r.returncode, resolved["config"]["resolved"]) == (0, True)


@pytest.mark.realtree
def test_uml_config_on_the_real_um_tree(work_site, linux_src, tmp_path):
    env = toolchain.kconfig_environment(linux_src, "um", toolchain.detect_toolchain())
    tree = kconfig.load_tree(linux_src, "um", env, tmp_path / "work")
    kconfig_base.apply_base(tree, "tinyconfig")
    frags = [read_config(work_site.fragment(n)) for n in ("core", "net", "ip-pnp", "nfsroot")]
    frags.append(parse_text("CONFIG_64BIT=y\nCONFIG_UML_NET=y\nCONFIG_UML_NET_VECTOR=y\n", "uml"))
    merged = kconfig_merge.merge_fragments(tree, frags)
    assert merged.errors == [] and kconfig_merge.check_requested(tree, merged.requested) == []
    config = tmp_path / "uml.config"
    config.write_text(kconfig.config_text(tree))
    launch = ("mem=256M vec0:transport=tap,ifname=kbtap0 con0=fd:0,fd:1 ip=dhcp root=/dev/nfs "
              "nfsroot=10.0.2.2:/nfsroot,vers=4,tcp init=/init")
    doc = json.loads(run(str(config), "--cmdline", launch, "--json").stdout)
    assert doc["arch"] == {"name": "um", "source": "config"}
    assert doc["status"] == "pass", [c for c in doc["checks"] if c["verdict"] != "pass"]
    rules = {c["rule"] for c in doc["checks"]}
    assert {"uml-64bit", "uml-net", "nic:uml-vector", "cmdline-um"} <= rules
    assert "netdevices" not in rules
    # a 32-bit UML, and the legacy transport it was not built with
    config32 = tmp_path / "uml32.config"
    config32.write_text(config.read_text().replace("CONFIG_64BIT=y", "# CONFIG_64BIT is not set"))
    doc = json.loads(run(str(config32), "--cmdline", launch.replace(
        "vec0:transport=tap,ifname=kbtap0", "eth0=tuntap,kbtap0"), "--json").stdout)
    failed = {c["rule"] for c in doc["checks"] if c["verdict"] == "fail"}
    assert failed == {"uml-64bit", "nic:uml-tuntap"}
    r = run(str(config32), "--srctree", str(linux_src), "--cmdline", launch, "--json")
    doc = json.loads(r.stdout)
    assert doc["arch"]["name"] == "um" and doc["config"]["resolved"]
    sixty4 = next(c for c in doc["checks"] if c["rule"] == "uml-64bit")
    assert sixty4["verdict"] == "fail"
    assert any("64BIT" in line for line in sixty4["explanation"])


def test_xz_is_read_like_plain_text(tmp_path):
    plain = tmp_path / "c.config"
    plain.write_text("# Linux/x86_64 6.1.0 Kernel Configuration\nCONFIG_NFS_FS=m\n")
    packed = tmp_path / "c.config.xz"
    packed.write_bytes(lzma.compress(plain.read_bytes()))
    a, b = run(str(plain), "--json"), run(str(packed), "--json")
    strip = {"config"}
    da = {k: v for k, v in json.loads(a.stdout).items() if k not in strip}
    db = {k: v for k, v in json.loads(b.stdout).items() if k not in strip}
    assert a.returncode == b.returncode == 1
    assert json.dumps(da["checks"]).replace(str(plain), "X") == \
        json.dumps(db["checks"]).replace(str(packed), "X")


@pytest.mark.realtree
def test_profile_hosts_are_checked_with_their_own_entries(work_site, nfsroot_config):
    import dataclasses

    from kbuild.site.model import Host

    hosts = [Host(name="pc1", profile="nfsroot", mac="52:54:00:00:00:01", nic="e1000"),
             Host(name="pc2", profile="nfsroot", mac="52:54:00:00:00:02", console=("hvc0",)),
             Host(name="pc3", profile="nfsroot", mac="52:54:00:00:00:03", nfs_path="/" + "p" * 1100),
             Host(name="pc4", profile="nfsroot", mac="52:54:00:00:00:04", nic="r8169")]
    site = dataclasses.replace(work_site.site, hosts=hosts)
    report = verify.verify_profile(site, site.profiles["nfsroot"])
    failed = {(c.subject, c.rule) for c in report.failures}
    assert failed == {("host pc2: any of HVC_XEN,VIRTIO_CONSOLE", "console-hvc"),
                      ("host pc3: nfsroot_value", "nfsroot-length"),
                      ("host pc3: nfsroot_device", "nfsroot-device-length"),
                      ("R8169", "nic:r8169")}
    assert "R8169" in str(verify_render.failed_error(report))
