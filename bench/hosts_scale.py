#!/usr/bin/env python3
"""Scale benchmark: a boot server with N hosts (default 5,000).

Builds a site with N hosts (MAC + IP, profile nfsroot, pxelinux only, as most
diskless pools use one loader) on top of the repo's site, with a stand-in build
record, and measures:
  * planning the tree (all per-host entries rendered)
  * publish, cold (empty target)
  * publish with nothing changed
  * publish with one host changed (and how many files were written)
Prints figures; asserts nothing. Usage: .venv/bin/python bench/hosts_scale.py [N]
"""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kbuild.publish import apply as publish  # noqa: E402
from kbuild.publish import stage  # noqa: E402
from kbuild.site import layout  # noqa: E402
from kbuild.site.load import load_site  # noqa: E402


def hosts_toml(n: int, changed: int | None = None) -> str:
    out = []
    for i in range(n):
        extra = '\nextra = ["quiet"]' if i == changed else ""
        out.append(f'[[hosts]]\nname = "h{i:05d}"\nmac = "52:54:01:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:'
                   f'{i & 255:02x}"\nip = "10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"\n'
                   f'profile = "nfsroot"{extra}\n')
    return "\n".join(out)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with tempfile.TemporaryDirectory(prefix="kbuild-scale-") as tmpd:
        root = Path(tmpd)
        (root / "fragments").symlink_to(REPO / "fragments")
        (root / "patches").symlink_to(REPO / "patches")
        base = (REPO / "kbuild.toml").read_text()
        base = base[: base.find("[profiles.uml]")] if "[profiles.uml]" in base else base
        toml = root / "kbuild.toml"
        # IPs must be unique: spread over 10.x.y.z
        toml.write_text(base + "\n" + hosts_toml(n))
        t = time.monotonic()
        site = load_site(toml)
        t_load = time.monotonic() - t
        p = site.profiles["nfsroot"]
        bdir = layout.build_dir(site, p)
        (bdir / "arch/x86/boot").mkdir(parents=True)
        (bdir / "arch/x86/boot/bzImage").write_bytes(b"\0" * 2_000_000)
        (bdir / ".config").write_text("CONFIG_NET=y\n")
        (bdir / "kbuild-build.json").write_text(json.dumps({
            "profile": "nfsroot", "arch": "x86_64", "image": "arch/x86/boot/bzImage",
            "kernel_release": "6.1.192", "config_sha256": "c" * 64, "source": "debian-6.1",
            "source_sha256": site.sources["debian-6.1"].sha256, "patches": None}))
        target = root / "tftp"

        t = time.monotonic()
        plan = stage.plan_tree(site)
        t_plan = time.monotonic() - t
        files = plan.files
        t = time.monotonic()
        cold = publish.publish(files, target)
        t_cold = time.monotonic() - t
        t = time.monotonic()
        noop = publish.publish(stage.plan_tree(site).files, target)
        t_noop = time.monotonic() - t

        toml.write_text(base + "\n" + hosts_toml(n, changed=n // 2))
        site2 = load_site(toml)
        t = time.monotonic()
        one = publish.publish(stage.plan_tree(site2).files, target)
        t_one = time.monotonic() - t
        t = time.monotonic()
        durable = root / "tftp-durable"
        publish.publish(files, durable, durable=True)
        t_durable = time.monotonic() - t
        shutil.rmtree(durable)

    print(f"# {n} hosts, {len(files)} files in the tree")
    print(f"load kbuild.toml ({n} hosts)                 {t_load:6.2f} s")
    print(f"plan tree (render every entry)              {t_plan:6.2f} s")
    print(f"publish cold (fsync payloads only)         {t_cold:6.2f} s  ({len(cold.written)} written)")
    print(f"publish cold (fsync every file)             {t_durable:6.2f} s")
    print(f"publish, nothing changed (plan + compare)   {t_noop:6.2f} s  ({len(noop.written)} written)")
    print(f"publish, one host changed (plan + publish)  {t_one:6.2f} s  ({len(one.written)} written: "
          f"{', '.join(one.written)})")


if __name__ == "__main__":
    main()
