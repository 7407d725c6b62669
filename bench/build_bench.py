#!/usr/bin/env python3
"""Where a cold build's time goes: kbuild's make path against bare `make`, same .config.

Needs a configured profile (`doit config:nfsroot`). Each build starts from a fresh
build directory holding the profile's .config, brought to `make prepare` untimed (the
same for every variant), then times the compile of a representative sub-tree
(default: kernel/ fs/nfs/ lib/) or, with --full, the profile's image:

  bare            make CC=gcc, no ccache, output to a file (the anchor)
  bare+parse      the same through kbuild's run_make (log, progress parsing): output parsing
  cold            kbuild's path: run_make, CC="ccache gcc", kbuild's ccache settings, an
                  empty cache (a fresh CCACHE_DIR)
  -j1             bare make with -j1, to put -jN's share in numbers (only with --jobs-figure)
  warm            kbuild's path again, cache warm (filled by the cold run), build dir removed
  bare-warm       bare make CC="ccache gcc" with the same warm cache and settings (anchor)
  cold+A+B        cold with ccache settings A, B, ... each one of: depend (CCACHE_DEPEND),
                  nodepend, nocompress, inode (CCACHE_INODECACHE), noinode, tmpfs (the
                  build directory on /dev/shm: what the disk costs)
  tuxmake         (--full only, if `tuxmake` is installed: pip install -e '.[bench]')
                  TuxMake's null (local) runtime on the same .config and the same warm cache

Rounds are interleaved and rotated (round i starts with the i-th variant); with
--warm-cache one untimed warm build runs first, so the cache is in the page cache for
every warm row. With --full every variant is timed whole (from a build dir holding only .config: the
config sync, prepare and the image), as TuxMake's own run is; otherwise `make prepare` is
untimed and only the sub-tree's compile is timed.

Usage: .venv/bin/python bench/build_bench.py [--profile nfsroot] [--runs 5] [--json]
       [--subdirs kernel/ fs/nfs/ lib/] [--full] [--variants bare cold ...]
Asserts nothing; full kernel builds take ~8 min each on 2 cores: use --full on a quiet machine.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kbuild.build import make, repro  # noqa: E402
from kbuild.build.kernel import build_environment  # noqa: E402
from kbuild.kconfig.environment import detect_toolchain  # noqa: E402
from kbuild.site import layout  # noqa: E402
from kbuild.site.load import load_site  # noqa: E402
from kbuild.source.tree import require_tree  # noqa: E402

# cold+A+B: a cold run with each of these ccache settings (tmpfs: the build dir on /dev/shm)
COLD_FLAGS: dict[str, dict[str, str]] = {
    "depend": {"CCACHE_DEPEND": "1"}, "nodepend": {"CCACHE_NODEPEND": "1"},
    "nocompress": {"CCACHE_NOCOMPRESS": "1"},
    "inode": {"CCACHE_INODECACHE": "1"}, "noinode": {"CCACHE_NOINODECACHE": "1"}, "tmpfs": {},
}
DEFAULT_VARIANTS = ("bare", "cold", "warm", "bare-warm", "bare+parse", "cold+depend", "cold+nocompress",
                    "cold+tmpfs")


class Bench:
    def __init__(self, profile_name: str, targets: list[str], jobs: int, scratch: Path) -> None:
        self.site = load_site(REPO / "kbuild.toml")
        self.profile = self.site.profile(profile_name)
        self.tree = require_tree(self.site, self.profile)
        self.config = layout.config_path(self.site, self.profile)
        if not self.config.is_file():
            sys.exit(f"error: {self.config} missing: run `.venv/bin/doit config:{profile_name}` first")
        self.tc = detect_toolchain()
        self.targets = targets
        self.jobs = jobs
        self.scratch = scratch
        self.warm_cache: Path | None = None
        # --full times everything from a build dir holding only .config, as TuxMake's run
        # (its config step, prepare, the image) is timed: the same work on every side
        self.whole = False
        self.tux_warm = False

    def _variables(self, ccache: bool) -> list[str]:
        # as kernel_make passes them, the __FILE__ prefix map included (every build dir
        # here is as deep under artifacts/ as kbuild's own, so the map is the same text
        # and a cache kbuild's builds filled serves --warm-cache)
        bdir = layout.build_dir(self.site, self.profile)
        v = make.make_variables(self.profile.arch, self.tc) + [repro.prefix_map_variable(self.tree, bdir)]
        cc = "ccache gcc" if ccache else "gcc"
        return [f"CC={cc}" if x.startswith("CC=") else x for x in v]

    def _builddir(self, tmpfs: bool = False) -> Path:
        base = Path("/dev/shm") if tmpfs else self.scratch
        bdir = Path(tempfile.mkdtemp(prefix="kbuild-bb-", dir=base))
        shutil.copy(self.config, bdir / ".config")
        return bdir

    def _env(self, cache: Path | None, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = build_environment(self.site)           # kbuild's environment and ccache settings
        if cache is not None:
            env["CCACHE_DIR"] = str(cache)
        env.update(extra or {})
        return env

    def _prepare(self, bdir: Path, variables: list[str], env: dict[str, str]) -> None:
        subprocess.run(["make", "-C", str(self.tree), f"O={bdir}", f"-j{self.jobs}", *variables,
                        "olddefconfig", "prepare"], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _bare(self, bdir: Path, variables: list[str], env: dict[str, str], jobs: int) -> float:
        log = bdir / "bench-make.log"
        t = time.perf_counter()
        with open(log, "w") as out:
            subprocess.run(["make", "-C", str(self.tree), f"O={bdir}", f"-j{jobs}", *variables,
                            *self.targets], env=env, check=True, stdout=out, stderr=subprocess.STDOUT)
        return time.perf_counter() - t

    def _kbuild(self, bdir: Path, variables: list[str], env: dict[str, str]) -> float:
        argv = make.make_argv(self.tree, bdir, variables, self.targets, self.jobs)
        t = time.perf_counter()
        make.run_make(argv, env, bdir / "bench-kbuild.log", "bench", progress=lambda s: None)
        return time.perf_counter() - t

    def run(self, variant: str) -> float:
        ccache = variant not in ("bare", "bare+parse", "-j1")
        variables = self._variables(ccache)
        cache: Path | None = None
        extra: dict[str, str] = {}
        keep_cache = False
        if variant == "cold" and self.warm_cache is None:
            # the first cold run's cache becomes the warm cache: no extra build to fill it
            cache = self.warm_cache = Path(tempfile.mkdtemp(prefix="kbuild-bb-warm-", dir=self.scratch))
            keep_cache = True
        elif variant.startswith("cold"):
            cache = Path(tempfile.mkdtemp(prefix="kbuild-bb-ccache-", dir=self.scratch))
            for flag in variant.split("+")[1:]:
                extra.update(COLD_FLAGS[flag])
        elif variant in ("warm", "bare-warm", "tuxmake"):
            if self.warm_cache is None:
                self.warm_cache = Path(tempfile.mkdtemp(prefix="kbuild-bb-warm-", dir=self.scratch))
                self.run_into(self.warm_cache)
            cache = self.warm_cache
        else:
            extra["CCACHE_DISABLE"] = "1"
        env = self._env(cache, extra)
        bdir = self._builddir(tmpfs="+tmpfs" in variant)
        try:
            if variant == "tuxmake":
                if not self.tux_warm:
                    # TuxMake compiles with CROSS_COMPILE=x86_64-linux-gnu- (another
                    # compiler name to ccache): its first run fills its own entries of the
                    # same cache, untimed, as kbuild's warm cache was filled by a cold run
                    self._tuxmake(bdir, env)
                    shutil.rmtree(bdir, ignore_errors=True)
                    bdir = self._builddir()
                    self.tux_warm = True
                return self._tuxmake(bdir, env)
            if not self.whole:
                # prepare untimed; for cold runs its compiles go to a throw-away cache
                prep_env = dict(env)
                if variant.startswith("cold"):
                    prep_env["CCACHE_DISABLE"] = "1"
                self._prepare(bdir, variables, prep_env)
            if variant in ("bare", "bare-warm"):
                return self._bare(bdir, variables, env, self.jobs)
            if variant == "-j1":
                return self._bare(bdir, variables, env, 1)
            return self._kbuild(bdir, variables, env)
        finally:
            shutil.rmtree(bdir, ignore_errors=True)
            if variant.startswith("cold") and cache is not None and not keep_cache:
                shutil.rmtree(cache, ignore_errors=True)

    def run_into(self, cache: Path) -> None:
        """Fill ``cache`` with one untimed build of the same targets (the warm cache)."""
        variables = self._variables(True)
        env = self._env(cache)
        bdir = self._builddir()
        try:
            self._prepare(bdir, variables, env)
            self._kbuild(bdir, variables, env)
        finally:
            shutil.rmtree(bdir, ignore_errors=True)

    def _tuxmake(self, bdir: Path, env: dict[str, str]) -> float:
        tux = shutil.which("tuxmake") or str(Path(sys.executable).parent / "tuxmake")
        if not Path(tux).exists():
            raise FileNotFoundError("tuxmake is not installed (pip install -e '.[bench]')")
        out = Path(tempfile.mkdtemp(prefix="kbuild-bb-tux-", dir=self.scratch))
        t = time.perf_counter()
        subprocess.run([tux, "--runtime", "null", "--target-arch", "x86_64", "--toolchain", "gcc",
                        "--wrapper", "ccache", "--kconfig", str(self.config), "--directory", str(self.tree),
                        "--build-dir", str(bdir), "--output-dir", str(out), "--jobs", str(self.jobs),
                        "kernel"], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(out, ignore_errors=True)
        return time.perf_counter() - t


def _stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def rows(results: dict[str, list[float]], what: str) -> list[dict[str, object]]:
    def row(figure: str, variant: str, anchor: str, target: float | None,
            anchor_name: str) -> dict[str, object]:
        k, a = _stats(results.get(variant, [])), _stats(results.get(anchor, []))
        ratio = k["median"] / a["median"] if k and a else None
        return {"figure": f"{figure} ({what})", "target": f"<= {target:.2f}x" if target else "(breakdown)",
                "kbuild": k, "anchor_name": anchor_name, "anchor": a, "ratio": ratio,
                "ok": bool(ratio is not None and target is not None and ratio <= target)}
    out = [row("cold build, empty cache, kbuild's make path", "cold", "bare", 1.10, "bare make, no ccache"),
           row("warm-cache rebuild, kbuild's make path", "warm", "bare-warm", 1.02,
               "bare make, same warm ccache")]
    if "tuxmake" in results:
        out.append(row("warm-cache rebuild vs TuxMake", "warm", "tuxmake", 1.00, "TuxMake null runtime"))
    labels = {"bare+parse": "output parsing (run_make, no ccache)", "-j1": "bare make -j1"}
    words = {"depend": "depend mode", "nodepend": "depend mode off", "nocompress": "compression off",
             "inode": "inode cache", "noinode": "inode cache off", "tmpfs": "build dir on tmpfs"}
    for variant in results:
        if variant.startswith("cold+"):
            labels[variant] = "cold, ccache " + ", ".join(words[f] for f in variant.split("+")[1:])
    for variant, label in labels.items():
        if variant in results:
            out.append(row(f"breakdown: {label}", variant, "bare", None, "bare make, no ccache"))
    return [r for r in out if r["kbuild"] is not None]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="nfsroot")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--subdirs", nargs="+", default=["kernel/", "fs/nfs/", "lib/"])
    ap.add_argument("--full", action="store_true", help="build the whole image (slow; a quiet machine)")
    ap.add_argument("--variants", nargs="+", default=None)
    ap.add_argument("--jobs", type=int, default=make.default_jobs())
    ap.add_argument("--jobs-figure", action="store_true", help="also time bare make -j1")
    ap.add_argument("--warm-cache", type=Path, default=None,
                    help="use this (already warm) ccache dir for the warm rows instead of filling "
                         "a fresh one with a cold build first; TuxMake's entries are added to it")
    args = ap.parse_args()
    variants = list(args.variants or DEFAULT_VARIANTS)
    if args.jobs_figure and "-j1" not in variants:
        variants.append("-j1")
    if args.full and "tuxmake" not in variants and args.variants is None:
        variants.append("tuxmake")
    scratch = Path(tempfile.mkdtemp(prefix="kbuild-bb-", dir=REPO / "artifacts"))
    try:
        bench = Bench(args.profile, [], args.jobs, scratch)
        bench.targets = [bench.profile.image] if args.full else list(args.subdirs)
        bench.whole = args.full
        bench.warm_cache = args.warm_cache
        what = (f"{args.profile}, {'full image' if args.full else ' '.join(bench.targets)}, "
                f"-j{args.jobs}, {args.runs} runs")
        results: dict[str, list[float]] = {}
        if bench.warm_cache is not None and any(v in ("warm", "bare-warm", "tuxmake") for v in variants):
            # one untimed warm build first: the cache's files are then in the page cache for
            # every warm row alike (session 5's first round paid the disk reads on one side)
            bench.run_into(bench.warm_cache)
        for i in range(args.runs):
            # interleaved (a load change hits every variant alike) and rotated: each variant
            # runs first in some round, so none always follows the same other one
            for v in variants[i % len(variants):] + variants[:i % len(variants)]:
                try:
                    results.setdefault(v, []).append(bench.run(v))
                except (FileNotFoundError, subprocess.CalledProcessError) as e:
                    print(f"# {v}: {e}", file=sys.stderr)
                got = results.get(v, [])
                print(f"# run {i + 1}: {v} {got[-1] if len(got) > i else 'failed'}", file=sys.stderr,
                      flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    out = rows(results, what)
    if args.json:
        print(json.dumps(out))
        return
    print(f"# {what}: median [min-max] seconds")
    for v, values in results.items():
        s = _stats(values)
        if s:
            print(f"{v:<18} {s['median']:8.1f} [{s['min']:.1f}-{s['max']:.1f}]")
    for r in out:
        print(f"{r['figure']}: ratio {r['ratio']:.3f}" if r["ratio"] else r["figure"])


if __name__ == "__main__":
    main()
