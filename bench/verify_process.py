#!/usr/bin/env python3
"""`kbuild verify` where users wait on it: as a whole process, and over 500 configs.

    .venv/bin/python bench/verify_process.py [--runs N] [--json]

Rows (medians of N runs, min and max, measured side by side, alternating):

* ``kbuild verify CONFIG`` as a process (the installed .venv/bin/kbuild script), on
  Debian's 10,644-line amd64 config, no srctree; anchor: the same interpreter's start-up,
  ``python -c pass`` (no -S/-I: the kbuild script runs with site and the editable
  install's finder too, so this is the honest floor). Target: <= anchor + 25 ms.
* ``kbuild verify DIR`` on 500 configs in one call (Debian's amd64 config, the nfsroot
  spine-like synthetic configs, and their variants, each a distinct file), per config;
  no anchor. Target: <= 5 ms per config. kbuild checks them with one process per CPU
  (KBUILD_VERIFY_JOBS); the human output also gives the CPU time of all its processes.

The rule cache (~/.cache/kbuild or $KBUILD_CACHE_DIR) and the bytecode caches
(__pycache__; PYTHONDONTWRITEBYTECODE is removed from the environment) are warmed by one
run first, as they are for any user after their first run. The machine is shared: figures move with load.
"""
from __future__ import annotations

import argparse
import lzma
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import REPO, USER_ENV, alternate, emit, row

BIN = Path(sys.executable).parent
DEBIAN = Path("/usr/src/linux-config-6.1/config.amd64_none_amd64.xz")
MANY = 500
MANY_CPU = f"kbuild verify DIR ({MANY} configs, every process)"


CPU: dict[str, list[float]] = {}


def timed(argv: list[str], cpu_key: str | None = None) -> float:
    """Wall time of one run; with ``cpu_key``, its user+system CPU time is kept too (less
    sensitive to other processes on a busy machine; shown in the human output)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO, env=USER_ENV)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu_key:
        CPU.setdefault(cpu_key, []).append(after.ru_utime - before.ru_utime
                                           + after.ru_stime - before.ru_stime)
    return wall


def write_configs(directory: Path, debian: bytes) -> None:
    """MANY distinct configs: Debian's with one symbol changed, and small ones."""
    good = ["CONFIG_X86_64=y", "CONFIG_64BIT=y", "CONFIG_NET=y", "CONFIG_INET=y",
            "CONFIG_NETDEVICES=y", "CONFIG_ETHERNET=y", "CONFIG_NETWORK_FILESYSTEMS=y",
            "CONFIG_NFS_FS=y", "CONFIG_ROOT_NFS=y", "CONFIG_IP_PNP=y", "CONFIG_IP_PNP_DHCP=y",
            "CONFIG_NFS_V3=y", "CONFIG_NFS_V4=y", "CONFIG_DEVTMPFS=y", "CONFIG_TMPFS=y",
            "CONFIG_BINFMT_ELF=y", "CONFIG_SERIAL_8250=y", "CONFIG_SERIAL_8250_CONSOLE=y",
            "CONFIG_E1000=y"]
    header = ("#\n# Automatically generated file; DO NOT EDIT.\n"
              "# Linux/x86_64 6.1.192 Kernel Configuration\n#\n")
    for i in range(MANY):
        if i % 2 == 0:      # half full distro configs (10,644 lines)
            text = debian + f"\nCONFIG_LOCALVERSION=\"-bench{i}\"\n".encode()
        else:
            lines = list(good)
            lines[i % len(lines)] = f"# {lines[i % len(lines)].split('=')[0][2:]} is not set"
            text = (header + "\n".join(lines) + f"\nCONFIG_LOCALVERSION=\"-{i}\"\n").encode()
        (directory / f"{i:03d}.config").write_bytes(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    kbuild = str(BIN / "kbuild")
    with tempfile.TemporaryDirectory(prefix="verify-process-") as tmp:
        config = Path(tmp) / "debian-amd64.config"
        debian = lzma.decompress(DEBIAN.read_bytes())
        config.write_bytes(debian)
        many = Path(tmp) / "many"
        many.mkdir()
        write_configs(many, debian)
        timed([kbuild, "verify", str(config)])             # warm the rule cache
        one = alternate(args.runs, {
            "start": lambda: timed([sys.executable, "-c", "pass"], "python -c pass"),
            "verify": lambda: timed([kbuild, "verify", str(config)], "kbuild verify CONFIG")})
        batch = alternate(max(3, args.runs // 2),
                          {"many": lambda: timed([kbuild, "verify", str(many)], MANY_CPU) / MANY})
    start = statistics.median(one["start"])
    rows = [
        row("kbuild verify CONFIG as a process (Debian amd64, no srctree)",
            "<= interpreter start-up + 25 ms", one["verify"], lambda k: k["median"] <= start + 0.025,
            "python -c pass (venv)", one["start"]),
        row(f"kbuild verify DIR, {MANY} configs in one call, per config", "<= 5 ms per config",
            batch["many"], lambda k: k["median"] <= 0.005),
    ]
    emit(rows, args.json, args.runs, unit="ms")
    if not args.json:
        for name, samples in CPU.items():
            print(f"CPU time (user+sys) {name}: median {statistics.median(samples) * 1000:.1f} ms "
                  f"(min {min(samples) * 1000:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
