"""The build stage: the kernel's own make, out of tree, with ccache (and a distcc pool or a
shared cache when the site has them), a full log and a build record (kbuild-build.json:
digests, toolchain, engine, cache counts, the reproducer command)."""
from __future__ import annotations

import json
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from kbuild.build import engine, make, repro
from kbuild.build.ccstats import CacheStats, read_stats_log
from kbuild.build.configcheck import check_config_kept
from kbuild.errors import UserError
from kbuild.kconfig.environment import (
    _SCRUB as SCRUBBED,
)
from kbuild.kconfig.environment import (
    base_environment,
    cc_version_text,
    detect_toolchain,
)
from kbuild.site import layout
from kbuild.site.arches import IMAGE_PATHS
from kbuild.site.model import BuildConfig, Profile, Site
from kbuild.source.kinds import source_provenance
from kbuild.source.tree import require_tree
from kbuild.util.files import atomic_write_text, sha256_file

Progress = Callable[[str], None]


@dataclass
class KernelMake:
    """One make of a profile's tree: the run, the engine it used, the environment kbuild set
    (credentials redacted), the reproducer, per-build cache counts and distcc's report."""

    run: make.MakeRun
    plan: engine.EnginePlan
    env: dict[str, str]
    reproducer: str
    cache: CacheStats | None
    distcc: engine.DistccReport | None
    source_epoch: int
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = []
        if self.distcc is not None:
            parts.append(f"distcc: {self.distcc.remote} compiles on {len(self.distcc.remote_by_host)} "
                         f"hosts, {self.distcc.local} local")
        elif self.plan.engine == "local":
            parts.append("local compiles")
        if self.cache is not None:
            parts.append(self.cache.summary())
        return "; ".join(parts)


@dataclass
class BuildResult:
    """A finished build: the image, its kernel release, seconds and make steps, the log and
    the build record; ``detail`` says where it compiled and how the cache did."""

    image: Path
    release: str
    seconds: float
    steps: int
    log: Path
    record: Path
    detail: str = ""
    warnings: list[str] = field(default_factory=list)


def build_environment(site: Site) -> dict[str, str]:
    env = base_environment()
    env.update(make.ccache_environment(layout.ccache_dir(site), site.root))
    return env


