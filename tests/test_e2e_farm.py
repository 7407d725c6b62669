"""Builds beyond one machine, for real: two distccd servers and a redis-server (ccache's
remote storage) in a private network namespace, each on its own address; builders are
site copies at other paths with their own empty compiler caches, building part of the
nfsroot tree (fs/nfs/) through kbuild's one make path (kernel_make).

Identity is checked object by object against the work site's local build of the same
profile: distcc (and a server dying mid-build) must not change a byte."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from kbuild.build.make import default_jobs
from tests.e2e import REPO, command_env
from tests.farmbuild import builder_argv, make_builder, run_builder

pytestmark = [pytest.mark.build]
TARGETS = ["fs/nfs/"]


@pytest.fixture
def local_build(work_site) -> Path:
    """The work site's nfsroot build dir, built locally (`doit kernel:nfsroot`)."""
    work_site.kernel("nfsroot")
    return work_site.artifacts / "build" / "nfsroot"


@pytest.fixture
def lab(tmp_path):
    from kbuild.lab.farm import farm

    with farm(tmp_path / "farm") as f:
        yield f


def _objects(bdir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(bdir)): p.read_bytes() for d in TARGETS for p in (bdir / d).rglob("*.o")}


def _same_objects(built: Path, reference: Path) -> int:
    mine, ref = _objects(built), _objects(reference)
    assert len(mine) > 20 and set(mine) == set(ref)
    differ = [name for name in mine if mine[name] != ref[name]]
    assert differ == [], differ
    return len(mine)


def _builder(tmp_path: Path, name: str, work_site, build_toml: str) -> tuple[Path, Path]:
    site = make_builder(tmp_path / name / "site", work_site.root, "nfsroot", build_toml)
    return site, site.parent / "artifacts" / "build" / "nfsroot"


def _env(local_build: Path) -> dict[str, str]:
    return {"FARM_CONFIG": str(local_build / ".config")}


def test_distcc_spreads_over_both_servers_and_changes_no_byte(tmp_path, work_site, local_build, lab):
    d1, d2 = lab.distccd("d1", "192.0.2.11"), lab.distccd("d2", "192.0.2.12")
    site, bdir = _builder(tmp_path, "b", work_site,
                          f'[build]\nengine = "distcc"\nhosts = ["{d1.spec}", "{d2.spec}"]\n')
    out = run_builder(lab.wrap(builder_argv(site, "nfsroot", bdir, TARGETS)), _env(local_build))
    print(out["summary"], f"servers: d1 {d1.jobs_done()} d2 {d2.jobs_done()} jobs")
    assert out["engine"] == "distcc" and out["jobs"] == 2 + 2 + default_jobs()  # pool + local
    assert d1.jobs_done() > 0 and d2.jobs_done() > 0          # the servers' own logs
    by_host = out["remote_by_host"]
    assert isinstance(by_host, dict)
    assert by_host == {"192.0.2.11:3632": d1.jobs_done(), "192.0.2.12:3632": d2.jobs_done()}
    assert out["warnings"] == []
    _same_objects(bdir, local_build)


