"""How long publishing 5,000 small entry files takes: cold, no-op, and with one file changed.

Usage: .venv/bin/python bench/publish_scale.py [N] [DIR]
DIR defaults to a fresh temporary directory (put it on the disk the TFTP root lives on).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from kbuild.publish.apply import publish
from kbuild.publish.plan import TreeFile


def entries(n: int, version: str) -> list[TreeFile]:
    return [TreeFile(f"pxelinux.cfg/01-52-54-00-{i >> 16 & 255:02x}-{i >> 8 & 255:02x}-{i & 255:02x}",
                     data=(f"DEFAULT dom0\nLABEL dom0\n  KERNEL images/vmlinuz-{version}\n"
                           f"  APPEND root=/dev/nfs ip=dhcp host={i}\n").encode(),
                     meta={"host": f"h{i}", "profile": "dom0"})
            for i in range(n)]


def timed(label: str, files: list[TreeFile], target: Path, durable: bool) -> None:
    t0, c0 = time.perf_counter(), os.times()
    report = publish(files, target, durable=durable)
    t1, c1 = time.perf_counter(), os.times()
    print(f"{label:<30} wall {(t1 - t0) * 1000:6.0f} ms  user {(c1.user - c0.user) * 1000:5.0f} ms  "
          f"sys {(c1.system - c0.system) * 1000:5.0f} ms  written {len(report.written):5d}  "
          f"unchanged {len(report.unchanged):5d}")


def floor(files: list[TreeFile], target: Path) -> None:
    """The file system's own cost: create, write and rename the same files, nothing else."""
    (target / "pxelinux.cfg").mkdir(parents=True)
    t0, c0 = time.perf_counter(), os.times()
    for f in files:
        final = target / f.relpath
        tmp = final.with_name(f".{final.name}.tmp")
        with open(tmp, "wb") as out:
            out.write(f.data or b"")
        os.replace(tmp, final)
    t1, c1 = time.perf_counter(), os.times()
    print(f"{'floor: bare create+rename':<30} wall {(t1 - t0) * 1000:6.0f} ms  "
          f"user {(c1.user - c0.user) * 1000:5.0f} ms  sys {(c1.system - c0.system) * 1000:5.0f} ms")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    base = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.mkdtemp(prefix="kbuild-bench-"))
    files = entries(n, "6.1.0-kb1")
    changed = list(files)
    changed[n // 2] = TreeFile(files[n // 2].relpath, data=b"DEFAULT local\n", meta=files[n // 2].meta)
    print(f"{n} entry files under {base}")
    floor(files, base / "floor")
    for durable in (False, True):
        target = base / f"durable-{durable}"
        timed(f"cold, durable={durable}", files, target, durable)
        timed(f"no-op, durable={durable}", files, target, durable)
        timed(f"one changed, durable={durable}", changed, target, durable)


if __name__ == "__main__":
    main()
