#!/usr/bin/env python3
"""Long-run fuzzing campaign over kbuild's parsers (issue 15).

In-process, no Hypothesis: byte mutations of the repository's real inputs (the
fragments, kbuild.toml, patches/uml/series, Debian's shipped config when installed,
boot entries written by kbuild's own writers, the hostile-input corpus) and
structure-aware generation (lines built from each format's grammar with hostile
tokens: Unicode digits, 4,301-digit numbers, whitespace runs, control bytes, deep
nesting). Each input goes through tests/fuzz_targets.py, the same functions the
`kbuild` command calls. Per parser it reports inputs run, crashes (exceptions that
are not kbuild UserErrors), inputs slower than 100 ms (and the slowest), and garbage
accepted (per docs/verify.md). Then the resource limits: a 1 MiB line of whitespace,
and a gzip config expanding to 256 MiB (run through `kbuild verify` under
/usr/bin/time -v for its peak RSS).

Usage: .venv/bin/python bench/fuzz_campaign.py [TOTAL=1000000] [SEED=15]
Prints the report; exits 1 if any crash or garbage was found.
"""
from __future__ import annotations

import gzip
import lzma
import os
import random
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fuzz_targets import TARGETS, GarbageAccepted  # noqa: E402

HOSTILE = [b"\xc2\xb2", "\u0666.\u0661".encode(), b"1" * 4301, b" " * 20000, b"\t" * 5000,
           b"\x00", b"\x07", b"\x0c", b"\x1c", b"\x7f", b"\xff\xfe", b"\n", b"\r\n", b"\"", b"'",
           b"=", b"#", b"[" * 1000, b"{" * 500, b"..", b"/", b"-" * 300, b"\\", b"0x", b"-1",
           b"999999999999", b"\xe2\x80\xa8", b"\xc2\x85", b"\xef\xbb\xbf", b"%", b"---", b"\"\"",
           b"y", b"m", b"n", b"CONFIG_", b"is not set", b"Linux/x86_64", b"Kernel Configuration"]

GRAMMAR = {
    "config": [b"CONFIG_A=y", b"CONFIG_B=m", b"# CONFIG_C is not set", b"CONFIG_D=\"s\"",
               b"CONFIG_E=0x10", b"CONFIG_F=-5", b"# Linux/x86_64 6.1.0 Kernel Configuration",
               b"# Linux kernel version: 2.6.32", b"#", b"", b"CONFIG_G=", b"CONFIG_H=y # c",
               b"# Automatically generated file; DO NOT EDIT."],
    "entry": [b"DEFAULT linux", b"LABEL linux", b"  KERNEL vmlinuz", b"  APPEND root=/dev/nfs ip=dhcp",
              b"IPAPPEND 2", b"set default=0", b"menuentry 'x' {", b"  linux /vmlinuz root=/dev/nfs",
              b"}", b"title x", b"kernel /vmlinuz root=/dev/nfs", b"#!ipxe", b"boot",
              b"multiboot2 /xen.gz", b"module2 /vmlinuz root=/dev/nfs", b"ONTIMEOUT linux",
              b"initrd /initrd", b"nfsroot=10.0.0.1:/srv ip=dhcp"],
    "cmdline": [b"root=/dev/nfs", b"nfsroot=10.0.0.1:/srv,vers=4", b"ip=dhcp", b"ip=10.0.0.2::10.0.0.1",
                b"console=ttyS0", b"--", b"init=/sbin/init", b"rw", b"\"a b\"", b"quiet"],
    "site": [b"[sources.k]", b"url = \"file:///x.tar.xz\"", b"sha256 = \"" + b"0" * 64 + b"\"",
             b"[profiles.p]", b"source = \"k\"", b"nfsroot = { path = \"/srv\" }", b"[[hosts]]",
             b"name = \"h\"", b"mac = \"52:54:00:12:34:56\"", b"profile = \"p\"", b"[site]",
             b"artifacts = \"a\"", b"tftp_root = \"/srv/tftp\"", b"keep_generations = 3",
             b"fragments = [\"core\"]", b"patches = \"uml\"", b"[nfs]", b"server = \"10.0.0.1\""],
    "manifest": [b"{\"format\": 1, \"generation\": 1, \"files\": {}, \"dirs\": []}",
                 b"{\"format\": 1, \"generation\": 2, \"files\": {\"a\": {\"sha256\": \"x\", \"size\": 1,"
                 b" \"mode\": 420, \"role\": \"r\", \"meta\": {}}}, \"dirs\": [\"d\"], \"pending\":"
                 b" {\"generation\": 3, \"write\": [\"b\"], \"remove\": [], \"dirs\": []}}"],
    "series": [b"a.patch", b"a.patch >=5.10,<6.3", b"# comment", b"", b"a.patch  # c", b"b.patch"],
    "version": [b"6.1", b"6.1.192", b"6.1.0-13-amd64", b"v5.10", b"2.6.32", b"6.12.117-1~deb12u1"],
}


