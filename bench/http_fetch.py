#!/usr/bin/env python3
"""TFTP vs HTTP: time to fetch the dom0 kernel + Xen hypervisor inside the boot lab (issue 10).

In a private network namespace (root needed), a server side on a bridge (10.0.2.2) runs
dnsmasq's TFTP server over the staged tree and Debian's nginx with the server block kbuild
generates for ``http_base = "http://10.0.2.2:8080/"``; a client in a second namespace
behind a veth pair fetches both files with curl, RUNS times per way: TFTP with curl's
default 512-byte blocks (what many PXE ROMs use), TFTP with 1468-byte blocks (what iPXE
and GRUB negotiate up to on Ethernet), and HTTP. Prints median/min/max seconds and the
load average; each fetch is checked for the right byte count.

Needs a staged dom0 (`doit kernel:dom0`), or ``--files`` naming the files to fetch instead
(any kernel and hypervisor images: only their sizes matter to the transfer; the figure names
them). Without either it exits 1 and prints why, and bench/compare.py shows that line.
Usage:
    .venv/bin/python bench/http_fetch.py [--runs 5] [--site kbuild.toml] [--files F ...] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SERVER, CLIENT, PORT = "10.0.2.2", "10.0.2.50", 8080
WAYS = (("TFTP, 512-byte blocks", "tftp", 512), ("TFTP, 1468-byte blocks", "tftp", 1468),
        ("HTTP (nginx, generated server block)", "http", 0))


def _sh(*argv: str) -> None:
    subprocess.run(list(argv), check=True, capture_output=True)


def _inside(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs in the private namespaces: servers, a client namespace, the fetches."""
    from kbuild.lab.nginx import nginx_conf

    work = Path(spec["work"])
    _sh("mount", "-t", "tmpfs", "-o", "mode=0755", "kbuild-bench-run", "/run")
    _sh("ip", "link", "set", "lo", "up")
    _sh("ip", "link", "add", "kbbr0", "type", "bridge")
    _sh("ip", "addr", "add", f"{SERVER}/24", "dev", "kbbr0")
    _sh("ip", "link", "set", "kbbr0", "up")
    _sh("ip", "netns", "add", "kbclient")
    _sh("ip", "link", "add", "kbveth0", "type", "veth", "peer", "name", "kbveth1", "netns", "kbclient")
    _sh("ip", "link", "set", "kbveth0", "master", "kbbr0", "up")
    for cmd in (("ip", "addr", "add", f"{CLIENT}/24", "dev", "kbveth1"),
                ("ip", "link", "set", "kbveth1", "up"), ("ip", "link", "set", "lo", "up")):
        _sh("ip", "netns", "exec", "kbclient", *cmd)
    (work / "nginx-temp").mkdir(exist_ok=True)
    (work / "nginx.conf").write_text(nginx_conf(Path(spec["snippet"]), work))
    procs = [subprocess.Popen(["dnsmasq", "--no-daemon", "--port=0", "--interface=kbbr0",
                               "--bind-interfaces", "--enable-tftp", f"--tftp-root={spec['tree']}",
                               "--conf-file=/dev/null", "--pid-file=/run/dnsmasq.pid"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
             subprocess.Popen(["nginx", "-c", str(work / "nginx.conf"), "-p", str(work),
                               "-e", str(work / "nginx-error.log")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        time.sleep(1.0)
        out: dict[str, Any] = {}
        for name, scheme, blksize in WAYS:
            times = []
            for _ in range(spec["runs"]):
                started = time.monotonic()
                for rel, size in spec["files"]:
                    url = (f"tftp://{SERVER}/{rel}" if scheme == "tftp"
                           else f"http://{SERVER}:{PORT}/{rel}")
                    argv = ["ip", "netns", "exec", "kbclient", "curl", "-sS",
                            *(["--tftp-blksize", str(blksize)] if blksize else []),
                            "-o", "/dev/null", "-w", "%{size_download}", url]
                    r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
                    if r.returncode != 0 or int(r.stdout or 0) != size:
                        raise RuntimeError(f"{url}: curl exit {r.returncode}, {r.stdout!r} of {size} "
                                           f"bytes: {r.stderr.strip()}")
                times.append(time.monotonic() - started)
            out[name] = times
        return out
    finally:
        for p in procs:
            p.terminate()
            p.wait()


def _staged_dom0(site_file: Path) -> tuple[Path, list[Path], str | None]:
    """The staged tree, its dom0 kernel and hypervisor, or why there are none."""
    from kbuild.site import layout
    from kbuild.site.load import load_site

    site = load_site(site_file)
    tree = layout.stage_dir(site)
    images = tree / "images/dom0"
    kernels = sorted(images.glob("vmlinuz-*"))
    hyp = images / site.sources[site.profiles["dom0"].xen.hypervisor].filename  # type: ignore[union-attr]
    if not kernels or not hyp.is_file():
        return tree, [], (f"no staged dom0 kernel and hypervisor in {images} (run: doit kernel:dom0, "
                          "or pass --files KERNEL HYPERVISOR)")
    return tree, [kernels[-1], hyp], None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--site", type=Path, default=REPO / "kbuild.toml")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--files", type=Path, nargs="+",
                    help="fetch these files instead of the staged dom0 kernel and hypervisor")
    ap.add_argument("--inside", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inside:
        spec = json.loads(args.inside.read_text())
        Path(spec["result"]).write_text(json.dumps(_inside(spec)))
        return 0
    from kbuild.boot.http import nginx_server

    with tempfile.TemporaryDirectory(prefix="kbuild-http-fetch-") as tmp:
        work = Path(tmp)
        if args.files:
            what = "given files"
            tree = work / "tree"
            tree.mkdir()
            for f in args.files:
                shutil.copyfile(f, tree / f.name)
            served = [tree / f.name for f in args.files]
        else:
            what = "dom0 kernel + hypervisor"
            tree, served, why = _staged_dom0(args.site)
            if why:
                print(why, file=sys.stderr)
                return 1
        files = [(str(p.relative_to(tree)), p.stat().st_size) for p in served]
        snippet = work / "nginx-http.conf"
        snippet.write_text(nginx_server(f"http://{SERVER}:{PORT}/", tree))
        spec = {"work": tmp, "tree": str(tree), "snippet": str(snippet), "runs": args.runs,
                "files": files, "result": str(work / "result.json")}
        (work / "spec.json").write_text(json.dumps(spec))
        env = dict(os.environ, PYTHONPATH=str(REPO))
        subprocess.run(["unshare", "--net", "--mount", "--propagation", "private", "--kill-child", "--",
                        sys.executable, __file__, "--inside", str(work / "spec.json")],
                       check=True, env=env)
        times: dict[str, list[float]] = json.loads((work / "result.json").read_text())
    load = os.getloadavg()
    total = sum(size for _rel, size in files)
    rows = []
    for name, ts in times.items():
        rows.append({"figure": f"fetch {what} ({total} bytes): {name}",
                     "target": None, "kbuild": {"median": round(statistics.median(ts), 3),
                                                "min": round(min(ts), 3), "max": round(max(ts), 3)},
                     "anchor_name": None, "anchor": None, "ratio": None, "ok": None,
                     "runs": len(ts), "load": [round(x, 2) for x in load]})
    if args.json:
        print(json.dumps(rows))         # one line, as bench/_timing.py's scripts print theirs
        return 0
    print(f"files: {', '.join(f'{r} ({s} bytes)' for r, s in files)}")
    for r in rows:
        k = r["kbuild"]
        print(f"{r['figure']:80s} median {k['median']:7.3f} s  min {k['min']:7.3f}  max {k['max']:7.3f}"
              f"  (n={r['runs']})")
    print(f"load average after the runs: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
