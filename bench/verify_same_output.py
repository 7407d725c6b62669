#!/usr/bin/env python3
"""Is `kbuild verify`'s output the same, byte for byte, as another checkout's?

    .venv/bin/python bench/verify_same_output.py --capture OUT.json [--tree DIR]
    .venv/bin/python bench/verify_same_output.py --compare OUT.json [--tree DIR]

Runs `python -m kbuild verify ...` as a process over the repository's test configs
(tests/corpus/config, tests/corpus/entry, synthetic configs written like
tests/verify/test_check.py's, Debian's amd64 config) with the option sets users run
(plain, --json, -q, --nic/--cmdline, --dom0, --arch um, --entry) and records stdout,
stderr and the exit status of each. --tree runs the kbuild package of another checkout
(e.g. a `git archive` of the commit before a change) with this interpreter. The inputs
are written to one fixed temp directory so that paths in the output match between runs;
the checkout's own path (in rule locations) is shown as <TREE>.
Not a test: the lead runs it around import changes (issue 13).
"""
from __future__ import annotations

import argparse
import json
import lzma
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INPUTS = Path("/tmp/kbuild-verify-same-output")
DEBIAN = Path("/usr/src/linux-config-6.1/config.amd64_none_amd64.xz")

GOOD = {
    "X86_64": "y", "64BIT": "y", "NET": "y", "INET": "y", "NETDEVICES": "y", "ETHERNET": "y",
    "NETWORK_FILESYSTEMS": "y", "NFS_FS": "y", "ROOT_NFS": "y", "IP_PNP": "y", "IP_PNP_DHCP": "y",
    "NFS_V2": "n", "NFS_V3": "y", "NFS_V4": "y", "NFS_V4_1": "y", "NFS_V4_2": "y",
    "NFS_DISABLE_UDP_SUPPORT": "y", "DEVTMPFS": "y", "DEVTMPFS_MOUNT": "y", "TMPFS": "y",
    "BINFMT_ELF": "y", "SERIAL_8250": "y", "SERIAL_8250_CONSOLE": "y", "E1000": "y",
    "VT_CONSOLE": "y", "BLK_DEV_INITRD": "y",
}
ENTRY = ("console=ttyS0,115200 ip=dhcp root=/dev/nfs "
         "nfsroot=10.0.2.2:/srv/nfsroot,vers=4.2,tcp rw init=/init")
VARIANTS: dict[str, dict[str, str | None]] = {
    "good": {},
    "no-root-nfs": {"ROOT_NFS": "n"},
    "nfs-module": {"NFS_FS": "m"},
    "no-ip-pnp": {"IP_PNP": None, "IP_PNP_DHCP": None},
    "nfs-v2": {"NFS_V2": "y", "NFS_V4": "n", "NFS_V4_1": "n", "NFS_V4_2": "n"},
    "no-serial": {"SERIAL_8250": "n", "SERIAL_8250_CONSOLE": None},
}


def config_text(values: dict[str, str | None], header: str | None = "6.1.192") -> str:
    lines = ["#", "# Automatically generated file; DO NOT EDIT.",
             f"# Linux/x86_64 {header} Kernel Configuration", "#"] if header else []
    for name, value in values.items():
        if value is None:
            continue
        lines.append(f"# CONFIG_{name} is not set" if value == "n" else f"CONFIG_{name}={value}")
    return "\n".join(lines) + "\n"


