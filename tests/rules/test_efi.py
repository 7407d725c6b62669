"""The efi / secure-boot rules (kbuild/rules/efi.toml): the traits that switch them on (a
profile's UEFI loader or [secure_boot], `kbuild verify --trait`), and the Debian-only
lockdown rule chosen by the source tree."""
from __future__ import annotations

import subprocess

import pytest

from kbuild.boot.entry import entry_from_cmdline
from kbuild.rules.load import RulesError, load_rules
from kbuild.site.load import load_site
from kbuild.verify import check as verify
from kbuild.verify.facts import tree_kind
from kbuild.verify.profile import profile_traits, verify_profile
from tests.boot.test_hostfiles import _base_toml
from tests.conftest import TINY_KCONFIG, write_tree
from tests.e2e import BIN, copy_site, fake_build
from tests.verify.test_check import ENTRY, GOOD, config_text, failed, write_config

EFI = {"ACPI": "y", "EFI": "y", "EFI_STUB": "y"}
# a diskless Secure Boot kernel as kbuild would build it: no modules, lockdown forced
SB = {**EFI, "MODULES": "n", "SECURITY": "y", "SECURITY_LOCKDOWN_LSM": "y",
      "LOCK_DOWN_KERNEL_FORCE_INTEGRITY": "y"}
SB_RULES = {"sb-module-signatures", "sb-lockdown-lsm", "sb-lockdown-forced", "sb-lockdown-debian"}


def _check(tmp_path, changes, traits=(), cmdline=ENTRY, **kw):
    return verify.verify_config(write_config(tmp_path, changes), nics=["e1000"], traits=traits,
                                entry=entry_from_cmdline(cmdline, "--cmdline"), **kw)


def _ran(report) -> set[str]:
    return {c.rule for c in report.checks}


def test_efi_trait_needs_the_efi_stub_and_only_with_the_trait(tmp_path):
    plain = _check(tmp_path, {})
    assert plain.passed and not _ran(plain) & {"efi", "efi-stub"}     # BIOS: not asked
    lacking = _check(tmp_path, {}, traits=["efi"])
    assert set(failed(lacking)) == {"efi", "efi-stub"}
    stub = next(c for c in lacking.checks if c.rule == "efi-stub")
    assert "PE/COFF" in stub.reason and "efi-stub.rst" in stub.source
    assert stub.fix == "CONFIG_EFI_STUB=y"
    assert _check(tmp_path, EFI, traits=["efi"]).passed
    assert not _ran(_check(tmp_path, EFI, traits=["efi"])) & SB_RULES


def test_efi_dom0_needs_xen_efi_not_the_stub(tmp_path):
    dom0 = {**EFI, "EFI_STUB": "n", "HVC_XEN": "y", "XEN": "y", "XEN_PV": "y", "XEN_DOM0": "y",
            "HYPERVISOR_GUEST": "y", "PARAVIRT": "y", "PCI": "y", "X86_IO_APIC": "y"}
    cmd = ENTRY.replace("console=ttyS0,115200", "console=hvc0")
    report = _check(tmp_path, dom0, traits=["efi"], cmdline=cmd, dom0=True)
    assert "efi-stub" not in _ran(report)              # Xen loads dom0, not an EFI loader
    assert "xen-efi" in failed(report) and "RSDP" in next(
        c for c in report.checks if c.rule == "xen-efi").reason
    assert "xen-efi" not in failed(_check(tmp_path, {**dom0, "XEN_EFI": "y"}, traits=["efi"],
                                          cmdline=cmd, dom0=True))


@pytest.mark.parametrize("modules, ok", [
    ({"MODULES": "n"}, True),                                   # nothing to load at all
    ({"MODULES": "y", "MODULE_SIG": "n"}, False),
    ({"MODULES": "y", "MODULE_SIG": "y", "MODULE_SIG_FORCE": "y"}, True),
    ({"MODULES": "y", "MODULE_SIG": "y"}, True),                # refused under lockdown
])
def test_secure_boot_loads_no_unverified_modules(tmp_path, modules, ok):
    report = _check(tmp_path, {**SB, **modules}, traits=["secure-boot"])
    assert ("sb-module-signatures" in failed(report)) is not ok
    assert set(failed(report)) <= {"sb-module-signatures"}


def test_secure_boot_implies_efi_and_needs_lockdown(tmp_path):
    report = _check(tmp_path, {}, traits=["secure-boot"])
    assert {"efi", "efi-stub", "sb-lockdown-lsm", "sb-lockdown-forced"} <= set(failed(report))
    # tree unknown (no header mention, no srctree): the kernel.org rule, and a note saying so
    assert report.facts["tree"] == ["unknown"] and "sb-lockdown-debian" not in _ran(report)
    assert any("source tree unknown" in n for n in report.notes)
    assert _check(tmp_path, SB, traits=["secure-boot"]).passed
    # lockdown= on the command line forces it as well as the Kconfig choice does
    by_cmdline = _check(tmp_path, {**SB, "LOCK_DOWN_KERNEL_FORCE_INTEGRITY": "n"},
                        traits=["secure-boot"], cmdline=ENTRY + " lockdown=integrity")
    assert by_cmdline.passed and "sb-lockdown-forced" not in _ran(by_cmdline)


