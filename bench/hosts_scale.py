#!/usr/bin/env python3
"""Scale benchmark: a boot server with N hosts (default 50,000), as a user waits for it.

Builds a site with N hosts (MAC + IP, profile nfsroot, pxelinux only, as most diskless
pools use one loader) on top of the repo's site, with a stand-in build record, and
times what `kbuild publish` does in process (verify aside): the quick no-op check, else
the hosts' short path (kbuild/publish/delta.py: only the changed [[hosts]] tables), else
load kbuild.toml, plan the tree, publish, write the server snippets and the inputs record.
  * cold: into an empty target
  * nothing changed: the same again
  * one host changed: one host's `extra` edited in kbuild.toml, then the same
Each run uses a fresh directory. The anchor of the cold row is the file system's floor:
creating and renaming the same entry files in one directory with nothing else.
Asserts nothing.

Usage: .venv/bin/python bench/hosts_scale.py [N] [--runs 5] [--json] [--durable] [--floors]
(--durable also times one cold publish that fsyncs every file. --floors times, on the
published tree, the steps today's full publish takes whatever changed: reading the
manifest (every shard), splitting the next one into shards, one lstat per file, loading
the site; and, as a yardstick, the least work of the incremental design in
docs/decisions.md. "again" is a second one-host change: the first change after a cold
publish also records the stamps of every file the cold one wrote, too recent then.)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kbuild.publish import apply as publish  # noqa: E402
from kbuild.publish import delta, stage  # noqa: E402
from kbuild.publish.manifest import (  # noqa: E402
    MANIFEST_NAME,
    SHARDS,
    STORE_NAME,
    load_manifest,
    partition,
    read_manifest,
    render_manifest,
)
from kbuild.site import layout  # noqa: E402
from kbuild.site.load import load_site  # noqa: E402

TARGETS = {"cold": 5.0, "noop": 0.5, "one": 1.0, "again": 1.0}


def hosts_toml(n: int, changed: int | None = None) -> str:
    out = []
    for i in range(n):
        extra = '\nextra = ["quiet"]' if i == changed else ""
        out.append(f'[[hosts]]\nname = "h{i:05d}"\nmac = "52:54:01:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:'
                   f'{i & 255:02x}"\nip = "10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"\n'
                   f'profile = "nfsroot"{extra}\n')
    return "\n".join(out)


def _site_dir(root: Path, n: int) -> tuple[Path, str]:
    (root / "fragments").symlink_to(REPO / "fragments")
    (root / "patches").symlink_to(REPO / "patches")
    shutil.copy(REPO / "kbuild.lock", root / "kbuild.lock")
    base = (REPO / "kbuild.toml").read_text()
    base = base[: base.find("[profiles.uml]")] if "[profiles.uml]" in base else base
    toml = root / "kbuild.toml"
    toml.write_text(base + "\n" + hosts_toml(n))
    site = load_site(toml)
    p = site.profiles["nfsroot"]
    bdir = layout.build_dir(site, p)
    (bdir / "arch/x86/boot").mkdir(parents=True)
    (bdir / "arch/x86/boot/bzImage").write_bytes(b"\0" * 2_000_000)
    (bdir / ".config").write_text("CONFIG_NET=y\n")
    (bdir / "kbuild-build.json").write_text(json.dumps({
        "profile": "nfsroot", "arch": "x86_64", "image": "arch/x86/boot/bzImage",
        "kernel_release": "6.1.192", "config_sha256": "c" * 64, "source": "debian-6.1",
        "source_sha256": site.sources["debian-6.1"].sha256, "patches": None}))
    return toml, base


def _timed_publish(toml: Path, target: Path, durable: bool | str = "payloads") -> dict[str, float]:
    """As `kbuild publish --to TARGET` (verify aside): wall seconds of each step, CPU seconds."""
    t0, c0 = time.perf_counter(), os.times()
    quick = None
    if durable == "payloads":
        quick = delta.publish_short(toml, target)
    t1 = time.perf_counter()
    if quick is not None:
        c1 = os.times()
        return {"quick": t1 - t0, "load": 0.0, "stage": 0.0, "total": t1 - t0,
                "cpu": c1.user - c0.user + c1.system - c0.system,
                "written": len(quick[0].written),
                "files": len(quick[0].unchanged) + len(quick[0].written)}
    site = load_site(toml)
    t2 = time.perf_counter()
    if durable == "payloads":
        report, plan = stage.stage_with_plan(site, target)
        files = len(plan.files)
    else:
        tree = stage.plan_tree(site)
        report = publish.publish(tree.files, target, keep=site.keep_generations, durable=durable)
        files = len(tree.files)
    t3, c3 = time.perf_counter(), os.times()
    return {"quick": t1 - t0, "load": t2 - t1, "stage": t3 - t2, "total": t3 - t0,
            "cpu": c3.user - c0.user + c3.system - c0.system,
            "written": len(report.written), "files": files}


def _floor(toml: Path, target: Path) -> float:
    """Create + write + rename the same entry files, nothing else (the file system's cost)."""
    files = [f for f in stage.plan_tree(load_site(toml)).files if f.data is not None]
    t0 = time.perf_counter()
    for f in files:
        final = target / f.relpath
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.tmp")
        with open(tmp, "wb") as out:
            out.write(f.data or b"")
        os.replace(tmp, final)
    return time.perf_counter() - t0


def _best(fn: Callable[[], object]) -> float:
    """The least of 3 timings of ``fn`` (seconds)."""
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def floors(toml: Path, target: Path) -> dict[str, float]:
    """Seconds of the steps every publish of today's formats does (best of 3 each), then
    those of the sharded design's yardstick (keys starting with "sharded")."""
    doc = read_manifest(target)
    assert doc is not None
    by_dir: dict[str, list[str]] = {}
    for rel in doc["files"]:
        d, _, name = rel.rpartition("/")
        by_dir.setdefault(d, []).append(name)

    def lstat_all() -> None:
        for d, names in by_dir.items():
            fd = os.open(target / d, os.O_RDONLY | os.O_DIRECTORY)
            try:
                for name in names:
                    os.stat(name, dir_fd=fd, follow_symlinks=False)
            finally:
                os.close(fd)

    return {"read manifest (every shard)": _best(
                lambda: load_manifest(target / MANIFEST_NAME, check_paths=False)),
            "split next manifest into shards": _best(
                lambda: partition(doc["files"], doc.get("stamps"), doc["shard_bits"])),
            "lstat every file": _best(lstat_all),
            "load site": _best(lambda: load_site(toml)),
            **sharded_floors(toml, target, doc, lstat_all)}


SHARD_FILES = 1000


def sharded_floors(toml: Path, target: Path, doc: dict[str, Any],
                   lstat_all: Callable[[], None]) -> dict[str, float]:
    """The least work for one host changed with the manifest in shards (as it is since
    format 2) if hosts were also cached by their [[hosts]] block's digest and only
    changed hosts rendered and planned (docs/decisions.md): not kbuild's code, a
    yardstick for that design."""
    import hashlib

    rels = sorted(doc["files"])
    names = json.dumps(rels)
    shards = [{"files": {r: doc["files"][r] for r in rels[i:i + SHARD_FILES]}}
              for i in range(0, len(rels), SHARD_FILES)]
    shard_texts = [render_manifest(sh) for sh in shards]
    top = {"format": 2, "generation": 2, "previous": 1, "dirs": doc["dirs"],
           "shards": {f"{i:04d}": hashlib.sha256(t.encode()).hexdigest()
                      for i, t in enumerate(shard_texts)}}
    scratch = target.parent / "shard-scratch"
    scratch.mkdir(exist_ok=True)
    site_text = toml.read_text()

    def site_blocks() -> None:
        for block in site_text.split("\n[[hosts]]\n"):
            hashlib.sha256(block.encode()).digest()

    def two_shards() -> None:
        for i in (0, len(shard_texts) // 2):
            sh = json.loads(shard_texts[i])
            text = render_manifest(sh).encode()
            tmp = scratch / f".{i}.tmp"
            tmp.write_bytes(text)
            os.replace(tmp, scratch / f"{hashlib.sha256(text).hexdigest()}.json")
        tmp = scratch / ".top.tmp"
        tmp.write_bytes(render_manifest(top).encode())
        os.replace(tmp, scratch / "top.json")

    return {"sharded: names list in+out": _best(lambda: json.dumps(json.loads(names))),
            "sharded: lstat every file": _best(lstat_all),
            "sharded: digest site blocks": _best(site_blocks),
            "sharded: 2 shards + top": _best(two_shards)}


def one_run(n: int, durable: bool, want_floors: bool = False) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="kbuild-scale-") as tmpd:
        root = Path(tmpd)
        toml, base = _site_dir(root, n)
        target = root / "tftp"
        out = {"floor": {"total": _floor(toml, root / "floor")}}
        out["cold"] = _timed_publish(toml, target)
        out["noop"] = _timed_publish(toml, target)
        toml.write_text(base + "\n" + hosts_toml(n, changed=n // 2))
        out["one"] = _timed_publish(toml, target)
        # the first change after a cold publish also records the stamps of every file the
        # cold one wrote (too recent to trust then); the next change is the steady state
        toml.write_text(base + "\n" + hosts_toml(n, changed=n // 3))
        out["again"] = _timed_publish(toml, target)
        if want_floors:
            out["floors"] = floors(toml, target)
            out["manifest"] = {"MB": sum(p.stat().st_size for p in [
                target / MANIFEST_NAME, *(target / STORE_NAME / SHARDS).iterdir()]) / 1e6}
        if durable:
            out["durable"] = _timed_publish(toml, root / "tftp-durable", durable=True)
        return out


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def rows(runs: list[dict[str, dict[str, float]]], n: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    labels = {"cold": "publish cold", "noop": "publish, nothing changed", "one": "publish, one host changed",
              "again": "publish, another host changed (steady state)"}
    for key, label in labels.items():
        k = _stats([r[key]["total"] for r in runs])
        anchor = _stats([r["floor"]["total"] for r in runs]) if key == "cold" else None
        # (no word of another issue row in the label: compare.py places rows by their words)
        out.append({"figure": f"{n} hosts: {label} (quick check, hosts' short path, else the "
                              "full publish; in process)",
                    "target": f"<= {TARGETS[key]:g} s", "kbuild": k,
                    "anchor_name": "bare create+rename of the entry files" if anchor else "",
                    "anchor": anchor, "ratio": k["median"] / anchor["median"] if anchor else None,
                    "ok": k["median"] <= TARGETS[key]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("hosts", nargs="?", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print the bench rows as one JSON list")
    ap.add_argument("--durable", action="store_true", help="also time a cold publish fsyncing every file")
    ap.add_argument("--floors", action="store_true",
                    help="also time the steps any publish of today's formats takes (see above)")
    args = ap.parse_args()
    runs = [one_run(args.hosts, args.durable, args.floors) for _ in range(args.runs)]
    if args.json:
        print(json.dumps(rows(runs, args.hosts)))
    out = sys.stderr if args.json else sys.stdout   # the table (with CPU) beside the JSON
    print(f"# {args.hosts} hosts, {runs[0]['cold']['files']:.0f} files in the tree; "
          f"{args.runs} run(s): median [min-max] seconds (wall; CPU = user+sys)", file=out)
    print(f"{'':28}{'quick check':>20}{'load':>20}{'plan+publish':>20}{'total':>20}{'CPU':>20}",
          file=out)
    for key in ("cold", "noop", "one", "again", "durable"):
        if key not in runs[0]:
            continue
        cells = []
        for step in ("quick", "load", "stage", "total", "cpu"):
            s = _stats([r[key][step] for r in runs])
            cells.append(f"{s['median']:6.2f} [{s['min']:.2f}-{s['max']:.2f}]")
        written = runs[0][key]['written']
        print(f"{key:<28}" + "".join(f"{c:>20}" for c in cells) + f"   ({written:.0f} written)",
              file=out)
    if args.floors:
        mb = runs[0]["manifest"]["MB"]
        print(f"# steps of every full publish (manifest and shards: {mb:.1f} MB), each file "
              "checked:", file=out)
        for step in runs[0]["floors"]:
            s = _stats([r["floors"][step] for r in runs])
            print(f"{step:<28}{s['median']:6.2f} [{s['min']:.2f}-{s['max']:.2f}]", file=out)
        for label, keep in (("sum, full publish", lambda k: not k.startswith("sharded")),
                            ("sum, incremental design", lambda k: k.startswith("sharded"))):
            total = _stats([sum(v for k, v in r["floors"].items() if keep(k))
                            for r in runs])
            print(f"{label:<28}{total['median']:6.2f} [{total['min']:.2f}-{total['max']:.2f}]",
                  file=out)
    f = _stats([r["floor"]["total"] for r in runs])
    print(f"{'floor: bare create+rename':<28}{'':>60}{f['median']:6.2f} [{f['min']:.2f}-{f['max']:.2f}]",
          file=out)


if __name__ == "__main__":
    main()