def kernel_make(site: Site, profile: Profile, builddir: Path, targets: list[str], log: Path,
                label: str, *, use_ccache: bool = True, jobs: int | None = None,
                build: BuildConfig | None = None, progress: Progress | None = None,
                run_vars: dict[str, str | None] | None = None) -> KernelMake:
    """make ``targets`` of the profile's tree in ``builddir``: the one path every build takes
    (the build task, verify-build's uncached rebuild, partial builds of the farm proofs)."""
    tree = require_tree(site, profile)
    src = site.sources[profile.source]
    epoch = repro.source_epoch(layout.pristine_tree(site, src))
    tc = detect_toolchain(use_ccache=use_ccache)
    cfg = engine.effective_config(build or site.build, run_vars=run_vars)
    if not tc.launcher:
        cfg = BuildConfig(engine="local", jobs=cfg.jobs)  # distcc runs behind ccache here
    logs = log.parent
    logs.mkdir(parents=True, exist_ok=True)
    plan = engine.plan_engine(cfg, make.default_jobs(), logs)
    if jobs:
        plan.jobs = jobs
    warnings = list(plan.warnings)
    kb_env = repro.identity_environment(epoch)
    shown: dict[str, str] = {}
    stats_log = None
    if tc.launcher:
        kb_env.update(make.ccache_environment(layout.ccache_dir(site), site.root))
        kb_env.update(plan.env)
        stats_log = logs / f"{log.stem}.ccache-stats"
        kb_env["CCACHE_STATSLOG"] = str(stats_log)
        if cfg.ccache_remote:
            why = _remote_unreachable(cfg.ccache_remote, cfg.connect_timeout)
            shown_url = repro.redact_url(cfg.ccache_remote)
            if why:
                warnings.append(f"ccache remote storage {shown_url} unreachable ({why}); "
                                "building with the local cache only")
            else:
                kb_env["CCACHE_REMOTE_STORAGE"] = cfg.ccache_remote
                shown["CCACHE_REMOTE_STORAGE"] = shown_url
    else:
        kb_env["CCACHE_DISABLE"] = "1"   # a cache hit proves nothing about reproducibility
    variables = make.make_variables(profile.arch, tc) + [repro.prefix_map_variable(tree, builddir)]
    argv = make.make_argv(tree, builddir, variables, targets, plan.jobs)
    env = base_environment()
    env.update(kb_env)
    for path in (stats_log, plan.distcc_log):
        if path is not None:
            path.unlink(missing_ok=True)
    config = builddir / ".config"
    written = config.read_text(errors="replace") if config.is_file() else None
    marker = builddir / make.RUNNING_MARKER
    if marker.exists():
        torn = make.repair_interrupted(builddir)
        if torn:
            warnings.append(f"the last build of {profile.name} was killed: {len(torn)} target(s) it "
                            f"may have left half-written are built again ({', '.join(torn[:3])}"
                            f"{', …' if len(torn) > 3 else ''})")
    marker.touch()
    run = make.run_make(argv, env, log, label, progress)
    marker.unlink(missing_ok=True)   # (a make that failed leaves it: the next build looks)
    if written is not None:
        check_config_kept(site, profile, config, written)
    cache = read_stats_log(stats_log) if stats_log else None
    if cache is not None and cache.remote_errors:
        warnings.append(f"ccache remote storage failed for {cache.remote_errors} compiles "
                        "(they used the local cache)")
    report = engine.read_distcc_log(plan.distcc_log) if plan.distcc_log else None
    visible = {**kb_env, **shown}
    return KernelMake(run=run, plan=plan, env=visible,
                      reproducer=repro.reproducer(visible, SCRUBBED, argv),
                      cache=cache, distcc=report, source_epoch=epoch, warnings=warnings)


def _remote_unreachable(url: str, timeout: float) -> str | None:
    parts = urlsplit(url)
    default = 6379 if parts.scheme == "redis" else 80
    return engine.reachable(parts.hostname or "", parts.port or default, timeout)


def build(site: Site, profile: Profile, progress: Progress | None = None,
          jobs: int | None = None, run_vars: dict[str, str | None] | None = None) -> BuildResult:
    """Build the profile's image in its build dir and write the build record. ``run_vars``:
    doit's command-line overrides of ``[build]`` (engine.RUN_VARIABLES)."""
    config = layout.config_path(site, profile)
    if not config.is_file():
        raise UserError(f"profile {profile.name!r} is not configured", path=config,
                        hint=f"run: doit config:{profile.name}")
    bdir = layout.build_dir(site, profile)
    km = kernel_make(site, profile, bdir, [profile.image], layout.build_log(site, profile),
                     f"build {profile.name}", jobs=jobs, progress=progress, run_vars=run_vars)
    image = bdir / IMAGE_PATHS[profile.arch]
    release = kernel_release(bdir)
    record = layout.build_record(site, profile)
    src = site.sources[profile.source]
    tc = detect_toolchain()
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
        "source_date_epoch": km.source_epoch,
        "engine": {"name": km.plan.engine, "jobs": km.plan.jobs, "hosts": list(km.plan.hosts),
                   "remote_jobs": km.distcc.remote if km.distcc else 0,
                   "remote_by_host": km.distcc.remote_by_host if km.distcc else {},
                   "local_jobs": km.distcc.local if km.distcc else None},
        "ccache_stats": km.cache.as_dict() if km.cache else None,
        "environment": km.env,
        "reproducer": km.reproducer,
        "build_seconds": round(km.run.seconds, 1),
        "host": platform.node(),
    }, indent=2) + "\n")
    return BuildResult(image=image, release=release, seconds=km.run.seconds, steps=km.run.steps,
                       log=km.run.log, record=record, detail=km.summary(), warnings=km.warnings)


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