def seeds() -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {k: [b"\n".join(v) + b"\n"] for k, v in GRAMMAR.items()}
    out["config"] += [p.read_bytes() for p in sorted((REPO / "fragments").rglob("*.config"))]
    debian = Path("/usr/src/linux-config-6.1/config.amd64_none_amd64.xz")
    if debian.exists():
        lines = lzma.decompress(debian.read_bytes()).split(b"\n")
        out["config"] += [b"\n".join(lines[i:i + 150]) for i in range(0, len(lines), 1500)]
    out["site"].append((REPO / "kbuild.toml").read_bytes())
    out["series"].append((REPO / "patches" / "uml" / "series").read_bytes())
    from kbuild.boot import grub, grub_legacy, ipxe, pxelinux
    from kbuild.boot.cmdline import KernelCmdline
    from kbuild.boot.entry import BootEntry
    try:
        e = BootEntry(label="linux", kernel="vmlinuz", initrd=None,
                      cmdline=KernelCmdline.parse("root=/dev/nfs nfsroot=10.0.0.1:/srv ip=dhcp rw"))
        for writer in (pxelinux.menu_config, grub.menu_config, grub_legacy.menu_config, ipxe.menu_script):
            out["entry"].append(writer([e], "linux").encode())
    except Exception:  # noqa: BLE001 - seeds from the writers are a bonus, not required
        pass
    for kind in ("config", "entry", "site"):
        d = REPO / "tests" / "corpus" / kind
        out[kind] += [p.read_bytes()[:100_000] for p in sorted(d.iterdir()) if p.is_file()]
    out["cmdline"] += [p.read_bytes() for p in sorted((REPO / "tests" / "corpus" / "cmdline").iterdir())]
    return out


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 5))):
        op = rng.randrange(8)
        pos = rng.randrange(len(b) + 1)
        if op == 0 and b:
            b[min(pos, len(b) - 1)] = rng.randrange(256)
        elif op == 1:
            b[pos:pos] = rng.choice(HOSTILE)
        elif op == 2 and b:
            end = min(len(b), pos + rng.randrange(1, 64))
            del b[pos:end]
        elif op == 3 and b:
            end = min(len(b), pos + rng.randrange(1, 256))
            b[pos:pos] = b[pos:end] * rng.randrange(1, 4)
        elif op == 4:
            del b[pos:]
        elif op == 5:
            other = rng.choice(pool)
            i = rng.randrange(len(other) + 1)
            b[pos:pos] = other[i:i + rng.randrange(1, 200)]
        elif op == 6 and b:
            b[min(pos, len(b) - 1)] ^= 1 << rng.randrange(8)
        else:
            b[pos:pos] = str(rng.choice((0, 1, -1, 2**31, 2**64, 10**20))).encode()
    return bytes(b)


