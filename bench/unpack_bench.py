#!/usr/bin/env python3
"""Unpacking linux-source: kbuild's checked one-pass unpack against GNU `tar -xJf`.

    .venv/bin/python bench/unpack_bench.py [--tarball FILE] [--runs N] [--json]

Both unpack the same file into a fresh directory on the same disk (under artifacts/),
alternating, N times each; the directory is removed between runs (not timed). kbuild's
figure is kbuild.source.archive.unpack (every member checked, set-id bits dropped,
temp dir + rename); the anchor is `tar -xJf FILE -C DIR` with nothing checked. Medians
of N runs, min and max; the machine is shared, so only the ratio means much.
"""
from __future__ import annotations

import argparse
import glob
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import REPO, alternate, emit, row

sys.path.insert(0, str(REPO))

TARGET = 1.5


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tarball", help="default: the cached linux-source-6.1.tar.xz")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from kbuild.source import archive

    tarball = args.tarball or next(iter(sorted(glob.glob(
        str(REPO / "artifacts/cache/sha256/*/linux-source-6.1.tar.xz")))), None)
    if tarball is None:
        print("no linux-source-6.1.tar.xz in artifacts/cache: run `doit fetch:debian-6.1`",
              file=sys.stderr)
        return 2
    scratch_root = REPO / "artifacts"

    def tar() -> float:
        with tempfile.TemporaryDirectory(prefix="unpack-bench-", dir=scratch_root) as tmp:
            t = time.perf_counter()
            subprocess.run(["tar", "-xJf", tarball, "-C", tmp], check=True)
            return time.perf_counter() - t

    def ours() -> float:
        with tempfile.TemporaryDirectory(prefix="unpack-bench-", dir=scratch_root) as tmp:
            t = time.perf_counter()
            archive.unpack(Path(tarball), Path(tmp) / "tree")
            return time.perf_counter() - t

    samples = alternate(args.runs, {"tar": tar, "kbuild": ours})
    if not args.json:
        print(f"tarball: {tarball} ({os.path.getsize(tarball) >> 20} MiB)")
    emit([row("unpack linux-source-6.1 (checked, one pass)", f"<= {TARGET}x tar -xJf",
              samples["kbuild"], lambda k: k["median"] <= TARGET * statistics.median(samples["tar"]),
              "tar -xJf", samples["tar"])],
         args.json, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
