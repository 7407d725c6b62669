#!/usr/bin/env python3
"""Figures for builds beyond one machine (issue 12); asserts nothing, prints a table.

Each run builds TARGETS of a profile in a fresh build dir of a builder site (a copy of this
site at its own path, the unpacked source hard-linked in) with an empty compiler cache:

  cold local     engine local
  cold distcc    two distccd servers in a lab namespace (on this same machine: the figure
                 is distcc's overhead and reach, not a speed-up - no CPU is added)
  warm shared    empty local cache, a redis-server remote storage filled by one earlier
                 cold build of another builder (another checkout path)

Wall seconds are the median of --runs (min/max beside). From the cold distcc runs' logs:
the CPU seconds the servers spent compiling (distccd "cc times"), the client's local
preprocessing, and the whole build's CPU (children's rusage of a cold local run) give the
distributable fraction f. The projection for N servers of k cores each, beside L local
cores, is a model, not a measurement:

    T(N) = (1 - f) * C / L  +  f * C / (L + N * k)        (C: CPU seconds of a cold build)

i.e. what cannot be distributed (preprocessing, linking, host tools, objtool, make) stays
on the L local cores, and the compile work shares L + N*k cores perfectly; network time,
stragglers and the client's preprocessing limit (one core preprocesses for ~8 remote
compiles) are left out, so the real numbers are worse.

Usage: .venv/bin/python bench/farm_figures.py [--runs 5] [--targets bzImage] [--profile nfsroot]
(needs root for the namespace and `doit config:PROFILE` done in this site).
"""
from __future__ import annotations

import argparse
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kbuild.build.make import default_jobs  # noqa: E402
from kbuild.lab.farm import Farm, farm  # noqa: E402
from kbuild.site import layout  # noqa: E402
from kbuild.site.load import load_site  # noqa: E402
from tests.farmbuild import builder_argv, make_builder, run_builder  # noqa: E402

_CC_TIMES = re.compile(r"cc times: user ([\d.]+)s, system ([\d.]+)s")
_CPP_TIMES = re.compile(r"cpp times: user ([\d.]+)s, system ([\d.]+)s")


def _cpu(text: str, pattern: re.Pattern[str]) -> float:
    return sum(float(u) + float(s) for u, s in pattern.findall(text))


def _fmt(xs: list[float]) -> str:
    return f"{statistics.median(xs):7.1f} s  (min {min(xs):.1f}, max {max(xs):.1f}, n={len(xs)})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--profile", default="nfsroot")
    ap.add_argument("--targets", nargs="+", default=None)
    args = ap.parse_args()
    site = load_site(REPO / "kbuild.toml")
    profile = site.profile(args.profile)
    targets = args.targets or [profile.image]
    config = layout.config_path(site, profile)
    env = {"FARM_CONFIG": str(config)}
    work = Path(tempfile.mkdtemp(prefix="kbuild-farm-bench-"))
    times: dict[str, list[float]] = {"cold local": [], "cold distcc (2 servers)": [], "warm shared": []}
    cpu_local: list[float] = []
    remote_cpu: list[float] = []
    cpp_cpu: list[float] = []
    try:
        with farm(work / "farm") as f:
            d1, d2 = f.distccd("d1", "192.0.2.11"), f.distccd("d2", "192.0.2.12")
            cache = f.redis("cache", "192.0.2.20")
            distcc = f'[build]\nengine = "distcc"\nhosts = ["{d1.spec}", "{d2.spec}"]\n'
            shared = f'[build]\nccache_remote = "{cache.spec}"\n'
            for i in range(args.runs):
                for kind, toml in (("cold local", ""), ("cold distcc (2 servers)", distcc)):
                    site_file = make_builder(work / f"{i}-{kind[:9].replace(' ', '')}" / "site", REPO,
                                             args.profile, toml)
                    bdir = site_file.parent / "artifacts/build" / args.profile
                    for srv in (d1, d2):
                        srv.log.write_text("")
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    out = run_builder(f.wrap(builder_argv(site_file, args.profile, bdir, targets)), env,
                                      timeout=7200)
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    times[kind].append(float(out["seconds"]))
                    if kind == "cold local":
                        cpu_local.append(after.ru_utime + after.ru_stime
                                         - before.ru_utime - before.ru_stime)
                    else:
                        remote_cpu.append(sum(_cpu(s.log.read_text(errors="replace"), _CC_TIMES)
                                              for s in (d1, d2)))
                        dlog = site_file.parent / "artifacts/logs/distcc.log"
                        cpp_cpu.append(_cpu(dlog.read_text(errors="replace"), _CPP_TIMES))
                    print(f"run {i + 1} {kind}: {out['seconds']:.1f} s; {out['summary']}", flush=True)
                    shutil.rmtree(site_file.parent, ignore_errors=True)
                # warm shared: fill the cache from one checkout, build from another
                filler = make_builder(work / f"{i}-fill" / "site", REPO, args.profile, shared)
                run_builder(f.wrap(builder_argv(filler, args.profile,
                                                filler.parent / "artifacts/build" / args.profile,
                                                targets)), env, timeout=7200)
                warm = make_builder(work / f"{i}-warm/another/checkout" / "site", REPO, args.profile,
                                    shared)
                t = time.monotonic()
                out = run_builder(f.wrap(builder_argv(warm, args.profile,
                                                      warm.parent / "artifacts/build" / args.profile,
                                                      targets)), env, timeout=7200)
                times["warm shared"].append(float(out["seconds"]))
                print(f"run {i + 1} warm shared: {out['seconds']:.1f} s "
                      f"({time.monotonic() - t:.1f} s with start-up); {out['summary']}", flush=True)
                for p in (filler, warm):
                    shutil.rmtree(p.parent, ignore_errors=True)
                _flush_redis(f, cache.address)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.profile} {' '.join(targets)}, {default_jobs()} local cores")
    for kind, xs in times.items():
        print(f"  {kind:<26} {_fmt(xs)}")
    cold, warm_t = statistics.median(times["cold local"]), statistics.median(times["warm shared"])
    print(f"  warm shared / cold local: {warm_t / cold:.0%}")
    cpu = statistics.median(cpu_local)
    f_dist = min(1.0, statistics.median(remote_cpu) / cpu) if cpu else 0.0
    print(f"\n  CPU of a cold local build C = {cpu:.0f} s; compiled remotely "
          f"{statistics.median(remote_cpu):.0f} s, preprocessed locally for them "
          f"{statistics.median(cpp_cpu):.0f} s")
    print(f"  distributable fraction f = {f_dist:.2f}")
    lcores, k = default_jobs(), 8
    print(f"  projection (model above; L={lcores} local cores, k={k} cores per server):")
    for n in (4, 8, 16):
        t = (1 - f_dist) * cpu / lcores + f_dist * cpu / (lcores + n * k)
        print(f"    {n:>2} servers: {t:6.0f} s  (x{cpu / lcores / t:.1f} vs local)")


def _flush_redis(f: Farm, address: str) -> None:
    subprocess.run(f.wrap(["redis-cli", "-h", address, "flushall"]), capture_output=True, check=False)


if __name__ == "__main__":
    main()
