"""Host programs go through ccache too, and tools/' absolute make targets (objtool's
``-Wp,-MT,/abs/path``) do not keep another checkout from hitting: real ccache and gcc."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kbuild.build.ccstats import read_stats_log
from kbuild.build.make import ccache_environment, make_variables
from kbuild.kconfig.environment import Toolchain


def test_host_compiler_goes_through_the_launcher():
    assert "HOSTCC=ccache gcc" in make_variables("x86_64", Toolchain("gcc", "ld", "ccache"))
    assert not any(v.startswith("HOSTCC=") for v in make_variables("x86_64", Toolchain("gcc", "ld")))


def _compile(checkout: Path, cache: Path, env_extra: dict[str, str]) -> None:
    src, out = checkout / "src/tools", checkout / "build/tools"
    src.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    (src / "x.c").write_text('#include "x.h"\nint f(void) { return X; }\n')
    (src / "x.h").write_text("#define X 3\n")
    env = {**os.environ, **ccache_environment(cache, checkout), **env_extra}
    obj = out / "x.o"
    # what tools/build/Makefile.build runs: absolute object, depfile and make target
    subprocess.run(["ccache", "gcc", "-O2", f"-Wp,-MD,{out}/.x.o.d", f"-Wp,-MT,{obj}",
                    f"-I{src}", "-c", "-o", str(obj), "x.c"], cwd=src, env=env, check=True)


@pytest.mark.parametrize("ignore, hits", [(None, 0), ("-Wp,-MT,*", 1)])
def test_absolute_make_target_hits_from_another_checkout(tmp_path, ignore, hits):
    cache, log = tmp_path / "cache", tmp_path / "stats.log"
    extra = {"CCACHE_STATSLOG": str(log)}
    if ignore is None:
        extra["CCACHE_IGNOREOPTIONS"] = ""        # without kbuild's setting
    else:
        assert ccache_environment(cache, tmp_path)["CCACHE_IGNOREOPTIONS"] == ignore
    _compile(tmp_path / "a", cache, extra)
    _compile(tmp_path / "b/another/depth", cache, extra)
    stats = read_stats_log(log)
    assert (stats.local_hits, stats.misses) == (hits, 2 - hits)
