#!/usr/bin/env python3
"""Figures for builds beyond one machine (issue 12); asserts nothing, prints a table to paste.

Each build runs in a fresh build dir of a fresh builder site (a copy of this site at its
own path, the unpacked source hard-linked in, an empty compiler cache of its own), through
kbuild's one make path (tests/farmbuild.py → kernel_make), in a lab network namespace:

  cold local       engine local, empty local cache, filling an empty redis remote storage
                   (builder A of the shared-cache proof)
  cold distcc      two distccd servers in the namespace (on this same machine: it shows
                   distcc's overhead and reach, not a speed-up - no CPU is added)
  warm shared      another builder (another checkout path, empty local cache) reading the
                   remote storage the first row filled (builder B)

Per row: wall seconds (median of --runs, min/max), the start-up (until the first compile of
the targets: syncconfig, host tools, prepare) and the tail (after the last compile: archives,
links, image), from make's step lines. The load average is printed beside every figure.

Distributable fraction, from the cold runs: C = CPU seconds of a cold local build (children's
rusage), R = CPU the two distccd servers spent (their processes' own and reaped children's
CPU in /proc: distccd's own "cc times" log line reads 0 here), f = R / C. The client's
preprocessing (the CPU of distcc's children for remote jobs; its "cpp times" read 0 too)
stays local. Per-job overhead o = (sum of the client's
"elapsed compilation time" of the J remote jobs - R) / J.

Projection (a model, not a measurement) for N servers of k cores beside L local cores:

    T(N) = S + P * ((1 - f) + f * L / (L + N*k)) + J * o / (N*k)

S = start-up + tail of the cold local build (serial), P = its wall time minus S. Amdahl's
law with the measured serial part, plus distcc's per-job cost spread over the servers' slots;
network bandwidth, stragglers and the client's preprocessing limit are left out.

Usage: .venv/bin/python bench/farm_figures.py [--runs 5] [--subtree fs/nfs/ ...] [--full]
       [--profile nfsroot] [--server-cores 8]
(root for the namespace; `doit config:PROFILE` done in this site, its source unpacked).
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kbuild.build.make import default_jobs  # noqa: E402
from kbuild.lab.farm import Farm, farm  # noqa: E402
from kbuild.site import layout  # noqa: E402
from kbuild.site.load import load_site  # noqa: E402
from tests.farmbuild import builder_argv, make_builder, run_builder  # noqa: E402

_CLIENT_CHILDREN = re.compile(r"\(dcc_exit\) exit: .*children: ([\d.]+) user ([\d.]+) sys")
ROWS = ("cold local (fills the shared cache)", "cold distcc (2 servers)", "warm shared")
_REMOTE_ELAPSED = re.compile(r"elapsed compilation time ([\d.]+)s")

def _med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def _cell(xs: list[float]) -> str:
    return f"{_med(xs):.1f} ({min(xs):.1f}-{max(xs):.1f})" if xs else "-"


def _proc_cpu(pid: int) -> float:
    """CPU seconds of a distccd: the master and its pre-forked workers, each with the
    compilers it reaped (the workers live on, so the master's own counters miss them)."""
    ticks = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(name) == pid or int(fields[1]) == pid:
            ticks += sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def _load() -> float:
    return os.getloadavg()[0]


class Bench:
    def __init__(self, work: Path, profile: str, targets: list[str], env: dict[str, str]) -> None:
        self.work, self.profile, self.targets, self.env = work, profile, targets, env
        self.rows: dict[str, dict[str, list[float]]] = {
            r: {"wall": [], "start_up": [], "tail": [], "load": []} for r in ROWS}
        self.cpu_local: list[float] = []
        self.remote_cpu: list[float] = []
        self.cpp_cpu: list[float] = []
        self.jobs: list[float] = []
        self.overhead: list[float] = []
        self.remote_hit_rate: list[float] = []

    def build(self, f: Farm, row: str, name: str, toml: str) -> tuple[dict[str, object], Path, float]:
        site_file = make_builder(self.work / name / "site", REPO, self.profile, toml)
        bdir = site_file.parent / "artifacts/build" / self.profile
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        load0 = _load()
        out = run_builder(f.wrap(builder_argv(site_file, self.profile, bdir, self.targets)), self.env,
                          timeout=7200)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        r = self.rows[row]
        r["wall"].append(float(out["seconds"]))     # type: ignore[arg-type]
        r["start_up"].append(float(out["start_up"]))  # type: ignore[arg-type]
        r["tail"].append(float(out["tail"]))          # type: ignore[arg-type]
        r["load"].append((load0 + _load()) / 2)
        print(f"  {row}: {out['seconds']:.1f} s (start-up {out['start_up']:.1f} s, tail "
              f"{out['tail']:.1f} s), load {load0:.1f}-{_load():.1f}; {out['summary']}", flush=True)
        return out, site_file.parent, cpu

    def one_run(self, f: Farm, i: int, distcc: str, shared: str, servers: list) -> None:
        _out, fill_root, cpu = self.build(f, ROWS[0], f"{i}-local", shared)
        self.cpu_local.append(cpu)
        for srv in servers:
            srv.log.write_text("")
        cpu0 = sum(_proc_cpu(s.proc.pid) for s in servers)
        out, root, _cpu_d = self.build(f, ROWS[1], f"{i}-distcc", distcc)
        remote = sum(_proc_cpu(s.proc.pid) for s in servers) - cpu0
        client = (root / "artifacts/logs/distcc.log").read_text(errors="replace")
        jobs = sum(int(n) for n in out["remote_by_host"].values())  # type: ignore[union-attr]
        # elapsed times of the remote jobs: the line follows each job's "exec on HOST" line
        elapsed, cpp, remote_job = 0.0, 0.0, {}
        for line in client.splitlines():   # jobs interleave: follow each distcc process
            pid = line.split("]", 1)[0]
            if " exec on " in line:
                remote_job[pid] = " exec on localhost" not in line
            m = _REMOTE_ELAPSED.search(line)
            if m and remote_job.get(pid):
                elapsed += float(m.group(1))
            m = _CLIENT_CHILDREN.search(line)   # distcc's last line: its children = the cpp
            if m and remote_job.pop(pid, False):
                cpp += float(m.group(1)) + float(m.group(2))
        self.remote_cpu.append(remote)
        self.cpp_cpu.append(cpp)
        self.jobs.append(jobs)
        if jobs:
            self.overhead.append(max(0.0, elapsed - remote) / jobs)
        shutil.rmtree(root, ignore_errors=True)
        out, root, _ = self.build(f, ROWS[2], f"{i}-warm/another/checkout", shared)
        cache = out["cache"]
        assert isinstance(cache, dict)
        # as the proof counts: B's own local hits (one input compiled twice) left out
        cacheable = cache["remote_hits"] + cache["misses"]
        self.remote_hit_rate.append(cache["remote_hits"] / cacheable if cacheable else 0.0)
        for p in (fill_root, root):
            shutil.rmtree(p, ignore_errors=True)

    def report(self, what: str, server_cores: int) -> None:
        cold = _med(self.rows[ROWS[0]]["wall"])
        print(f"\n### Farm figures: {what}\n")
        print(f"{default_jobs()} local cores; n = {len(self.cpu_local)} runs per row; seconds as "
              "median (min-max); load = 1-min load average during the row (median)\n")
        print("| build | wall s | start-up s | tail s | vs cold local | load |")
        print("|---|---|---|---|---|---|")
        for row in ROWS:
            r = self.rows[row]
            print(f"| {row} | {_cell(r['wall'])} | {_cell(r['start_up'])} | {_cell(r['tail'])} | "
                  f"{_med(r['wall']) / cold:.0%} | {_med(r['load']):.1f} |")
        warm = _med(self.rows[ROWS[2]]["wall"])
        print(f"\nwarm shared: {_med(self.remote_hit_rate):.0%} remote hits of remote hits + misses "
              f"(median); the shared-cache proof's B/A = warm shared / cold local = {warm / cold:.0%} "
              "(issue's target <= 30 %)")
        cpu, remote = _med(self.cpu_local), _med(self.remote_cpu)
        f = min(1.0, remote / cpu) if cpu else 0.0
        r = self.rows[ROWS[0]]
        serial = _med([a + b for a, b in zip(r["start_up"], r["tail"], strict=True)])
        par = cold - serial
        jobs, o = _med(self.jobs), _med(self.overhead) if self.overhead else 0.0
        print(f"\nC (CPU of a cold local build) = {cpu:.0f} s; R (compiled on the servers) = "
              f"{remote:.0f} s; preprocessing for them on the client = {_med(self.cpp_cpu):.0f} s")
        print(f"distributable fraction f = R/C = {f:.2f}; serial wall S = {serial:.1f} s "
              f"(start-up + tail) of {cold:.1f} s; J = {jobs:.0f} remote jobs, per-job "
              f"overhead o = {o:.2f} s")
        lc, k = default_jobs(), server_cores
        print(f"\nProjection (model, not measured): T(N) = S + P*((1-f) + f*L/(L+N*k)) + J*o/(N*k), "
              f"L = {lc}, k = {k}, P = {par:.1f} s\n")
        print("| servers | projected wall s | vs cold local |")
        print("|---|---|---|")
        for n in (4, 8, 16):
            t = serial + par * ((1 - f) + f * lc / (lc + n * k)) + jobs * o / (n * k)
            print(f"| {n} | {t:.1f} | {t / cold:.0%} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--profile", default="nfsroot")
    ap.add_argument("--subtree", nargs="+", default=["fs/nfs/"],
                    help="make these sub-directories (default: fs/nfs/, as the farm tests)")
    ap.add_argument("--full", action="store_true", help="build the profile's image instead")
    ap.add_argument("--server-cores", type=int, default=8, help="k of the projection")
    args = ap.parse_args()
    site = load_site(REPO / "kbuild.toml")
    profile = site.profile(args.profile)
    targets = [profile.image] if args.full else args.subtree
    env = {"FARM_CONFIG": str(layout.config_path(site, profile))}
    work = Path(tempfile.mkdtemp(prefix="kbuild-farm-bench-"))
    bench = Bench(work, args.profile, targets, env)
    try:
        with farm(work / "farm") as f:
            d1, d2 = f.distccd("d1", "192.0.2.11"), f.distccd("d2", "192.0.2.12")
            cache = f.redis("cache", "192.0.2.20")
            distcc = f'[build]\nengine = "distcc"\nhosts = ["{d1.spec}", "{d2.spec}"]\n'
            shared = f'[build]\nccache_remote = "{cache.spec}"\n'
            for i in range(args.runs):
                print(f"run {i + 1}/{args.runs}", flush=True)
                bench.one_run(f, i, distcc, shared, [d1, d2])
                _flush_redis(f, cache.address)
                # the tables so far after every run: a long session that ends early still has them
                bench.report(f"{args.profile} `make {' '.join(targets)}`", args.server_cores)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _flush_redis(f: Farm, address: str) -> None:
    subprocess.run(f.wrap(["redis-cli", "-h", address, "flushall"]), capture_output=True, check=False)


if __name__ == "__main__":
    main()
