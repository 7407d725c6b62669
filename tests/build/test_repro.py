"""Reproducibility helpers, and the CCACHE_BASEDIR vs -fmacro-prefix-map trap measured with
the real ccache and gcc on a tiny tree laid out like artifacts/ (src/ beside build/P)."""
from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from kbuild.build import repro


def test_source_epoch_is_the_newest_file_not_dirs_or_the_stamp(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.c").write_text("x")
    (tmp_path / "Makefile").write_text("m")
    (tmp_path / ".kbuild-tree.json").write_text("{}")
    os.utime(tmp_path / "a" / "x.c", (1_700_000_000, 1_700_000_000))
    os.utime(tmp_path / "Makefile", (1_600_000_000, 1_600_000_000))
    # unpack time (dirs, kbuild's stamp) never enters the date
    assert repro.source_epoch(tmp_path) == 1_700_000_000


def test_identity_environment():
    env = repro.identity_environment(0)
    assert env["KBUILD_BUILD_TIMESTAMP"] == "Thu Jan 01 00:00:00 UTC 1970"
    assert env["KBUILD_BUILD_VERSION"] == "1"
    assert env["KBUILD_BUILD_USER"] == env["KBUILD_BUILD_HOST"] == "kbuild"
    assert env["SOURCE_DATE_EPOCH"] == "0"


def test_prefix_map_is_relative_to_the_build_dir(tmp_path):
    assert repro.prefix_map_variable(tmp_path / "src/t", tmp_path / "build/p") == \
        "KCPPFLAGS=-fmacro-prefix-map=../../src/t/="


@pytest.mark.parametrize("url, shown", [
    ("redis://user:s3cret@cache:6379", "redis://***@cache:6379"),
    ("http://:tok@h/ccache", "http://***@h/ccache"),
    ("redis://cache:6379", "redis://cache:6379"),
])
def test_redact_url(url, shown):
    assert repro.redact_url(url) == shown
    assert "s3cret" not in repro.redact_url(url) and "tok" not in repro.redact_url(url)


def test_reproducer_is_quoted_and_pastes(tmp_path):
    env = {"KBUILD_BUILD_TIMESTAMP": "Thu Jan 01 00:00:00 UTC 1970", "X": "a'b \"c\" $HOME"}
    cmd = repro.reproducer(env, ["KCFLAGS"], ["sh", "-c", 'printf "%s|%s|%s" "$KBUILD_BUILD_TIMESTAMP" '
                                               '"$X" "${KCFLAGS-unset}"'])
    words = shlex.split(cmd)
    assert words[:3] == ["env", "-u", "KCFLAGS"]
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True,
                         env={**os.environ, "KCFLAGS": "-O0"}, check=True).stdout
    assert out == "Thu Jan 01 00:00:00 UTC 1970|a'b \"c\" $HOME|unset"


def _tree(root: Path) -> Path:
    (root / "src/t").mkdir(parents=True)
    (root / "build/p").mkdir(parents=True)
    (root / "src/t/x.c").write_text('const char *where = __FILE__;\n')
    return root


def _compile(root: Path, cache: Path, ccache: bool, extra: list[str], stats: Path | None = None) -> bytes:
    src = root.resolve() / "src/t"
    argv = ["gcc", f"-fmacro-prefix-map={src}/=", *extra, "-c", str(src / "x.c"), "-o", "x.o"]
    env = {**os.environ, "CCACHE_DIR": str(cache), "CCACHE_BASEDIR": str(root.resolve()),
           "CCACHE_NOHASHDIR": "1", **({"CCACHE_STATSLOG": str(stats)} if stats else {})}
    subprocess.run((["ccache"] if ccache else []) + argv, cwd=root / "build/p", env=env, check=True)
    return (root / "build/p/x.o").read_bytes()


def test_relative_prefix_map_keeps_hits_and_identity(tmp_path):
    one = _tree(tmp_path / "one")
    two = _tree(tmp_path / "deeper/checkout/two")
    cache = tmp_path / "cache"
    rel = ["-fmacro-prefix-map=../../src/t/="]
    # the trap: the kernel's absolute map alone, through ccache, embeds a relative path
    trapped = _compile(one, cache, True, [])
    assert b"../../src/t/x.c" in trapped
    assert b"../../src/t/x.c" not in _compile(one, cache, False, [])
    # kbuild's layout: the relative map too; cached == uncached, in a checkout at another depth
    uncached = _compile(two, cache, False, rel)
    assert b"../../" not in uncached and b"x.c" in uncached
    assert _compile(one, cache, True, rel) == uncached
    stats = tmp_path / "stats"
    assert _compile(two, cache, True, rel, stats) == uncached
    assert "direct_cache_hit" in stats.read_text()   # another path, and still a hit