def write_inputs() -> tuple[list[Path], list[Path]]:
    shutil.rmtree(INPUTS, ignore_errors=True)
    (INPUTS / "config").mkdir(parents=True)
    configs = []
    for name, changes in VARIANTS.items():
        values: dict[str, str | None] = {**GOOD, **changes}
        path = INPUTS / "config" / f"{name}.config"
        path.write_text(config_text(values))
        configs.append(path)
    headerless = INPUTS / "config" / "headerless.config"
    headerless.write_text(config_text(dict(GOOD), header=None))
    configs.append(headerless)
    if DEBIAN.exists():
        debian = INPUTS / "config" / "debian-amd64.config"
        debian.write_bytes(lzma.decompress(DEBIAN.read_bytes()))
        configs.append(debian)
    for f in sorted((REPO / "tests/corpus/config").iterdir()):
        shutil.copyfile(f, INPUTS / "config" / f.name)
        configs.append(INPUTS / "config" / f.name)
    (INPUTS / "entry").mkdir()
    entries = []
    for f in sorted((REPO / "tests/corpus/entry").iterdir()):
        shutil.copyfile(f, INPUTS / "entry" / f.name)
        entries.append(INPUTS / "entry" / f.name)
    good_entry = INPUTS / "entry" / "pxelinux.cfg"
    good_entry.write_text(f"DEFAULT nfs\nLABEL nfs\n  KERNEL vmlinuz\n  APPEND {ENTRY}\n")
    entries.append(good_entry)
    return configs, entries


def cases(configs: list[Path], entries: list[Path]) -> list[list[str]]:
    out: list[list[str]] = []
    for c in configs:
        out += [[str(c)], [str(c), "--json"], [str(c), "-q"],
                [str(c), "--nic", "e1000", "--cmdline", ENTRY],
                [str(c), "--dom0", "--nic", "virtio_net"], [str(c), "--arch", "um"]]
    good = str(configs[0])
    for e in entries:
        out += [[good, "--entry", str(e)], [good, "--entry", str(e), "--json"]]
    out += [[], ["--json"], [good, "--label", "x"], [good, "--arch", "x y"],
            [good, "--kernel-version", "6.12"], [good, "--rules", "/nonexistent.toml"],
            [good, "--site", "x"], ["/nonexistent/.config"], ["/nonexistent/.config", "--json"]]
    # many files in one call (from 8 on, checked by one process per CPU)
    every = [str(c) for c in configs]
    out += [every, [*every, "--json"], [*every, "-q"], [str(INPUTS / "config")],
            [str(INPUTS / "config"), "--json"], [*every, "/nonexistent/.config"]]
    return out


def _neutral(text: str, tree: Path) -> str:
    """The output with the checkout's own location (rule files are shown relative to the
    working directory) replaced by <TREE>, so that two checkouts compare."""
    return text.replace(os.path.relpath(tree, INPUTS), "<TREE>").replace(str(tree), "<TREE>")


def run_all(tree: Path) -> list[dict[str, object]]:
    configs, entries = write_inputs()
    env = {**os.environ, "PYTHONPATH": str(tree), "LANG": "C.UTF-8"}
    env.pop("KBUILD_SITE", None)
    results = []
    for argv in cases(configs, entries):
        p = subprocess.run([sys.executable, "-m", "kbuild", "verify", *argv], env=env,
                           capture_output=True, cwd=INPUTS)
        results.append({"argv": argv, "code": p.returncode,
                        "stdout": _neutral(p.stdout.decode("utf-8", "surrogateescape"), tree),
                        "stderr": _neutral(p.stderr.decode("utf-8", "surrogateescape"), tree)})
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--capture", metavar="FILE")
    mode.add_argument("--compare", metavar="FILE")
    ap.add_argument("--tree", default=str(REPO), help="checkout whose kbuild package runs")
    args = ap.parse_args()
    results = run_all(Path(args.tree).resolve())
    if args.capture:
        Path(args.capture).write_text(json.dumps(results, indent=1) + "\n")
        print(f"{len(results)} runs captured in {args.capture}")
        return 0
    before = json.loads(Path(args.compare).read_text())
    differ = [(a, b) for a, b in zip(before, results, strict=False) if a != b]
    if len(before) != len(results):
        print(f"different number of runs: {len(before)} vs {len(results)}")
        return 1
    for a, b in differ:
        print(f"differs: verify {' '.join(a['argv'])}")
        for key in ("code", "stdout", "stderr"):
            if a[key] != b[key]:
                print(f"  {key}: {str(a[key])[:300]!r}\n   now: {str(b[key])[:300]!r}")
    print(f"{len(results)} runs, {len(differ)} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
