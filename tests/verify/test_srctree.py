"""verify --srctree on the tiny synthetic Kconfig tree: resolving, explaining, fixing."""
from __future__ import annotations

from pathlib import Path

import pytest

from kbuild.boot.entry import entry_from_cmdline
from kbuild.kconfig import base as kconfig_base
from kbuild.kconfig import merge as kconfig_merge
from kbuild.kconfig import tree as kconfig
from kbuild.kconfig.configfile import read_config
from kbuild.rules.load import load_rules
from kbuild.verify import check as verify
from kbuild.verify import render as verify_render

RULES = """
[[rule]]
id = "nfs-client"
symbol = "NFS_FS"
reason = "the NFS client mounts /"
source = "test"

[[rule]]
id = "root-nfs"
symbol = "ROOT_NFS"
reason = "root=/dev/nfs"
source = "test"

[[rule]]
id = "ip-pnp-dhcp"
symbol = "IP_PNP_DHCP"
when = { autoconf = "dhcp" }
reason = "ip=dhcp"
source = "test"

[[rule]]
id = "network-filesystems"
symbol = "NETWORK_FILESYSTEMS"
reason = "menu"
source = "test"

[[rule]]
id = "nfs-v4"
symbol = "NFS_V4"
when = { nfs_version = "4" }
reason = "vers=4"
source = "test"
"""
ENTRY = "ip=dhcp root=/dev/nfs nfsroot=10.0.0.1:/r,vers=4,tcp"


@pytest.fixture
def tiny_rules(tmp_path):
    path = tmp_path / "tiny-rules.toml"
    path.write_text(RULES)
    return load_rules([path], builtin=False)


def _verify(config: Path, tiny_kconfig: Path, rules, **kw):
    return verify.verify_config(config, arch="x86_64", entry=entry_from_cmdline(ENTRY), rules=rules,
                                srctree=tiny_kconfig, workdir=tiny_kconfig / "out", **kw)


def test_full_config_is_resolved_and_the_blocking_chain_explained(tmp_path, tiny_kconfig, tiny_rules):
    config = tmp_path / "c.config"
    # Says NFS_FS=y, but FILE_LOCKING is off: make olddefconfig would drop NFS_FS.
    config.write_text("# Linux/x86_64 6.1.0 Kernel Configuration\nCONFIG_NET=y\nCONFIG_INET=y\n"
                      "# CONFIG_FILE_LOCKING is not set\nCONFIG_MULTIUSER=y\nCONFIG_NFS_FS=y\n"
                      "CONFIG_NFS_V4=y\nCONFIG_IP_PNP=y\nCONFIG_IP_PNP_DHCP=y\nCONFIG_ROOT_NFS=y\n")
    report = _verify(config, tiny_kconfig, tiny_rules)
    assert report.resolved
    assert [c.rule for c in report.failures] == ["nfs-client", "root-nfs", "nfs-v4"]
    nfs = next(c for c in report.checks if c.rule == "nfs-client")
    assert nfs.found == "n" and nfs.file_values == {"NFS_FS": "y"}
    assert any(line.startswith("NFS_FS=n because FILE_LOCKING=n [Kconfig:")
               for line in nfs.explanation), nfs.explanation
    assert "FILE_LOCKING=y" in nfs.needs
    assert any("selects LOCKD, SUNRPC" in line for line in nfs.explanation)
    root = next(c for c in report.checks if c.rule == "root-nfs")
    assert any("ROOT_NFS=n because it depends on NFS_FS = y but NFS_FS=n" in line
               for line in root.explanation)
    text = verify_render.render_table(report)
    assert "CONFIG_NFS_FS=y in the file, but the kernel's Kconfig makes it n" in text


def test_fix_fragment_is_minimal_verified_and_passes_when_merged(tmp_path, tiny_kconfig, tiny_env,
                                                                 tiny_rules):
    config = tmp_path / "c.config"
    config.write_text("# Linux/x86_64 6.1.0 Kernel Configuration\nCONFIG_NET=y\nCONFIG_INET=y\n"
                      "# CONFIG_FILE_LOCKING is not set\nCONFIG_MULTIUSER=y\n# CONFIG_NFS_FS is not set\n"
                      "CONFIG_IP_PNP=y\nCONFIG_IP_PNP_DHCP=y\n")
    fix = tmp_path / "fix.config"
    report = _verify(config, tiny_kconfig, tiny_rules, fix=fix)
    assert report.fix is not None and report.fix.verified
    assert report.fix.assignments == {"NFS_FS": "y", "ROOT_NFS": "y", "NFS_V4": "y",
                                      "FILE_LOCKING": "y"}
    assert report.fix.why["FILE_LOCKING"] == "needed for NFS_FS=y"
    frag = read_config(fix)
    assert frag.errors == []
    assert [(a.name, a.value) for a in frag.assignments] == list(report.fix.assignments.items())

    # Merged the way kbuild's configure step merges fragments, the result passes.
    tree = kconfig.load_tree(tiny_kconfig, "x86_64", tiny_env(tiny_kconfig), tmp_path / "w")
    kconfig_base.apply_base(tree, str(config))
    merged = kconfig_merge.merge_fragments(tree, [frag])
    assert merged.errors == []
    assert kconfig_merge.check_requested(tree, merged.requested) == []
    fixed = tmp_path / "fixed.config"
    fixed.write_text(kconfig.config_text(tree))
    again = _verify(fixed, tiny_kconfig, tiny_rules)
    assert again.passed, [c.rule for c in again.failures]
    assert verify.verify_config(fixed, arch="x86_64", entry=entry_from_cmdline(ENTRY),
                                rules=tiny_rules).passed        # no srctree needed any more


def test_minimal_config_gets_its_defaults_from_the_tree(tmp_path, tiny_kconfig, tiny_rules):
    config = tmp_path / "defconfig"
    config.write_text("CONFIG_NET=y\nCONFIG_INET=y\nCONFIG_FILE_LOCKING=y\nCONFIG_NFS_FS=y\n"
                      "CONFIG_NFS_V4=y\nCONFIG_IP_PNP=y\nCONFIG_IP_PNP_DHCP=y\nCONFIG_ROOT_NFS=y\n")
    without = verify.verify_config(config, arch="x86_64", entry=entry_from_cmdline(ENTRY),
                                   rules=tiny_rules)
    nfs_menu = next(c for c in without.checks if c.rule == "network-filesystems")
    assert nfs_menu.verdict == "unknown" and not without.passed
    resolved = _verify(config, tiny_kconfig, tiny_rules)
    assert resolved.passed, [c.rule for c in resolved.failures]
    assert resolved.version_source == "srctree" and resolved.kernel_version == "6.1.0"
    assert any("defaults resolved" in n for n in resolved.notes)


def test_unfixable_requirements_are_reported_not_written(tmp_path, tiny_kconfig):
    rules_file = tmp_path / "r.toml"
    rules_file.write_text('[[rule]]\nid = "ghost"\nsymbol = "NO_SUCH_SYMBOL"\nreason = "r"\n'
                          'source = "s"\n')
    rules = load_rules([rules_file], builtin=False)
    config = tmp_path / "c.config"
    config.write_text("# Linux/x86_64 6.1.0 Kernel Configuration\nCONFIG_NET=y\n")
    fix = tmp_path / "fix.config"
    report = _verify(config, tiny_kconfig, rules, fix=fix)
    assert report.fix is not None and not report.fix.verified
    assert report.fix.remaining == ["ghost"]
    assert not fix.exists()
    ghost = report.failures[0]
    assert ghost.found == "absent"
    assert "does not exist in this kernel" in ghost.explanation[0]
