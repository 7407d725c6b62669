"""verify on synthetic configs: each rule family, entry cross-checks, inputs, output."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from kbuild.boot.entry import entry_from_cmdline
from kbuild.boot.read import parse_entry
from kbuild.errors import RequirementError, UserError
from kbuild.verify import check as verify
from kbuild.verify import render as verify_render
from kbuild.verify import report as verify_report

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "docs/verify-schema.json").read_text())

# What a kernel booted by kbuild's default entry needs; "n" lines are written unset.
GOOD = {
    "X86_64": "y", "64BIT": "y", "NET": "y", "INET": "y", "NETDEVICES": "y", "ETHERNET": "y",
    "NETWORK_FILESYSTEMS": "y", "NFS_FS": "y", "ROOT_NFS": "y", "IP_PNP": "y", "IP_PNP_DHCP": "y",
    "NFS_V2": "n", "NFS_V3": "y", "NFS_V4": "y", "NFS_V4_1": "y", "NFS_V4_2": "y",
    "NFS_DISABLE_UDP_SUPPORT": "y", "DEVTMPFS": "y", "DEVTMPFS_MOUNT": "y", "TMPFS": "y",
    "BINFMT_ELF": "y", "SERIAL_8250": "y", "SERIAL_8250_CONSOLE": "y", "E1000": "y",
    "VT_CONSOLE": "y", "BLK_DEV_INITRD": "y",
}
ENTRY = ("console=ttyS0,115200 ip=dhcp root=/dev/nfs "
         "nfsroot=10.0.2.2:/srv/nfsroot,vers=4.2,tcp rw init=/init")


def config_text(values: dict[str, str], header: str | None = "6.1.192") -> str:
    lines = ["#", "# Automatically generated file; DO NOT EDIT.",
             f"# Linux/x86_64 {header} Kernel Configuration", "#"] if header else []
    for name, value in values.items():
        lines.append(f"# CONFIG_{name} is not set" if value == "n" else f"CONFIG_{name}={value}")
    return "\n".join(lines) + "\n"


def write_config(tmp_path: Path, changes: dict[str, str | None] | None = None,
                 header: str | None = "6.1.192", name: str = ".config") -> Path:
    values: dict[str, str] = dict(GOOD)
    for k, v in (changes or {}).items():
        if v is None:
            values.pop(k, None)
        else:
            values[k] = v
    path = tmp_path / name
    path.write_text(config_text(values, header))
    return path


def check(tmp_path: Path, changes: dict[str, str | None] | None = None, cmdline: str | None = ENTRY,
          **kw: object) -> verify_report.VerifyReport:
    entry = entry_from_cmdline(cmdline, "--cmdline") if cmdline is not None else None
    kw.setdefault("nics", ["e1000"])
    return verify.verify_config(write_config(tmp_path, changes), entry=entry, **kw)  # type: ignore[arg-type]


def failed(report: verify_report.VerifyReport) -> list[str]:
    return [c.rule for c in report.failures]


def by_rule(report: verify_report.VerifyReport, rule: str) -> verify_report.Check:
    return next(c for c in report.checks if c.rule == rule)


def test_good_config_passes_every_applicable_rule(tmp_path):
    report = check(tmp_path)
    assert report.passed and report.exit_code == 0
    assert failed(report) == [] and report.count("warn") == 0
    ran = {c.rule for c in report.checks}
    assert {"nfs-client", "root-nfs", "ip-pnp", "ip-pnp-dhcp", "nfs-v4", "nfs-v4.1", "nfs-v4.2",
            "console-ttys-console", "nic:e1000", "cmdline-x86", "nfsroot-options-length"} <= ran
    assert "nfs-v3" not in ran                    # vers=4.2: NFSv3 is not needed
    assert (report.kernel_version, report.version_source) == ("6.1.192", "header")
    assert (report.arch, report.arch_source) == ("x86_64", "config")


def test_module_where_built_in_is_needed_fails_with_its_own_message(tmp_path):
    report = check(tmp_path, {"NFS_FS": "m", "ROOT_NFS": None, "E1000": "m"})
    assert failed(report) == ["nfs-client", "root-nfs", "nic:e1000"]
    nfs = by_rule(report, "nfs-client")
    assert (nfs.found, nfs.wanted, nfs.fix) == ("m", "y", "CONFIG_NFS_FS=y")
    assert "module" in nfs.reason and "NFS root" in nfs.reason
    assert by_rule(report, "root-nfs").found == "absent"
    assert "e1000 driver would be a module" in by_rule(report, "nic:e1000").reason
    assert nfs.lines == {"NFS_FS": 12}            # the line of CONFIG_NFS_FS in the file


@pytest.mark.parametrize("ip,rule", [
    ("ip=dhcp", "ip-pnp-dhcp"), ("ip=bootp", "ip-pnp-bootp"), ("ip=rarp", "ip-pnp-rarp"),
    ("ip=both", "ip-pnp-both"), ("ip=on", "ip-pnp-any"), ("ip=::::h:eth0:", "ip-pnp-any"),
])
def test_autoconf_method_needs_its_protocol(tmp_path, ip, rule):
    report = check(tmp_path, {"IP_PNP_DHCP": "n"},
                   cmdline=f"{ip} root=/dev/nfs nfsroot=10.0.0.1:/r,vers=4,tcp")
    assert rule in failed(report)


def test_static_ip_needs_no_autoconf_protocol(tmp_path):
    report = check(tmp_path, {"IP_PNP_DHCP": "n"}, cmdline="ip=10.0.0.5:10.0.0.1::255.255.255.0:h:eth0:off "
                   "root=/dev/nfs nfsroot=10.0.0.1:/r,vers=4,tcp")
    assert report.passed, failed(report)


@pytest.mark.parametrize("vers,changes,rule", [
    ("vers=3", {"NFS_V3": "n"}, "nfs-v3"),
    ("v3", {"NFS_V3": "m"}, "nfs-v3"),
    ("vers=2", {}, "nfs-v2"),
    ("vers=4", {"NFS_V4": "m"}, "nfs-v4"),
    ("vers=4.1", {"NFS_V4_1": "n"}, "nfs-v4.1"),
    ("vers=4.2", {"NFS_V4_2": "n"}, "nfs-v4.2"),
])
def test_the_pinned_nfs_version_must_be_built_in(tmp_path, vers, changes, rule):
    report = check(tmp_path, changes, cmdline=f"ip=dhcp root=/dev/nfs nfsroot=10.0.0.1:/r,{vers},tcp")
    assert failed(report) == [rule]


def test_nfs_v2_built_in_without_vers_asks_for_v2(tmp_path):
    cmd = "ip=dhcp root=/dev/nfs nfsroot=10.0.0.1:/r"
    report = check(tmp_path, {"NFS_V2": "y"}, cmdline=cmd)
    assert failed(report) == ["nfs-v2-default"]
    assert "NFSv2" in by_rule(report, "nfs-v2-default").reason
    assert check(tmp_path, {"NFS_V2": "y"}, cmdline=cmd + ",vers=3").passed
    # no entry given: only a warning, the real entry may pin vers=
    assumed = check(tmp_path, {"NFS_V2": "y"}, cmdline=None)
    assert by_rule(assumed, "nfs-v2-default-assumed").verdict == "warn"
    assert assumed.passed


def test_default_version_needs_some_version_built_in(tmp_path):
    report = check(tmp_path, {"NFS_V3": "m", "NFS_V4": "m"}, cmdline="ip=dhcp root=/dev/nfs")
    assert failed(report) == ["nfs-default-version"]
    assert by_rule(report, "nfs-default-version").found == "NFS_V3=m, NFS_V4=m"


def test_udp(tmp_path):
    report = check(tmp_path, cmdline="ip=dhcp root=/dev/nfs nfsroot=10.0.0.1:/r,vers=3,udp")
    assert failed(report) == ["nfs-udp"]
    assert check(tmp_path, {"NFS_DISABLE_UDP_SUPPORT": "n"},
                 cmdline="ip=dhcp root=/dev/nfs nfsroot=10.0.0.1:/r,vers=3,udp").passed
    v4 = check(tmp_path, {"NFS_DISABLE_UDP_SUPPORT": "n"},
               cmdline="ip=dhcp root=/dev/nfs nfsroot=10.0.0.1:/r,vers=4,proto=udp")
    assert failed(v4) == ["nfs-udp-v4"]


@pytest.mark.parametrize("console,changes,rule", [
    ("ttyS0,115200n8", {"SERIAL_8250_CONSOLE": "n"}, "console-ttys-console"),
    ("tty0", {"VT_CONSOLE": "n"}, "console-vt"),
    ("hvc0", {}, "console-hvc"),
])
def test_console_driver_of_the_entry(tmp_path, console, changes, rule):
    report = check(tmp_path, changes, cmdline=f"console={console} ip=dhcp root=/dev/nfs "
                   "nfsroot=10.0.0.1:/r,vers=4,tcp")
    assert failed(report) == [rule]


def test_xen_dom0(tmp_path):
    cmd = "console=hvc0 ip=dhcp root=/dev/nfs nfsroot=10.0.0.1:/r,vers=4,tcp"
    report = check(tmp_path, cmdline=cmd, dom0=True)
    assert set(failed(report)) >= {"xen", "xen-dom0", "console-hvc-dom0", "xen-paravirt"}
    dom0 = {"HYPERVISOR_GUEST": "y", "PARAVIRT": "y", "XEN": "y", "XEN_PV": "y", "XEN_DOM0": "y",
            "ACPI": "y", "PCI": "y", "X86_IO_APIC": "y", "HVC_XEN": "y", "XEN_BACKEND": "y",
            "XEN_NETDEV_BACKEND": "m", "XEN_BLKDEV_BACKEND": "m"}
    good = check(tmp_path, dom0, cmdline=cmd, dom0=True)
    assert good.passed and good.count("warn") == 0
    assert by_rule(good, "cmdline-xen-dom0").wanted == "<= 1023 bytes"
    # a hypervisor in the entry means dom0 without saying so
    spec = parse_entry("LABEL x\n KERNEL mboot.c32\n APPEND xen.gz --- vmlinuz " + cmd + "\n", "e")
    auto = verify.verify_config(write_config(tmp_path), entry=spec, nics=["e1000"])
    assert "xen-dom0" in failed(auto)


def test_nic_from_the_table(tmp_path):
    report = check(tmp_path, {"VIRTIO_NET": "y", "VIRTIO_PCI": "m"}, nics=["virtio_net", "e1000"])
    assert failed(report) == ["nic:virtio-net:virtio_pci"]
    with pytest.raises(UserError, match="unknown NIC"):
        check(tmp_path, nics=["nosuchnic"])


def test_no_nic_given_warns_when_no_known_driver_is_built_in(tmp_path):
    report = check(tmp_path, {"E1000": "m"}, nics=[])
    assert by_rule(report, "some-nic").verdict == "warn"
    assert report.passed
    assert any("no NIC given" in n for n in report.notes)
    assert by_rule(check(tmp_path, nics=[]), "some-nic").found == "E1000=y"


@pytest.mark.parametrize("cmd,rule", [
    ("ip=dhcp root=/dev/sda1 nfsroot=10.0.0.1:/r", "root-not-nfs"),
    ("root=/dev/nfs nfsroot=10.0.0.1:/r,vers=4", "ip-missing"),
    ("ip=off root=/dev/nfs nfsroot=10.0.0.1:/r,vers=4", "ip-off"),
    ("ip=dhcp root=/dev/nfs nfsroot=nfs.example.org:/r,vers=4", "nfsroot-name"),
    ("ip=dhcp root=/dev/nfs nfsroot=10.0.0:/r,vers=4", "nfsroot-bad-server"),
    ("ip=10.0.0.5:::255.255.255.0:h:eth0:off root=/dev/nfs nfsroot=/r,vers=4", "nfs-no-server"),
    ("ip=dhcp root=/dev/nfs nfsroot=10.0.0.1:/" + "d" * 1100 + ",vers=4", "nfsroot-length"),
    ("ip=dhcp root=/dev/nfs nfsroot=10.0.0.1:/r,vers=4," + "x" * 230, "nfsroot-options-length"),
    ("ip=::::" + "h" * 70 + ":eth0:dhcp root=/dev/nfs nfsroot=10.0.0.1:/r,vers=4", "ip-hostname-length"),
    ("ip=:::::averyveryverylongifname:dhcp root=/dev/nfs nfsroot=10.0.0.1:/r,vers=4",
     "ip-device-length"),
    ("ip=dhcp root=/dev/nfs nfsroot=10.0.0.1:/r,vers=4 " + "x=" + "y" * 2100, "cmdline-x86"),
])
def test_broken_entries_fail_with_the_rule_that_caught_them(tmp_path, cmd, rule):
    report = check(tmp_path, cmdline=cmd)
    assert rule in failed(report), report.checks
    c = by_rule(report, rule)
    assert c.fix and c.verdict == "fail"


def test_initramfs_entry_moves_the_root_mount_out_of_the_kernel(tmp_path):
    cmd = "initrd=/initrd.img ip=dhcp root=/dev/nfs nfsroot=10.0.0.1:/r,vers=4"
    report = check(tmp_path, {"NFS_FS": "m", "ROOT_NFS": None, "BLK_DEV_INITRD": "n"}, cmdline=cmd)
    assert failed(report) == ["initrd"]
    assert "nfs-client" not in {c.rule for c in report.checks}
    assert by_rule(report, "initramfs-nfs").verdict == "pass"


def test_old_kernel_uses_the_old_symbol_names(tmp_path):
    report = check(tmp_path, {"ETHERNET": None, "NET_ETHERNET": "y", "NFS_V4_1": None},
                   kernel_version="3.1.10",
                   cmdline="ip=dhcp root=/dev/nfs nfsroot=10.0.0.1:/r,vers=4,tcp")
    assert report.passed, failed(report)
    assert "net-ethernet" in {c.rule for c in report.checks}
    assert "ethernet" not in {c.rule for c in report.checks}
    assert report.version_source == "option"


def test_minimal_config_says_which_verdicts_are_uncertain(tmp_path):
    path = tmp_path / "defconfig"
    path.write_text("CONFIG_NFS_FS=y\nCONFIG_ROOT_NFS=y\nCONFIG_IP_PNP=y\n# CONFIG_IP_PNP_DHCP is not set\n")
    report = verify.verify_config(path, entry=entry_from_cmdline(ENTRY), nics=["e1000"])
    assert not report.complete
    assert by_rule(report, "nfs-client").verdict == "pass"        # written values are facts
    assert by_rule(report, "ip-pnp-dhcp").verdict == "fail"
    assert by_rule(report, "inet").verdict == "unknown"           # a default decides it
    assert not report.passed
    assert any("minimal config" in n for n in report.notes)
    assert report.version_source == "assumed" and report.kernel_version == verify.DEFAULT_KERNEL
    assert "unknown" in verify_render.render_table(report)


def test_compressed_configs_are_read(tmp_path):
    plain = write_config(tmp_path)
    gz = tmp_path / "config.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    report = verify.verify_config(gz, entry=entry_from_cmdline(ENTRY), nics=["e1000"])
    assert report.passed and report.assignment_count == len(GOOD)


def test_malformed_lines_are_bad_input_with_every_line_named(tmp_path):
    path = write_config(tmp_path)
    path.write_text(path.read_text() + "CONFIG_A = y\nCONFIG_B=\"open\nrandom words\n")
    with pytest.raises(verify_report.BadConfigError) as e:
        verify.verify_config(path)
    assert e.value.exit_code == 2
    assert [d.line for d in e.value.diagnostics] == [len(GOOD) + 5, len(GOOD) + 6, len(GOOD) + 7]
    assert str(e.value).startswith(f"{path}:{len(GOOD) + 5}: error:")


@pytest.mark.parametrize("content,needle", [
    (b"hello\nworld\n", "not a kernel config: no CONFIG_ assignment in 2 line(s)"),
    (b"", "not a kernel config"),
    (b"\x7fELF\x02\x01\x01\0\0\0", "binary file"),
])
def test_non_configs_are_user_errors(tmp_path, content, needle):
    path = tmp_path / "thing"
    path.write_bytes(content)
    with pytest.raises(UserError) as e:
        verify.verify_config(path)
    assert e.value.exit_code == 2 and needle in str(e.value)


def test_fix_needs_a_source_tree(tmp_path):
    with pytest.raises(UserError, match="--fix needs --srctree"):
        verify.verify_config(write_config(tmp_path), fix=tmp_path / "fix.config")


def test_summary_and_requirement_error(tmp_path):
    report = check(tmp_path, {"NFS_FS": "m", "DEVTMPFS_MOUNT": "n"})
    summary = verify_render.render_summary(report)
    assert "FAIL" in summary and "NFS_FS (wanted y, found m)" in summary
    assert "warning: DEVTMPFS_MOUNT" in summary
    err = verify_render.failed_error(report)
    assert isinstance(err, RequirementError) and err.exit_code == 1
    text = str(err)
    assert "NFS_FS (wanted y, found m)" in text and "fix: CONFIG_NFS_FS=y" in text
    assert "module" in text and "rule" not in text.splitlines()[0]
    assert "PASS" in verify_render.render_summary(check(tmp_path))


def test_table_lists_symbol_wanted_found_verdict_why_fix(tmp_path):
    text = verify_render.render_table(check(tmp_path, {"IP_PNP": "n"}))
    header = next(line for line in text.splitlines() if line.startswith("SYMBOL"))
    assert header.split() == ["SYMBOL", "WANT", "FOUND", "VERDICT", "WHY", "FIX"]
    row = next(line for line in text.splitlines() if line.startswith("IP_PNP "))
    assert "FAIL" in row and "CONFIG_IP_PNP=y" in row
    assert f"{tmp_path}/.config:14: # CONFIG_IP_PNP is not set" in text
    assert text.rstrip().splitlines()[-1].startswith("result: FAIL")


def test_json_documents_validate_against_the_schema(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(SCHEMA)
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    good = verify_render.report_json(check(tmp_path))
    bad = verify_render.report_json(check(tmp_path, {"NFS_FS": "m"}))
    validator.validate(good)
    validator.validate(bad)
    assert (good["status"], good["exit_code"], bad["status"], bad["exit_code"]) == ("pass", 0, "fail", 1)
    nfs = next(c for c in bad["checks"] if c["rule"] == "nfs-client")
    assert (nfs["found"], nfs["verdict"], nfs["lines"]) == ("m", "fail", {"NFS_FS": 12})
    try:
        verify.verify_config(tmp_path / "missing")
    except UserError as e:
        doc = verify_render.error_json(e)
    validator.validate(doc)
    assert doc["exit_code"] == 2 and doc["errors"][0]["message"] == "no such file"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**good, "status": "maybe"})


def test_symbols_this_kernel_no_longer_has_are_flagged(tmp_path):
    report = check(tmp_path, {"NET_ETHERNET": "y", "NFSD_V3": "y", "NFS_V4_1": "y"})
    stale = {c.subject: c for c in report.checks if c.kind == "stale"}
    assert set(stale) == {"NET_ETHERNET", "NFSD_V3"}        # NFS_V4_1 still exists in 6.1
    assert stale["NET_ETHERNET"].verdict == "warn" and report.passed
    assert stale["NET_ETHERNET"].fix == "drop the line; set CONFIG_ETHERNET instead"
    assert "5.18" in stale["NFSD_V3"].reason
    old = check(tmp_path, {"NET_ETHERNET": "y", "ETHERNET": None}, kernel_version="3.1")
    assert not [c for c in old.checks if c.kind == "stale"]
