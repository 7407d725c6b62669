"""Run inside a private network namespace: serve a published tree with the real
tftpd-hpa and fetch files with the real tftp client while kbuild publishes new
generations. Prints a JSON summary: every fetched file must be one whole version."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from kbuild.publish.apply import publish  # noqa: E402
from kbuild.publish.plan import TreeFile  # noqa: E402

SIZES = {"images/p/vmlinuz-6.1": 3_000_000, "images/p/xen.gz": 1_000_000,
         "pxelinux.cfg/01-52-54-00-12-34-56": 2_000, "pxelinux.cfg/0A00020F": 2_000,
         "grub/grub.cfg": 3_000}


def version(tag: str) -> dict[str, bytes]:
    out = {}
    for rel, size in SIZES.items():
        seed = hashlib.sha256(f"{tag}:{rel}".encode()).digest()
        out[rel] = (seed * (size // len(seed) + 1))[:size]
    return out


def main() -> int:
    tree = Path(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # tftpd-hpa resolves its --address with AI_ADDRCONFIG, which fails while the
    # namespace has nothing but 127.0.0.1 (the same trap as nfs-ganesha).
    subprocess.run(["ip", "addr", "add", "192.0.2.1/32", "dev", "lo"], check=True)
    versions = {t: version(t) for t in ("A", "B")}
    digests = {rel: {hashlib.sha256(v[rel]).hexdigest(): t for t, v in versions.items()}
               for rel in SIZES}
    publish([TreeFile(r, data=d, role="payload" if r.startswith("images/") else "entry")
             for r, d in versions["A"].items()], tree, keep=3, durable=False)
    server = subprocess.Popen(["in.tftpd", "--listen", "--foreground", "--address", "127.0.0.1:69",
                               "--secure", str(tree)], stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    if server.poll() is not None:
        print(json.dumps({"error": f"in.tftpd exited with {server.returncode}"}))
        return 1
    stop = threading.Event()
    stats = {"fetches": 0, "bad": [], "seen": {"A": 0, "B": 0}, "publishes": 0}

    def publisher() -> None:
        for i in range(rounds):
            tag = "B" if i % 2 == 0 else "A"
            publish([TreeFile(r, data=d, role="payload" if r.startswith("images/") else "entry")
                     for r, d in versions[tag].items()], tree, keep=3, durable=False)
            stats["publishes"] += 1
            # Let the reader finish two fetches before the next publish: the second
            # one started after this publish ended, so every version is served at
            # least once however slow the machine is, while the first one (and the
            # fetches of the next round) overlap the publishes.
            done = stats["fetches"]
            deadline = time.monotonic() + 120
            while stats["fetches"] < done + 2 and not stop.is_set() and time.monotonic() < deadline:
                time.sleep(0.05)
        stop.set()

    t = threading.Thread(target=publisher)
    t.start()
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "got"
        while not stop.is_set() or stats["fetches"] < 10:
            for rel in SIZES:
                local.unlink(missing_ok=True)
                r = subprocess.run(["tftp", "-m", "binary", "127.0.0.1", "-c", "get", rel, str(local)],
                                   capture_output=True, text=True, timeout=60)
                if "timed out" in r.stdout + r.stderr:
                    stop.set()
                    stats["bad"].append({"file": rel, "tftp": "transfer timed out: server down?"})
                    break
                data = local.read_bytes() if local.exists() else b""
                stats["fetches"] += 1
                tag = digests[rel].get(hashlib.sha256(data).hexdigest())
                if tag is None:
                    stats["bad"].append({"file": rel, "bytes": len(data), "tftp": r.stdout + r.stderr})
                else:
                    stats["seen"][tag] += 1
            if stats["fetches"] > 2000:
                break
    t.join()
    server.terminate()
    server.wait()
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
