"""Configure's result cache: named by the validated parse (without loading the tree), the
base's and the fragments' content; a changed Kconfig file, environment, fragment or base
input is another entry; on the real tree a result from the cache is the .config an
uncached configure writes, byte for byte."""
from __future__ import annotations

from pathlib import Path

import pytest

from kbuild.kconfig import resultcache, treecache
from kbuild.kconfig import tree as kconfig


@pytest.fixture
def env(tiny_kconfig, tiny_env):
    e = tiny_env(tiny_kconfig)
    e["CC_VERSION_TEXT"] = "gcc (Debian 12.2.0-14) 12.2.0"
    return e


def _entry(tiny: Path, env: dict[str, str], cache: Path, fragment: Path) -> Path | None:
    return resultcache.result_entry(cache, tiny, "x86_64", env, "allnoconfig", None,
                                    [("fragments/nfs.config", fragment)])


def _parse(tiny: Path, env: dict[str, str], cache: Path) -> kconfig.KconfigTree:
    return kconfig.load_tree(tiny, "x86_64", env, tiny / "work", cache=cache)


def test_the_parse_is_named_without_loading_the_tree_and_invalidated_like_a_lookup(
        tiny_kconfig, env, tmp_path):
    cache = tmp_path / "cache"
    fragment = tmp_path / "nfs.config"
    fragment.write_text("CONFIG_NFS_FS=y\n")
    assert _entry(tiny_kconfig, env, cache, fragment) is None      # nothing parsed yet
    kt = _parse(tiny_kconfig, env, cache)
    entry = cache / f"{treecache.tree_key(tiny_kconfig.resolve(), 'x86_64', env)}.pickle"
    assert treecache.validated_digest(entry, tiny_kconfig.resolve(), env) == kt.digest
    first = _entry(tiny_kconfig, env, cache, fragment)
    assert first is not None and first == _entry(tiny_kconfig, env, cache, fragment)

    fragment.write_text("CONFIG_NFS_FS=y\nCONFIG_ROOT_NFS=y\n")    # a fragment edited
    second = _entry(tiny_kconfig, env, cache, fragment)
    assert second is not None and second != first

    other = dict(env, CC_VERSION_TEXT="gcc (Debian 13.1.0-1) 13.1.0")   # another compiler
    assert _entry(tiny_kconfig, other, cache, fragment) is None

    nfs = tiny_kconfig / "fs/nfs/Kconfig"                          # a Kconfig file edited
    nfs.write_text(nfs.read_text() + '\nconfig NFS_NEW_OPTION\n\tbool "new"\n')
    assert treecache.validated_digest(entry, tiny_kconfig.resolve(), env) is None
    assert _entry(tiny_kconfig, env, cache, fragment) is None
    kt = _parse(tiny_kconfig, env, cache)                          # parsed again: a new name
    third = _entry(tiny_kconfig, env, cache, fragment)
    assert not kt.from_cache and third is not None and third not in (first, second)


def test_a_missing_fragment_or_side_file_is_a_miss(tiny_kconfig, env, tmp_path):
    cache = tmp_path / "cache"
    _parse(tiny_kconfig, env, cache)
    assert _entry(tiny_kconfig, env, cache, tmp_path / "missing.config") is None
    for side in cache.glob("*.files"):
        side.write_text("{not json")
    fragment = tmp_path / "nfs.config"
    fragment.write_text("CONFIG_NFS_FS=y\n")
    assert _entry(tiny_kconfig, env, cache, fragment) is None
    assert _parse(tiny_kconfig, env, cache).from_cache        # a lookup rewrites the side file
    assert _entry(tiny_kconfig, env, cache, fragment) is not None


def test_store_and_load_and_a_damaged_entry(tmp_path):
    entry = tmp_path / "result-x.json"
    assert resultcache.load(entry) is None
    resultcache.store(entry, "CONFIG_A=y\n", 1234, 40)
    assert resultcache.load(entry) == ("CONFIG_A=y\n", 1234, 40)
    entry.write_text('{"format": 1, "config": 5}')
    assert resultcache.load(entry) is None
    entry.write_bytes(b"\xff\xfe")
    assert resultcache.load(entry) is None


@pytest.mark.realtree
def test_a_result_from_the_cache_is_the_uncached_config_byte_for_byte(work_site, monkeypatch):
    from kbuild.build import configure as pipeline
    from kbuild.site import layout
    from kbuild.source.tree import require_tree
    from tests.conftest import configure

    written = configure(work_site, "nfsroot").read_text()
    site = work_site.site
    profile = site.profile("nfsroot")
    tree = require_tree(site, profile)
    pipeline.configure(site, profile)           # parses here if doit's environment differed,
    pipeline.configure(site, profile)           # then from the tree cache: the result is kept
    entry = pipeline._result_entry(site, profile, tree)
    assert entry is not None and resultcache.load(entry) is not None
    out = layout.config_path(site, profile)
    out.unlink()
    hit = pipeline.configure(site, profile)
    assert hit.changed and out.read_text() == written
    monkeypatch.setenv("KBUILD_KCONFIG_CACHE", "off")
    out.unlink()
    fresh = pipeline.configure(site, profile)
    assert out.read_text() == written
    assert (hit.symbols, hit.requested) == (fresh.symbols, fresh.requested)