def test_a_server_killed_mid_build_changes_nothing(tmp_path, work_site, local_build, lab):
    d1, d2 = lab.distccd("d1", "192.0.2.11"), lab.distccd("d2", "192.0.2.12")
    site, bdir = _builder(tmp_path, "k", work_site,
                          f'[build]\nengine = "distcc"\nhosts = ["{d1.spec}", "{d2.spec}"]\n')
    env = command_env()
    env.update(_env(local_build), PYTHONPATH=str(REPO))
    proc = subprocess.Popen(lab.wrap(builder_argv(site, "nfsroot", bdir, TARGETS)), cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 1200
    while d1.jobs_done() < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, "the build ended before d1 took 3 jobs"
    lab.stop("d1", signal.SIGKILL)
    killed_after = d1.jobs_done()
    out, err = proc.communicate(timeout=1800)
    assert proc.returncode == 0, out + err
    result = json.loads(out)
    print(result["summary"], f"d1 killed after {killed_after} jobs; d2 {d2.jobs_done()} jobs")
    assert d2.jobs_done() > 0
    assert result["remote_by_host"].get("192.0.2.11:3632", 0) <= killed_after
    _same_objects(bdir, local_build)


def test_stopped_pool_falls_back_to_local_with_one_warning(work_site, local_build, lab):
    d1, d2 = lab.distccd("d1", "192.0.2.11"), lab.distccd("d2", "192.0.2.12")
    lab.stop("d1")
    lab.stop("d2")
    # the work site's own build dir: up to date, so this is the whole path minus compiling
    argv = builder_argv(work_site.toml, "nfsroot", local_build, ["bzImage"])
    out = run_builder(lab.wrap(argv), {"KBUILD_BUILD_ENGINE": "distcc",
                                       "KBUILD_DISTCC_HOSTS": f"{d1.spec} {d2.spec}"}, timeout=600)
    assert out["engine"] == "local"
    warnings = [line for line in str(out["stderr"]).splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, out["stderr"]
    assert "distcc pool unreachable: 192.0.2.11:3632/2 (Connection refused), " \
           "192.0.2.12:3632/2 (Connection refused); compiling locally" in warnings[0]


def test_shared_cache_serves_another_checkout(tmp_path, work_site, local_build, lab):
    r = lab.redis("cache", "192.0.2.20", user="kbuild", password="s3cret")
    url = f"redis://kbuild:s3cret@{r.address}:{r.port}"     # credentials must never show
    remote = f'[build]\nccache_remote = "{url}"\n'
    site_a, bdir_a = _builder(tmp_path, "a", work_site, remote)
    site_b, bdir_b = _builder(tmp_path / "another/checkout/deeper", "b", work_site, remote)
    a = run_builder(lab.wrap(builder_argv(site_a, "nfsroot", bdir_a, TARGETS)), _env(local_build))
    b = run_builder(lab.wrap(builder_argv(site_b, "nfsroot", bdir_b, TARGETS)), _env(local_build))
    for name, out in (("A (empty caches)", a), ("B (empty local cache, shared remote)", b)):
        print(f"builder {name}: {out['seconds']:.1f} s (start-up {out['start_up']:.1f} s, "
              f"after the last compile {out['tail']:.1f} s), {out['summary']}")
    print(f"B/A = {float(b['seconds']) / float(a['seconds']):.0%} (issue's target <= 30 %); "
          f"load {os.getloadavg()[0]:.1f}")
    ca, cb = a["cache"], b["cache"]
    assert isinstance(ca, dict) and isinstance(cb, dict)
    assert ca["remote_hits"] == 0 and ca["misses"] > 50
    # B's local hits can only be its own build compiling one input twice (A has as many)
    assert cb["local_hits"] <= ca["local_hits"]
    assert cb["remote_hits"] >= 0.95 * (cb["remote_hits"] + cb["misses"])
    assert "s3cret" not in a["summary"] + b["summary"]
    # times are printed, never asserted (house rule): bench/farm_figures.py measures the ratio
    for out in (a, b):
        text = json.dumps(out)
        assert "s3cret" not in text and "redis://***@192.0.2.20:6379" in str(out["reproducer"])
    _same_objects(bdir_b, local_build)


def test_shared_cache_down_builds_with_one_warning(tmp_path, work_site, local_build, lab):
    r = lab.redis("cache", "192.0.2.20")
    lab.stop("cache")
    argv = builder_argv(work_site.toml, "nfsroot", local_build, ["bzImage"])
    out = run_builder(lab.wrap(argv), {"KBUILD_CCACHE_REMOTE": f"redis://u:pw@{r.address}:{r.port}"},
                      timeout=600)
    warnings = [line for line in str(out["stderr"]).splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: ccache remote storage redis://***@192.0.2.20:6379 unreachable "
                        "(Connection refused); building with the local cache only"], out["stderr"]
    assert "pw@" not in json.dumps(out)
