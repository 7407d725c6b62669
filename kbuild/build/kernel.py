"""The build stage: the kernel's own make, out of tree, with ccache, a full log and a
build record (kbuild-build.json: digests, toolchain, the reproducer command)."""
from __future__ import annotations

import json
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kbuild.build import make
from kbuild.errors import UserError
from kbuild.kconfig.environment import base_environment, cc_version_text, detect_toolchain
from kbuild.site import layout
from kbuild.site.arches import IMAGE_PATHS
from kbuild.site.model import Profile, Site
from kbuild.source.kinds import source_provenance
from kbuild.source.tree import require_tree
from kbuild.util.files import atomic_write_text, sha256_file

Progress = Callable[[str], None]


@dataclass
class BuildResult:
    """A finished build: the image, its kernel release, seconds and make steps, the log and
    the build record."""

    image: Path
    release: str
    seconds: float
    steps: int
    log: Path
    record: Path


def build_environment(site: Site) -> dict[str, str]:
    env = base_environment()
    env.update(make.ccache_environment(layout.ccache_dir(site), site.root))
    return env


def build(site: Site, profile: Profile, progress: Progress | None = None,
          jobs: int | None = None) -> BuildResult:
    tree = require_tree(site, profile)
    config = layout.config_path(site, profile)
    if not config.is_file():
        raise UserError(f"profile {profile.name!r} is not configured", path=config,
                        hint=f"run: doit config:{profile.name}")
    tc = detect_toolchain()
    bdir = layout.build_dir(site, profile)
    argv = make.make_argv(tree, bdir, make.make_variables(profile.arch, tc),
                          [profile.image], jobs or make.default_jobs())
    run = make.run_make(argv, build_environment(site), layout.build_log(site, profile),
                        f"build {profile.name}", progress)
    image = bdir / IMAGE_PATHS[profile.arch]
    release = kernel_release(bdir)
    record = layout.build_record(site, profile)
    src = site.sources[profile.source]
    atomic_write_text(record, json.dumps({
        "profile": profile.name,
        "arch": profile.arch,
        "image": str(image.relative_to(bdir)),
        "image_sha256": sha256_file(image),
        "image_size": image.stat().st_size,
        "kernel_release": release,
        "config_sha256": sha256_file(config),
        "source": src.name,
        "source_sha256": src.sha256,
        **source_provenance(src),
        "patches": profile.patches,
        "toolchain": cc_version_text(tc.cc_command),
        "ccache": bool(tc.launcher),
        "reproducer": " ".join(argv),
        "build_seconds": round(run.seconds, 1),
        "host": platform.node(),
    }, indent=2) + "\n")
    return BuildResult(image=image, release=release, seconds=run.seconds, steps=run.steps,
                       log=run.log, record=record)


def kernel_release(build_dir: Path) -> str:
    path = build_dir / "include/config/kernel.release"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise UserError("no kernel.release: the build did not finish", path=path,
                        hint="run the build task again") from None


def read_build_record(site: Site, profile: Profile) -> dict[str, object]:
    path = layout.build_record(site, profile)
    try:
        data: dict[str, object] = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"profile {profile.name!r} has not been built", path=path,
                        hint=f"run: doit build:{profile.name}") from None
    except json.JSONDecodeError as e:
        raise UserError(f"corrupt build record: {e}", path=path, hint="rebuild the profile") from None
    return data
