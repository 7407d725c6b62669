"""Rule sets cached across processes: keyed by content, never stale, never required."""
from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from kbuild.rules import cache as rules_cache
from kbuild.rules import load as rules_load


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("KBUILD_CACHE_DIR", str(d))
    rules_load._load_cached.cache_clear()
    yield d
    rules_load._load_cached.cache_clear()


def _rules_file(tmp_path: Path, reason: str) -> Path:
    f = tmp_path / "extra.toml"
    f.write_text(f'[[rule]]\nid = "x:extra"\nsymbol = "NFS_FS"\nreason = "{reason}"\n'
                 'source = "fs/nfs/Kconfig"\n')
    return f


def test_cached_rule_set_equals_a_parsed_one(cache_dir, monkeypatch):
    first = rules_load.load_rules()
    assert len(list(cache_dir.glob("rules-*.pickle"))) == 1
    rules_load._load_cached.cache_clear()
    # a second process reads the pickle: parsing would now fail loudly
    monkeypatch.setattr(rules_load, "_parse", lambda contents: pytest.fail("parsed again"))
    second = rules_load.load_rules()
    assert second == first and second is not first


def test_a_changed_file_is_parsed_again(cache_dir, tmp_path):
    extra = _rules_file(tmp_path, "first reason")
    assert rules_load.load_rules([extra]).by_id("x:extra").reason == "first reason"
    rules_load._load_cached.cache_clear()
    _rules_file(tmp_path, "second")          # same size class, new content
    assert rules_load.load_rules([extra]).by_id("x:extra").reason == "second"
    assert len(list(cache_dir.glob("rules-*.pickle"))) == 2


def test_errors_are_not_cached_and_a_corrupt_entry_is_rebuilt(cache_dir, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rule]]\nid = 'x'\n")
    with pytest.raises(rules_load.RulesError):
        rules_load.load_rules([bad], builtin=False)
    assert not list(cache_dir.glob("rules-*.pickle"))
    good = rules_load.load_rules()
    (entry,) = cache_dir.glob("rules-*.pickle")
    entry.write_bytes(b"not a pickle")
    rules_load._load_cached.cache_clear()
    assert rules_load.load_rules() == good
    assert pickle.loads(entry.read_bytes()) == good


def test_unwritable_or_disabled_cache_still_loads(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    for value in (str(blocker / "sub"), "off"):
        monkeypatch.setenv("KBUILD_CACHE_DIR", value)
        rules_load._load_cached.cache_clear()
        assert rules_load.load_rules().rules
    rules_load._load_cached.cache_clear()


def test_key_covers_names_content_and_the_loader():
    a = rules_cache.ruleset_key([("a.toml", b"x")])
    assert a == rules_cache.ruleset_key([("a.toml", b"x")])
    assert a != rules_cache.ruleset_key([("b.toml", b"x")])
    assert a != rules_cache.ruleset_key([("a.toml", b"y")])
    assert a != rules_cache.ruleset_key([("a.toml", b"x"), ("b.toml", b"")])
    assert "model.py" in rules_cache._SHAPERS and "load.py" in rules_cache._SHAPERS


def test_equal_files_in_another_checkout_are_not_served_from_this_ones_entry(cache_dir, tmp_path,
                                                                            monkeypatch):
    """A rule set records the files it was read from: equal files at another path (another
    checkout of the project) must give that path, not the first checkout's."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    monkeypatch.chdir(a)           # from inside each checkout both are shown as extra.toml
    first = rules_load.load_rules([_rules_file(a, "same")], builtin=False)
    rules_load._load_cached.cache_clear()
    monkeypatch.chdir(b)
    second = rules_load.load_rules([_rules_file(b, "same")], builtin=False)
    assert first.files == (str(a / "extra.toml"),)
    assert second.files == (str(b / "extra.toml"),)
