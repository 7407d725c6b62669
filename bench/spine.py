#!/usr/bin/env python3
"""Spine benchmark: kbuild against the kernel's bare make, side by side, same .config.

Prints (never asserts):
  * cold build wall: kbuild (fresh build dir, empty ccache) vs bare `make O=… bzImage`
  * warm-ccache rebuild wall (fresh build dir, ccache filled by the cold run)
  * no-op `doit kernel:<profile>` wall vs no-op `make bzImage` wall
  * configure wall (kconfiglib, in process) vs `make olddefconfig` wall on the same input
  * image size, and PXE boot-to-marker seconds (with --boot)

Usage: .venv/bin/python bench/spine.py [--profile nfsroot] [--skip-cold] [--boot]
The cold builds take several minutes each on 2 cores.
"""
from __future__ import annotations

import argparse
import dataclasses
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

from kbuild.build import configure, kernel, make  # noqa: E402
from kbuild.kconfig import environment  # noqa: E402
from kbuild.site import arches, layout  # noqa: E402
from kbuild.site.load import load_site  # noqa: E402
from kbuild.source.tree import require_tree  # noqa: E402


def wall(fn, repeat: int = 1) -> float:
    times = []
    for _ in range(repeat):
        t = time.monotonic()
        fn()
        times.append(time.monotonic() - t)
    return statistics.median(times)


def run(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    r = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True)
    if r.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(argv)}\n{r.stderr[-2000:]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="nfsroot")
    ap.add_argument("--skip-cold", action="store_true", help="skip the two cold builds")
    ap.add_argument("--boot", action="store_true", help="also time a PXE boot to the marker")
    args = ap.parse_args()

    site = load_site(REPO / "kbuild.toml")
    profile = site.profile(args.profile)
    doit = str(Path(sys.executable).parent / "doit")
    print(f"# kbuild spine benchmark, profile {profile.name}, {os.cpu_count()} CPUs")

    # Make sure the real pipeline is complete (this also provides the tree and .config).
    run([doit, f"kernel:{profile.name}"], cwd=REPO)
    tree = require_tree(site, profile)
    config = layout.config_path(site, profile)
    tc = environment.detect_toolchain()
    image_rel = arches.IMAGE_PATHS[profile.arch]

    with tempfile.TemporaryDirectory(prefix="kbuild-bench-", dir=site.artifacts) as tmpd:
        tmp = Path(tmpd)
        results: list[tuple[str, str]] = []

        # configure: kconfiglib in process vs make olddefconfig on the same input
        t_cfg = wall(lambda: configure.resolve_profile_config(site, profile, tree), repeat=3)
        mk = tmp / "olddef"
        mk.mkdir()
        plain = environment.Toolchain()
        base_env = environment.base_environment()
        run(["make", "-s", "-C", str(tree), f"O={mk}", *make.make_variables(profile.arch, plain),
             "tinyconfig"], env=base_env)
        merged = (mk / ".config").read_text() + "".join(
            site.fragment_path(f).read_text() for f in profile.fragments)

        def olddef() -> None:
            (mk / ".config").write_text(merged)
            run(["make", "-s", "-C", str(tree), f"O={mk}",
                 *make.make_variables(profile.arch, plain), "olddefconfig"], env=base_env)

        olddef()  # builds the conf tool once
        t_old = wall(olddef, repeat=3)
        results.append(("configure (kconfiglib: parse + base + fragments + check)", f"{t_cfg:.2f} s"))
        results.append(("make olddefconfig on the same input", f"{t_old:.2f} s"))

        # no-op runs
        t_noop_doit = wall(lambda: run([doit, f"kernel:{profile.name}"], cwd=REPO), repeat=5)
        bdir = layout.build_dir(site, profile)
        env = kernel.build_environment(site)
        noop_make = make.make_argv(tree, bdir, make.make_variables(profile.arch, tc),
                                   [profile.image], make.default_jobs())
        t_noop_make = wall(lambda: run(noop_make, env=env), repeat=3)
        results.append(("no-op doit kernel:" + profile.name, f"{t_noop_doit:.2f} s"))
        results.append(("no-op make " + profile.image, f"{t_noop_make:.2f} s"))

        if not args.skip_cold:
            # bare make, cold: plain gcc, fresh O= dir, same .config
            bare = tmp / "bare"
            bare.mkdir()
            shutil.copy(config, bare / ".config")
            bare_argv = make.make_argv(tree, bare, make.make_variables(profile.arch, plain),
                                       [profile.image], make.default_jobs())
            t_bare = wall(lambda: run(bare_argv, env=base_env))
            # kbuild, cold: its own build function, fresh build dir, empty ccache
            cold_site = dataclasses.replace(site, artifacts=tmp / "artifacts")
            (cold_site.artifacts / "src").mkdir(parents=True)
            (cold_site.artifacts / "src" / tree.name).symlink_to(tree)
            cfg = layout.config_path(cold_site, profile)
            cfg.parent.mkdir(parents=True)
            shutil.copy(config, cfg)
            t_kb = wall(lambda: kernel.build(cold_site, profile))
            shutil.rmtree(layout.build_dir(cold_site, profile) / "arch")
            shutil.rmtree(layout.build_dir(cold_site, profile) / "kernel")
            t_warm = wall(lambda: kernel.build(cold_site, profile))
            results.append(("cold build, kbuild (ccache empty)", f"{t_kb:.0f} s"))
            results.append(("cold build, bare make (no ccache)", f"{t_bare:.0f} s"))
            results.append(("rebuild of arch/ + kernel/ with warm ccache", f"{t_warm:.0f} s"))

        image = bdir / image_rel
        results.append((f"{profile.image} size", f"{image.stat().st_size / 2**20:.2f} MiB "
                                                 f"({image.stat().st_size} bytes)"))
        if args.boot:
            from kbuild.lab import boot as bootlab

            res = bootlab.boot_profile(site, profile)
            results.append(("PXE boot to marker (QEMU TCG)", f"{res.marker_seconds:.1f} s"))

    width = max(len(k) for k, _ in results)
    for k, v in results:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
