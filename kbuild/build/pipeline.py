"""The pipeline stages as library functions: fetch, unpack, configure, build.

doit tasks (kbuild/tasks/) and the CLI call these; they return results and
raise kbuild errors, never print (progress goes through a callback).
"""
from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kbuild.build import make
from kbuild.errors import Diagnostic, RequirementError, UserError
from kbuild.kconfig import base as kconfig_base
from kbuild.kconfig import environment as toolchain
from kbuild.kconfig import merge as kconfig
from kbuild.kconfig import tree as kconfig_tree
from kbuild.kconfig.configfile import read_config
from kbuild.site import arches as toolchain_arches
from kbuild.site import layout
from kbuild.site.model import Profile, Site
from kbuild.source.kinds import source_provenance
from kbuild.source.tree import require_tree
from kbuild.util.files import atomic_write_text, sha256_file, sha256_text, write_text_if_changed

Progress = Callable[[str], None]


# --- configure -------------------------------------------------------------


@dataclass
class ConfigureResult:
    config: Path
    changed: bool
    seconds: float
    symbols: int
    requested: int
    warnings: list[Diagnostic] = field(default_factory=list)


def load_profile_tree(site: Site, profile: Profile, tree: Path) -> kconfig_tree.KconfigTree:
    tc = toolchain.detect_toolchain()
    env = toolchain.kconfig_environment(tree, profile.arch, tc)
    return kconfig_tree.load_tree(tree, profile.arch, env, layout.kconfig_workdir(site, profile))


def resolve_profile_config(site: Site, profile: Profile, tree: Path,
                           fragments: tuple[str, ...] | None = None
                           ) -> tuple[kconfig_tree.KconfigTree, kconfig.MergeResult, list[kconfig.Drop]]:
    """Base + fragments with kconfiglib; returns the resolved tree, the merge and any drops."""
    kt = load_profile_tree(site, profile, tree)
    kconfig_base.apply_base(kt, profile.base, site.root)
    frags = [read_config(site.fragment_path(f), display=str(site.fragment_path(f).relative_to(site.root)))
             for f in (profile.fragments if fragments is None else fragments)]
    merged = kconfig.merge_fragments(kt, frags)
    if merged.errors:
        return kt, merged, []
    return kt, merged, kconfig.check_requested(kt, merged.requested)


def configure(site: Site, profile: Profile) -> ConfigureResult:
    """Write the profile's .config (only if it changes), or raise naming every problem."""
    started = time.monotonic()
    tree = require_tree(site, profile)
    kt, merged, drops = resolve_profile_config(site, profile, tree)
    if merged.errors:
        raise UserError(f"{len(merged.errors)} problem(s) in the fragments of profile "
                        f"{profile.name!r}:\n" + "\n".join(str(d) for d in merged.errors))
    if drops:
        raise RequirementError(
            f"profile {profile.name!r}: {len(drops)} requested value(s) did not stick; "
            "no build was started:\n" + "\n".join(str(d) for d in drops),
            hint=_fix_hint(drops))
    text = kconfig_tree.config_text(kt)
    out = layout.config_path(site, profile)
    changed = write_text_if_changed(out, text)  # make stays incremental
    return ConfigureResult(config=out, changed=changed, seconds=time.monotonic() - started,
                           symbols=len(kt.kconf.unique_defined_syms), requested=len(merged.requested),
                           warnings=[d for d in merged.diagnostics if d.severity != "error"])


def _fix_hint(drops: list[kconfig.Drop]) -> str:
    wanted: list[str] = []
    for d in drops:
        for b in d.blockers:
            if b not in wanted:
                wanted.append(b)
    if not wanted:
        return "see the reasons above; add the missing dependencies to a fragment"
    lines = [f"CONFIG_{b}" if not b.endswith("=n") else f"# CONFIG_{b[:-2]} is not set" for b in wanted]
    return "add to a fragment: " + "  ".join(lines)


# --- build -----------------------------------------------------------------


@dataclass
class BuildResult:
    image: Path
    release: str
    seconds: float
    steps: int
    log: Path
    record: Path


def build_environment(site: Site) -> dict[str, str]:
    env = toolchain.base_environment()
    env.update(toolchain.ccache_environment(layout.ccache_dir(site), site.root))
    return env


def build(site: Site, profile: Profile, progress: Progress | None = None,
          jobs: int | None = None) -> BuildResult:
    tree = require_tree(site, profile)
    config = layout.config_path(site, profile)
    if not config.is_file():
        raise UserError(f"profile {profile.name!r} is not configured", path=config,
                        hint=f"run: doit config:{profile.name}")
    tc = toolchain.detect_toolchain()
    bdir = layout.build_dir(site, profile)
    argv = make.make_argv(tree, bdir, toolchain.make_variables(profile.arch, tc),
                          [profile.image], jobs or make.default_jobs())
    run = make.run_make(argv, build_environment(site), layout.build_log(site, profile),
                        f"build {profile.name}", progress)
    image = bdir / toolchain_arches.IMAGE_PATHS[profile.arch]
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
        "toolchain": toolchain.cc_version_text(tc.cc_command),
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


def fragments_digest(site: Site, profile: Profile) -> str:
    """Digest of everything that decides a profile's .config (for doit's uptodate)."""
    parts = [profile.base, profile.arch, profile.source, site.sources[profile.source].sha256,
             profile.patches or ""]
    for f in profile.fragments:
        p = site.fragment_path(f)
        parts.append(f)
        parts.append(p.read_text(errors="replace") if p.is_file() else "<missing>")
    base_file = site.root / profile.base  # a base given as a file: its content matters too
    if base_file.is_file():
        parts.append(base_file.read_text(errors="replace"))
    return sha256_text("\0".join(parts))