def test_a_config_written_by_debians_tree_gets_the_debian_rule(tmp_path):
    debian = {**SB, "LOCK_DOWN_KERNEL_FORCE_INTEGRITY": "n", "LOCK_DOWN_IN_EFI_SECURE_BOOT": "y"}
    report = _check(tmp_path, debian, traits=["secure-boot"])
    assert report.facts["tree"] == ["debian"] and report.passed
    assert "sb-lockdown-debian" in _ran(report) and "sb-lockdown-forced" not in _ran(report)
    off = _check(tmp_path, {**debian, "LOCK_DOWN_IN_EFI_SECURE_BOOT": "n"}, traits=["secure-boot"])
    assert failed(off) == ["sb-lockdown-debian"]


LOCKDOWN_UPSTREAM = """\
config SECURITY_LOCKDOWN_LSM
\tbool "lockdown"
\tdepends on SECURITY
\tselect MODULE_SIG if MODULES

choice
\tprompt "default lockdown mode"
\tdefault LOCK_DOWN_KERNEL_FORCE_NONE
\tdepends on SECURITY_LOCKDOWN_LSM

config LOCK_DOWN_KERNEL_FORCE_NONE
\tbool "none"

config LOCK_DOWN_KERNEL_FORCE_INTEGRITY
\tbool "integrity"

endchoice
"""
# what Debian's patch adds (security/lockdown/Kconfig:49-61 of linux-source-6.1)
LOCKDOWN_DEBIAN = LOCKDOWN_UPSTREAM + """
config LOCK_DOWN_IN_EFI_SECURE_BOOT
\tbool "Lock down the kernel in EFI Secure Boot mode"
\tdepends on SECURITY_LOCKDOWN_LSM
\tdepends on EFI
"""
TREE_EXTRA = """
config SECURITY
\tbool "security"

config MODULE_SIG
\tbool "module signatures"
\tdepends on MODULES

config ACPI
\tbool "acpi"

config EFI
\tbool "efi"
\tdepends on ACPI

config EFI_STUB
\tbool "efi stub"
\tdepends on EFI

source "security/lockdown/Kconfig"
"""


def _tree(root, lockdown: str):
    files = dict(TINY_KCONFIG)
    files["Kconfig"] = files["Kconfig"] + TREE_EXTRA.replace("\n", "\n        ")
    files["security/lockdown/Kconfig"] = lockdown
    return write_tree(root, files)


@pytest.mark.parametrize("shape", ["kernel.org", "debian"])
def test_debian_only_rule_follows_the_source_tree(tmp_path, shape):
    """The same config (Secure Boot, lockdown LSM, default mode none) resolved against a
    kernel.org-shaped tree (no LOCK_DOWN_IN_EFI_SECURE_BOOT) and a Debian-shaped one."""
    tree = _tree(tmp_path / shape, LOCKDOWN_DEBIAN if shape == "debian" else LOCKDOWN_UPSTREAM)
    config = tmp_path / "sb.config"
    config.write_text(config_text({"NET": "y", "INET": "y", "MULTIUSER": "y", "FILE_LOCKING": "y",
                                   "NFS_FS": "y", "NFS_V4": "y", "IP_PNP": "y", "IP_PNP_DHCP": "y",
                                   "ROOT_NFS": "y", "ACPI": "y", "EFI": "y", "EFI_STUB": "y",
                                   "SECURITY": "y", "SECURITY_LOCKDOWN_LSM": "y"}, "6.1.0"))
    rules = load_rules()
    report = verify.verify_config(config, arch="x86_64", rules=rules, srctree=tree,
                                  workdir=tmp_path / f"w-{shape}", traits=["secure-boot"],
                                  entry=entry_from_cmdline("ip=dhcp root=/dev/nfs "
                                                           "nfsroot=10.0.0.1:/r,vers=4,tcp"))
    if shape == "kernel.org":
        assert report.facts["tree"] == ["upstream"]
        assert "sb-lockdown-debian" not in _ran(report)
        assert "sb-lockdown-forced" in failed(report)
    else:
        assert report.facts["tree"] == ["debian"]
        assert "sb-lockdown-forced" not in _ran(report)
        assert "sb-lockdown-debian" in failed(report)
        fix = next(c for c in report.checks if c.rule == "sb-lockdown-debian").fix
        assert fix and "LOCK_DOWN_IN_EFI_SECURE_BOOT=y" in fix


def test_tree_kind_order():
    assert tree_kind(["LOCK_DOWN_IN_EFI_SECURE_BOOT"], None) == "debian"
    assert tree_kind(["EFI"], None) == "unknown"
    assert tree_kind(["EFI"], None, hint="debian") == "debian"


@pytest.mark.realtree
def test_debians_real_tree_is_recognised(linux_src):
    assert tree_kind([], linux_src) == "debian"


