"""Builders for the farm proofs: a site copy at its own path that builds part of a profile's
tree through kbuild's one make path (kbuild.build.kernel.kernel_make), run as a process
(inside the farm's network namespace) that prints one JSON document.

    python -m tests.farmbuild SITE_FILE PROFILE BUILDDIR TARGET...
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e import BIN, REPO, command_env, copy_site


def make_builder(root: Path, work_site_root: Path, profile: str, build_toml: str = "",
                 ccache_dir: str = "ccache") -> Path:
    """A site at ``root``: the checkout's site files, ``[build]`` from ``build_toml``, its own
    empty compiler cache, and the work site's unpacked source tree hard-linked into its own
    artifacts/src (same layout, another path: what a second checkout has)."""
    from kbuild.site import layout
    from kbuild.site.load import load_site

    src_site = load_site(work_site_root / "kbuild.toml")
    toml = (REPO / "kbuild.toml").read_text()
    toml = toml.replace("[site]\n", f'[site]\nccache_dir = "{ccache_dir}"\n', 1)
    copy_site(root, toml + "\n" + build_toml)
    site = load_site(root / "kbuild.toml")
    p = site.profiles[profile]
    tree = layout.pristine_tree(src_site, src_site.sources[p.source])
    dest = layout.pristine_tree(site, site.sources[p.source])
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-al", str(tree), str(dest)], check=True)
    return root / "kbuild.toml"


def builder_argv(site_file: Path, profile: str, builddir: Path, targets: list[str]) -> list[str]:
    return [str(BIN / "python"), "-m", "tests.farmbuild", str(site_file), profile, str(builddir),
            *targets]


def run_builder(argv: list[str], env_extra: dict[str, str] | None = None,
                timeout: float = 1800) -> dict[str, object]:
    env = command_env()
    env.update(env_extra or {})
    env["PYTHONPATH"] = str(REPO)
    started = time.monotonic()
    r = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    out: dict[str, object] = json.loads(r.stdout)
    out["wall_seconds"] = time.monotonic() - started
    out["stderr"] = r.stderr
    return out


def main(argv: list[str]) -> int:
    from kbuild.build.kernel import kernel_make
    from kbuild.site import layout
    from kbuild.site.load import load_site

    site_file, profile_name, builddir, *targets = argv
    site = load_site(Path(site_file))
    profile = site.profile(profile_name)
    bdir = Path(builddir)
    bdir.mkdir(parents=True, exist_ok=True)
    cfg = bdir / ".config"
    if not cfg.exists():
        src = Path(os.environ["FARM_CONFIG"])
        cfg.write_bytes(src.read_bytes())
    log = layout.logs_dir(site) / f"farm-{bdir.name}.log"
    steps: list[tuple[float, str, str]] = []
    started = time.monotonic()

    def seen(message: str) -> None:   # make's step lines, at most every 0.2 s
        kind, _, path = message.split("  ", 1)[-1].partition(" ")
        steps.append((time.monotonic() - started, kind, path))

    km = kernel_make(site, profile, bdir, targets, log, f"farm {bdir.name}", progress=seen)
    # step times from make's start (kernel_make's own work before make is not make's)
    before_make = time.monotonic() - started - km.run.seconds
    steps = [(t - before_make, kind, path) for t, kind, path in steps]
    for w in km.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(json.dumps({
        "engine": km.plan.engine, "jobs": km.plan.jobs, "hosts": list(km.plan.hosts),
        "seconds": km.run.seconds, "summary": km.summary(), "warnings": km.warnings,
        "cache": km.cache.as_dict() if km.cache else None,
        "remote_by_host": km.distcc.remote_by_host if km.distcc else {},
        "local": km.distcc.local if km.distcc else None,
        "env": km.env, "reproducer": km.reproducer, "log": str(log),
        **phases(steps, targets, km.run.seconds)}))
    return 0


PREPARE_DIRS = ("scripts/", "tools/", "arch/x86/tools/", "arch/x86/entry/syscalls/")
PREPARE_FILES = ("kernel/bounds.s", "arch/x86/kernel/asm-offsets.s")


def phases(steps: list[tuple[float, str, str]], targets: list[str], total: float) -> dict[str, float]:
    """Where a build's time went, from make's step lines (0.2 s resolution): ``start_up``
    until the first compile of the targets (Kconfig's syncconfig, host tools, prepare), and
    ``tail`` after the last compile (archives, links, the image)."""
    dirs = tuple(t for t in targets if t.endswith("/"))

    def target_compile(kind: str, path: str) -> bool:
        if kind != "CC":
            return False
        if dirs:
            return path.startswith(dirs)
        return not path.startswith(PREPARE_DIRS) and path not in PREPARE_FILES

    compiles = [t for t, kind, path in steps if target_compile(kind, path)]
    if not compiles:
        return {"start_up": total, "tail": 0.0}
    return {"start_up": round(compiles[0], 2), "tail": round(total - compiles[-1], 2)}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
