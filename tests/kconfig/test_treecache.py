"""The parsed-tree cache: a hit gives the state a fresh parse gives; a changed Kconfig
file, environment (compiler version) or kconfiglib version is a miss."""
from __future__ import annotations

from pathlib import Path

import kconfiglib
import pytest

from kbuild.kconfig import tree as kconfig
from kbuild.kconfig import treecache


def _load(tiny_kconfig: Path, env: dict[str, str], cache: Path) -> kconfig.KconfigTree:
    return kconfig.load_tree(tiny_kconfig, "x86_64", env, tiny_kconfig / "work", cache=cache)


def _config_after_setting(kt: kconfig.KconfigTree) -> str:
    with kt.active():
        for name in ("NET", "INET", "IP_PNP", "NFS_FS", "ROOT_NFS"):
            sym = kt.kconf.syms[name]
            sym.set_value(2)
    return kconfig.config_text(kt)


@pytest.fixture
def env(tiny_kconfig, tiny_env):
    e = tiny_env(tiny_kconfig)
    e["CC_VERSION_TEXT"] = "gcc (Debian 12.2.0-14) 12.2.0"
    return e


def test_a_hit_gives_what_a_fresh_parse_gives(tiny_kconfig, env, tmp_path):
    cache = tmp_path / "cache"
    fresh = _load(tiny_kconfig, env, cache)
    assert not fresh.from_cache and len(list(cache.glob("*.pickle"))) == 1
    hit = _load(tiny_kconfig, env, cache)
    assert hit.from_cache
    uncached = kconfig.load_tree(tiny_kconfig, "x86_64", env, tiny_kconfig / "work")
    assert _config_after_setting(hit) == _config_after_setting(uncached)
    assert kconfig.min_config_text(hit) == kconfig.min_config_text(uncached)


def test_a_changed_kconfig_file_is_parsed_again(tiny_kconfig, env, tmp_path):
    cache = tmp_path / "cache"
    _load(tiny_kconfig, env, cache)
    nfs = tiny_kconfig / "fs/nfs/Kconfig"         # a sourced file, not the top one
    nfs.write_text(nfs.read_text() + '\nconfig NFS_NEW_OPTION\n\tbool "new"\n\tdefault y\n')
    kt = _load(tiny_kconfig, env, cache)
    assert not kt.from_cache and "NFS_NEW_OPTION" in kt.kconf.syms
    assert _load(tiny_kconfig, env, cache).from_cache    # the new entry replaced the old one


@pytest.mark.parametrize("variable,value", [
    ("CC_VERSION_TEXT", "gcc (Debian 13.1.0-1) 13.1.0"),   # the compiler changed
    ("CC", "ccache gcc"),
    ("PATH", "/opt/other-toolchain/bin:/usr/bin:/bin"),
    ("SRCARCH", "um"),
])
def test_a_changed_environment_is_parsed_again(tiny_kconfig, env, tmp_path, variable, value):
    cache = tmp_path / "cache"
    _load(tiny_kconfig, env, cache)
    assert _load(tiny_kconfig, env, cache).from_cache
    changed = {**env, variable: value}
    kt = _load(tiny_kconfig, changed, cache)
    assert not kt.from_cache
    assert kt.env[variable] == value


def test_a_referenced_variable_outside_the_key_is_checked_too(tiny_kconfig, env, tmp_path):
    top = tiny_kconfig / "Kconfig"
    top.write_text(top.read_text() + '\nconfig FROM_ENV\n\tstring "e"\n'
                   '\tdefault "$(KBUILD_TINY_KNOB)"\n')
    cache = tmp_path / "cache"
    env["KBUILD_TINY_KNOB"] = "one"
    _load(tiny_kconfig, env, cache)
    assert _load(tiny_kconfig, env, cache).from_cache
    env["KBUILD_TINY_KNOB"] = "two"
    kt = _load(tiny_kconfig, env, cache)
    assert not kt.from_cache and kt.kconf.syms["FROM_ENV"].str_value == "two"


def test_a_changed_kconfiglib_version_is_parsed_again(tiny_kconfig, env, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    _load(tiny_kconfig, env, cache)
    assert _load(tiny_kconfig, env, cache).from_cache
    monkeypatch.setattr(kconfiglib, "VERSION", (14, 2, 0))
    assert not _load(tiny_kconfig, env, cache).from_cache
    assert len(list(cache.glob("*.pickle"))) == 2


def test_a_corrupt_or_unwritable_cache_only_costs_time(tiny_kconfig, env, tmp_path):
    cache = tmp_path / "cache"
    _load(tiny_kconfig, env, cache)
    (entry,) = cache.glob("*.pickle")
    entry.write_bytes(entry.read_bytes()[:100])
    kt = _load(tiny_kconfig, env, cache)
    assert not kt.from_cache and "NFS_FS" in kt.kconf.syms
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert not _load(tiny_kconfig, env, blocker / "sub").from_cache
    assert treecache.tree_key(tiny_kconfig, "x86_64", env) != treecache.tree_key(tiny_kconfig, "um", env)


def test_the_base_over_a_cached_parse_is_kept_and_equals_a_fresh_one(tiny_kconfig, env, tmp_path):
    from kbuild.kconfig import base as kconfig_base

    cache = tmp_path / "cache"
    fragment = tmp_path / "base.config"
    fragment.write_text("CONFIG_NET=y\nCONFIG_INET=y\nCONFIG_IP_PNP=y\n")
    fresh = kconfig.load_tree(tiny_kconfig, "x86_64", env, tiny_kconfig / "work")
    assert kconfig_base.apply_base(fresh, str(fragment)) == str(fragment)
    for expect_file in (False, True):
        kt = _load(tiny_kconfig, env, cache)
        assert kt.digest is not None
        assert bool(list(cache.glob("base-*.config"))) == expect_file
        assert kconfig_base.apply_base(kt, str(fragment), cache=cache) == str(fragment)
        assert kconfig.config_text(kt) == kconfig.config_text(fresh)
    fragment.write_text("CONFIG_NET=y\n")                  # the base file changed
    kt = _load(tiny_kconfig, env, cache)
    kconfig_base.apply_base(kt, str(fragment), cache=cache)
    assert kt.kconf.syms["INET"].str_value == "n"
    assert len(list(cache.glob("base-*.config"))) == 2