def test_any_of_with_own_values_needs_a_fix_text(tmp_path):
    bad = tmp_path / "r.toml"
    bad.write_text('schema = 1\n[[rule]]\nid = "x"\nany_of = ["MODULES=n", "MODULE_SIG"]\n'
                   'reason = "r"\nsource = "s"\n')
    with pytest.raises(RulesError, match="needs a fix text"):
        load_rules([bad], builtin=False)


SECURE = '''
[profiles.nfsroot.secure_boot]
key = "keys/site.key"
cert = "keys/site.crt"
'''


def test_profile_traits_come_from_loaders_and_secure_boot(tmp_path):
    text = _base_toml().replace("[profiles.nfsroot.nfsroot]",
                                SECURE.strip() + "\n\n[profiles.nfsroot.nfsroot]")
    root = copy_site(tmp_path / "site", text, link=True)
    from kbuild.signing import keys
    keys.init_key(root / "keys/site.key", root / "keys/site.crt")
    site = load_site(root / "kbuild.toml")
    assert profile_traits(site.profiles["nfsroot"]) == ["efi", "secure-boot"]
    assert profile_traits(site.profiles["dom0"]) == ["efi"]          # grub-efi-unsigned
    assert profile_traits(site.profiles["nfsroot-6.12"]) == []
    # the nfsroot profile's fragments without lockdown: verify says what Secure Boot lacks
    p = site.profiles["nfsroot"]
    fake_build(site, p, config_text({**GOOD, **EFI, "VIRTIO_NET": "y", "VIRTIO_PCI": "y",
                                       "MODULES": "n"}))
    report = verify_profile(site, p)
    assert report.facts["tree"] == ["debian"]                        # a linux-source package
    assert set(failed(report)) == {"sb-lockdown-lsm", "sb-lockdown-debian"}


def test_verify_cli_trait_option(tmp_path):
    config = write_config(tmp_path, {})
    argv = [str(BIN / "kbuild"), "verify", str(config), "--nic", "e1000", "--cmdline", ENTRY]
    assert subprocess.run(argv, capture_output=True).returncode == 0
    r = subprocess.run(argv + ["--trait", "efi"], capture_output=True, text=True)
    assert r.returncode == 1 and "efi-stub" in r.stdout
    bad = subprocess.run(argv + ["--trait", "uefi"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


@pytest.mark.realtree
def test_nfsroot_passes_efi_and_the_secure_boot_fragment_gives_it_lockdown(linux_src, nfsroot_config,
                                                                             tmp_path):
    """The shipped nfsroot kernel has EFI + EFI_STUB and no modules; with [secure_boot] it
    would lack lockdown, which fragments/secure-boot.config adds on Debian's tree."""
    from kbuild.kconfig import base as kconfig_base
    from kbuild.kconfig import environment as toolchain
    from kbuild.kconfig import merge as kconfig_merge
    from kbuild.kconfig import tree as kconfig
    from kbuild.kconfig.configfile import read_config
    from tests.e2e import REPO

    entry = entry_from_cmdline("console=ttyS0,115200 ip=dhcp root=/dev/nfs "
                               "nfsroot=10.0.2.2:/nfsroot,vers=4,tcp rw init=/init")
    kw = dict(entry=entry, nics=["e1000", "virtio_net"])
    assert verify.verify_config(nfsroot_config, traits=["efi"], **kw).passed
    sb = verify.verify_config(nfsroot_config, traits=["secure-boot"], srctree=linux_src,
                              workdir=tmp_path / "w1", **kw)
    assert sb.facts["tree"] == ["debian"]
    assert set(failed(sb)) == {"sb-lockdown-lsm", "sb-lockdown-debian"}
    env = toolchain.kconfig_environment(linux_src, "x86_64", toolchain.detect_toolchain())
    tree = kconfig.load_tree(linux_src, "x86_64", env, tmp_path / "work")
    kconfig_base.apply_base(tree, str(nfsroot_config))
    merged = kconfig_merge.merge_fragments(tree, [read_config(REPO / "fragments/secure-boot.config")])
    assert merged.errors == [] and kconfig_merge.check_requested(tree, merged.requested) == []
    fixed = tmp_path / "sb.config"
    fixed.write_text(kconfig.config_text(tree))
    again = verify.verify_config(fixed, traits=["secure-boot"], **kw)
    assert again.facts["tree"] == ["debian"]          # the config itself names the option now
    assert again.passed, failed(again)


def test_trait_applies_to_every_config_of_a_many_config_call(tmp_path):
    good = write_config(tmp_path, EFI, name="good.config")
    bad = write_config(tmp_path, {}, name="bad.config")
    argv = [str(BIN / "kbuild"), "verify", str(good), str(bad), "--nic", "e1000", "--cmdline",
            ENTRY, "--trait", "efi"]
    r = subprocess.run(argv, capture_output=True, text=True)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{good}: PASS" in r.stdout and f"{bad}: FAIL" in r.stdout
