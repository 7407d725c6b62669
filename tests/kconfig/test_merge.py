"""Fragments merged with kconfiglib, and why a value did not stick, on tiny synthetic trees."""
from __future__ import annotations

from pathlib import Path

from kbuild.kconfig import base as kconfig_base
from kbuild.kconfig import merge as kconfig_merge
from kbuild.kconfig import tree as kconfig
from kbuild.kconfig.configfile import parse_text


def _tree(tiny_kconfig: Path, tiny_env) -> kconfig.KconfigTree:
    return kconfig.load_tree(tiny_kconfig, "x86_64", tiny_env(tiny_kconfig), tiny_kconfig / "out")


def _frag(text: str, name: str = "frag.config"):
    return parse_text(text, name)


def test_fragment_values_stick(tiny_kconfig, tiny_env):
    kt = _tree(tiny_kconfig, tiny_env)
    kconfig_base.apply_base(kt, "allnoconfig")
    frag = _frag("CONFIG_NET=y\nCONFIG_INET=y\nCONFIG_FILE_LOCKING=y\nCONFIG_MULTIUSER=y\n"
                 "CONFIG_NFS_FS=y\nCONFIG_IP_PNP=y\nCONFIG_ROOT_NFS=y\n")
    res = kconfig_merge.merge_fragments(kt, [frag])
    assert res.errors == []
    assert kconfig_merge.check_requested(kt, res.requested) == []
    values = kconfig.values_of(kconfig.config_text(kt))
    assert values["ROOT_NFS"] == "y" and values["SUNRPC"] == "y"  # selected


def test_missing_dependency_is_explained_with_file_and_line(tiny_kconfig, tiny_env):
    kt = _tree(tiny_kconfig, tiny_env)
    kconfig_base.apply_base(kt, "allnoconfig")
    frag = _frag("CONFIG_NET=y\nCONFIG_INET=y\nCONFIG_MULTIUSER=y\n"
                 "CONFIG_NFS_FS=y\nCONFIG_IP_PNP=y\nCONFIG_ROOT_NFS=y\n")
    res = kconfig_merge.merge_fragments(kt, [frag])
    drops = {d.name: d for d in kconfig_merge.check_requested(kt, res.requested)}
    assert set(drops) == {"NFS_FS", "ROOT_NFS"}
    nfs = drops["NFS_FS"]
    assert nfs.wanted == "y" and nfs.got == "n" and nfs.where == "frag.config:4"
    assert any("FILE_LOCKING=n" in r and "[Kconfig:" in r for r in nfs.reasons)
    assert "FILE_LOCKING=y" in nfs.blockers
    root = drops["ROOT_NFS"]
    assert any("NFS_FS = y" in r or "NFS_FS=n" in r for r in root.reasons)


def test_module_limits_root_nfs(tiny_kconfig, tiny_env):
    kt = _tree(tiny_kconfig, tiny_env)
    kconfig_base.apply_base(kt, "allnoconfig")
    frag = _frag("CONFIG_MODULES=y\nCONFIG_NET=y\nCONFIG_INET=y\nCONFIG_MULTIUSER=y\n"
                 "CONFIG_FILE_LOCKING=y\nCONFIG_NFS_FS=m\nCONFIG_IP_PNP=y\nCONFIG_ROOT_NFS=y\n")
    res = kconfig_merge.merge_fragments(kt, [frag])
    drops = kconfig_merge.check_requested(kt, res.requested)
    assert [d.name for d in drops] == ["ROOT_NFS"]
    assert "NFS_FS=m" in drops[0].reasons[0] and "NFS_FS = y" in drops[0].reasons[0]


def test_conflicts_unknown_symbols_and_bad_types_are_reported_with_places(tiny_kconfig, tiny_env):
    kt = _tree(tiny_kconfig, tiny_env)
    kconfig_base.apply_base(kt, "allnoconfig")
    a = _frag("CONFIG_NET=y\nCONFIG_COUNT=5\n", "a.config")
    b = _frag("CONFIG_NET=n\nCONFIG_NO_SUCH=y\nCONFIG_COUNT=abc\nCONFIG_COUNT=99\n"
              "CONFIG_NAME=unquoted\nCONFIG_ADDR=0x2\n", "b.config")
    res = kconfig_merge.merge_fragments(kt, [a, b])
    text = "\n".join(str(d) for d in res.errors)
    assert "b.config:1: error: CONFIG_NET=n conflicts with CONFIG_NET=y at a.config:1" in text
    assert "b.config:2: error: unknown symbol CONFIG_NO_SUCH" in text
    assert "b.config:3:" in text          # not a number (parser)
    assert "b.config:4: error: 99 is outside COUNT's range 1..10" in text
    assert "b.config:5:" in text          # unquoted string (parser)
    assert "b.config:6" not in text       # a valid hex value
    # nothing was applied while there were errors
    assert kconfig.values_of(kconfig.config_text(kt)).get("NET") in (None, "n")


def test_unknown_renamed_symbol_gets_hint(tiny_kconfig, tiny_env):
    kt = _tree(tiny_kconfig, tiny_env)
    kconfig_base.apply_base(kt, "allnoconfig")
    res = kconfig_merge.merge_fragments(kt, [_frag("CONFIG_NET_ETHERNET=y\n")])
    assert "in Linux 3.2; use CONFIG_ETHERNET" in str(res.errors[0])