def generate(rng: random.Random, kind: str) -> bytes:
    words = GRAMMAR[kind]
    lines = []
    for _ in range(rng.randrange(1, 30)):
        line = rng.choice(words)
        if rng.random() < 0.3:
            i = rng.randrange(len(line) + 1)
            line = line[:i] + rng.choice(HOSTILE) + line[i:]
        lines.append(line)
    sep = b" " if kind == "cmdline" else b"\n"
    return sep.join(lines)


def campaign(total: int, seed: int) -> dict[str, Counter[str]]:
    rng = random.Random(seed)
    pool = seeds()
    everything = [s for v in pool.values() for s in v]
    stats: dict[str, Counter[str]] = {k: Counter() for k in TARGETS}
    slowest: dict[str, float] = {k: 0.0 for k in TARGETS}
    examples: list[str] = []
    names = list(TARGETS)
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    work = Path(tempfile.mkdtemp(prefix="kbuild-fuzz-", dir=shm))
    start = time.monotonic()
    for n in range(total):
        kind = names[n % len(names)]
        data = (generate(rng, kind) if rng.random() < 0.3
                else mutate(rng, rng.choice(pool[kind]), everything))
        t0 = time.perf_counter()
        try:
            stats[kind][TARGETS[kind](data, work)] += 1
        except GarbageAccepted as e:
            stats[kind]["garbage"] += 1
            if len(examples) < 20:
                examples.append(f"GARBAGE {kind}: {e}: {data[:120]!r}")
        except Exception as e:  # noqa: BLE001 - a crash is what the campaign looks for
            stats[kind]["crash"] += 1
            if len(examples) < 20:
                examples.append(f"CRASH {kind}: {type(e).__name__}: {e}: {data[:120]!r}\n"
                                + "".join(traceback.format_exc(limit=-3)))
        dt = time.perf_counter() - t0
        stats[kind]["run"] += 1
        if dt > 0.1:
            stats[kind]["slow"] += 1
        slowest[kind] = max(slowest[kind], dt)
        if (n + 1) % 100_000 == 0:
            print(f"... {n + 1} inputs, {time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)
    print(f"campaign: {total} inputs, seed {seed}, {time.monotonic() - start:.0f} s")
    print(f"{'parser':10} {'inputs':>9} {'accepted':>9} {'refused':>9} {'crashes':>8} "
          f"{'>100ms':>7} {'garbage':>8} {'slowest':>9}")
    for k in names:
        s = stats[k]
        print(f"{k:10} {s['run']:9} {s['accepted']:9} {s['refused']:9} {s['crash']:8} "
              f"{s['slow']:7} {s['garbage']:8} {slowest[k] * 1000:7.1f}ms")
    for ex in examples:
        print(ex)
    return stats


def limits() -> None:
    from kbuild.kconfig.configfile import parse_values
    text = "CONFIG_A=\"x" + " " * (1 << 20) + "x\"\n"
    for label, t in (("1 MiB line of spaces", " " * (1 << 20)), ("1 MiB of spaces in a value", text),
                     ("1 MiB of spaces after CONFIG_A=", "CONFIG_A=" + " " * (1 << 20) + "y")):
        t0 = time.perf_counter()
        parse_values(t, "x")
        print(f"limit: {label}: {time.perf_counter() - t0:.3f} s")
    with tempfile.TemporaryDirectory() as d:
        bomb = Path(d) / "bomb.config.gz"
        with gzip.open(bomb, "wb", compresslevel=9) as f:
            for _ in range(256):
                f.write(b"\n" * (1 << 20))
        r = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "kbuild", "verify", str(bomb)],
                           capture_output=True, text=True, cwd=REPO)
        rss = next((ln.split(":")[1].strip() for ln in r.stderr.splitlines()
                    if "Maximum resident set size" in ln), "?")
        first = r.stderr.splitlines()[0] if r.stderr else ""
        print(f"limit: gzip bomb ({bomb.stat().st_size} bytes -> 256 MiB): exit {r.returncode}, "
              f"peak RSS {rss} KiB: {first}")


def main() -> int:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    stats = campaign(total, seed)
    limits()
    return 1 if any(s["crash"] or s["garbage"] for s in stats.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
