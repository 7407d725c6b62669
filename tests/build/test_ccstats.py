"""Per-build cache counts from ccache's stats_log: a synthetic log, and a real one."""
from __future__ import annotations

import os
import subprocess

from kbuild.build.ccstats import CacheStats, read_stats_log

LOG = """\
# a.c
cache_miss
direct_cache_miss
local_storage_miss
# b.c
direct_cache_hit
local_storage_hit
# c.c
direct_cache_hit
local_storage_miss
remote_storage_hit
# d.c
called_for_preprocessing
# e.c
cache_miss
remote_storage_error
"""


def test_counts(tmp_path):
    (tmp_path / "log").write_text(LOG)
    s = read_stats_log(tmp_path / "log")
    assert s == CacheStats(local_hits=1, remote_hits=1, misses=2, uncacheable=1, remote_errors=1)
    assert s.cacheable == 4 and s.remote_hit_rate() == 0.25
    assert s.summary() == ("ccache: 1 local hits, 1 remote hits, 2 misses, "
                           "1 remote storage errors")


def test_missing_log_is_empty(tmp_path):
    assert read_stats_log(tmp_path / "none") == CacheStats()


def test_real_ccache_log(tmp_path):
    (tmp_path / "x.c").write_text("int x;\n")
    env = {**os.environ, "CCACHE_DIR": str(tmp_path / "cache"),
           "CCACHE_STATSLOG": str(tmp_path / "log")}
    for _ in range(3):
        subprocess.run(["ccache", "gcc", "-c", "x.c", "-o", "x.o"], cwd=tmp_path, env=env, check=True)
    assert read_stats_log(tmp_path / "log") == CacheStats(local_hits=2, misses=1)
