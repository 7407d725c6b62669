#!/usr/bin/env python3
"""How fast is `kbuild verify`? Prints figures; not a test.

    .venv/bin/python bench/verify_bench.py [CONFIG] [--srctree DIR] [--runs N] [--khc PATH]

CONFIG defaults to Debian's amd64 distro config (10,644 lines), decompressed
once into a temp file so every tool reads the same plain text. Measured:

* in process: ``verify.verify_config(CONFIG)`` without a source tree, the
  first call (rule files parsed) and the warm calls after it (target: a
  10k-line config in <= 20 ms);
* as a command: ``python -m kbuild verify CONFIG`` (interpreter start,
  imports, rule files, the check, the table), and with ``--json``;
* with ``--srctree``: loading the Kconfig tree, resolving and explaining;
* kernel-hardening-checker ``-c CONFIG`` side by side, when it is installed
  (``--khc PATH``, or ``kernel-hardening-checker`` on PATH).
"""
from __future__ import annotations

import argparse
import lzma
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEBIAN = Path("/usr/src/linux-config-6.1/config.amd64_none_amd64.xz")
DEFAULT_SRCTREE = REPO / "artifacts/src/debian-6.1-4d415b3d3648"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def stats(samples: list[float]) -> str:
    return (f"median {ms(statistics.median(samples))}  min {ms(min(samples))}  "
            f"max {ms(max(samples))}  (n={len(samples)})")


def timed_command(argv: list[str], runs: int) -> tuple[list[float], int]:
    samples = []
    code = 0
    for _ in range(runs):
        t = time.perf_counter()
        code = subprocess.run(argv, capture_output=True, cwd=REPO).returncode
        samples.append(time.perf_counter() - t)
    return samples, code


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("config", nargs="?", help="config to verify (default: Debian amd64)")
    ap.add_argument("--srctree", default=str(DEFAULT_SRCTREE))
    ap.add_argument("--runs", type=int, default=50, help="in-process runs")
    ap.add_argument("--command-runs", type=int, default=10)
    ap.add_argument("--khc", help="kernel-hardening-checker executable")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="verify-bench-") as tmp:
        config = Path(tmp) / "config"
        source = Path(args.config) if args.config else DEBIAN
        data = source.read_bytes()
        if data.startswith(b"\xfd7zXZ"):
            data = lzma.decompress(data)
        config.write_bytes(data)
        lines = data.count(b"\n")
        print(f"config: {source} ({lines} lines, {len(data) // 1024} KiB)")
        print(f"python: {sys.version.split()[0]} ({sys.executable}); "
              f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
        print()

        from kbuild.verify import check as verify  # imported here so import time is not counted

        t = time.perf_counter()
        first = verify.verify_config(config)
        cold = time.perf_counter() - t
        samples, cpu = [], []
        for _ in range(args.runs):
            t, c = time.perf_counter(), time.process_time()
            report = verify.verify_config(config)
            samples.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        print("in process, no srctree (verify.verify_config):")
        print(f"  first call (parses the rule files): {ms(cold)}")
        print(f"  warm, wall: {stats(samples)}   target <= 20 ms: "
              f"{'met' if statistics.median(samples) <= 0.020 else 'MISSED'}")
        print(f"  warm, CPU:  {stats(cpu)}")
        print(f"  result: {'PASS' if report.passed else 'FAIL'}, {len(report.checks)} checks, "
              f"{len(first.failures)} failed")
        print()

        py = sys.executable
        cmd = [py, "-m", "kbuild", "verify", str(config)]
        table, code = timed_command(cmd, args.command_runs)
        js, _ = timed_command(cmd + ["--json"], args.command_runs)
        bare, _ = timed_command([py, "-c", "pass"], args.command_runs)
        print("as a command (python -m kbuild verify):")
        print(f"  table: {stats(table)}  exit {code}")
        print(f"  --json: {stats(js)}")
        print(f"  (python -c pass alone: {stats(bare)})")
        print()

        srctree = Path(args.srctree)
        if (srctree / "Kconfig").is_file():
            from kbuild.kconfig import environment as toolchain
            from kbuild.kconfig import fixsearch as kconfig_fixsearch
            from kbuild.kconfig import tree as kconfig

            t = time.perf_counter()
            env = toolchain.kconfig_environment(srctree.resolve(), "x86_64", toolchain.detect_toolchain())
            tree = kconfig.load_tree(srctree.resolve(), "x86_64", env, Path(tmp) / "work")
            load = time.perf_counter() - t
            t = time.perf_counter()
            kconfig_fixsearch.resolve_config(tree, config)
            resolve = time.perf_counter() - t
            t = time.perf_counter()
            full = verify.verify_config(config, srctree=srctree, workdir=Path(tmp) / "work2")
            total = time.perf_counter() - t
            print("with --srctree (kconfiglib):")
            print(f"  parse the Kconfig tree: {ms(load)}")
            print(f"  resolve the config (load + olddefconfig round trip): {ms(resolve)}")
            print(f"  whole verify_config with srctree (parse, resolve, explain "
                  f"{len(full.failures)} failures): {ms(total)}")
            srctree_cmd, _ = timed_command(cmd + ["--srctree", str(srctree)], 1)
            print(f"  as a command: {ms(srctree_cmd[0])}")
        else:
            print(f"with --srctree: skipped, no kernel tree at {srctree}")
        print()

        khc = args.khc or shutil.which("kernel-hardening-checker")
        if khc:
            runs, code = timed_command([khc, "-c", str(config)], args.command_runs)
            print(f"kernel-hardening-checker -c (side by side): {stats(runs)}  exit {code}")
        else:
            print("kernel-hardening-checker: not installed; `pip install kernel-hardening-checker` "
                  "finds no distribution on the package index this machine reaches, so there is "
                  "no side-by-side figure (pass --khc PATH where it is installed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
