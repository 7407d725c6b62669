"""The actions of the doit tasks: one pipeline stage each, on the site the tasks were
made from, with a short report on stderr.

Module-level functions with plain arguments (picklable for ``doit -n``); each is a
:func:`kbuild.tasks.guard.action`, so a kbuild error fails the task with its message.
"""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

from doit import get_var

from kbuild.errors import KbuildError, UserError
from kbuild.site import layout
from kbuild.site.load import find_site_file, load_site
from kbuild.site.model import Profile, Site
from kbuild.tasks.guard import action


def tasks_site_file() -> Path:
    """The site file: ``doit site=FILE``, else $KBUILD_SITE, else kbuild.toml found upwards."""
    explicit = get_var("site", None) or os.environ.get("KBUILD_SITE")
    if explicit:
        return Path(explicit).resolve()
    return find_site_file()


@functools.lru_cache(maxsize=4)
def load_site_for_tasks(path: str) -> Site:
    """The site with its deb sources locked: resolved here, before tasks exist, when one
    is not in the cache yet (tasks name files by the locked sha256). A failure (no
    network) is left for the fetch task to report."""
    s = load_site(Path(path))
    if any(src.is_deb for src in s.sources.values()):
        from kbuild.source import deb as debsource

        if get_var("locked", None) not in (None, "", "0"):
            os.environ["KBUILD_LOCKED"] = "1"
        try:
            s = debsource.relock_site(s, needed=sources_needed(s, requested_tasks()))
        except KbuildError as e:
            if isinstance(e, UserError) and debsource.locked_mode(s):
                raise
            print(f"warning: cannot resolve the deb sources now ({e.message}); the fetch task "
                  "will try again", file=sys.stderr)
    return s


# doit's commands: `run` (the default) runs the tasks named after it; these run none.
_RUNNING_COMMANDS = ("run",)
_IDLE_COMMANDS = ("list", "info", "forget", "clean", "ignore", "dumpdb", "tabcompletion", "help",
                  "reset-dep")


def requested_tasks(argv: list[str] | None = None) -> list[str] | None:
    """The tasks this `doit` process was asked to run (from its command line), or None when
    that cannot be told (doit run from Python, a default task list): then every source
    counts. ``[]`` for commands that run no task (``doit list``)."""
    argv = sys.argv if argv is None else argv
    if not argv or os.path.basename(argv[0]) != "doit":
        return None
    words = [w for w in argv[1:] if not w.startswith("-") and "=" not in w]
    if words and words[0] in _RUNNING_COMMANDS:
        words = words[1:]
    elif words and words[0] in _IDLE_COMMANDS:
        return []
    return words or None


def _profile_sources(profile: Profile) -> set[str]:
    return {profile.source} | ({profile.xen.hypervisor} if profile.xen else set())


def sources_needed(site: Site, tasks: list[str] | None) -> set[str] | None:
    """The sources ``tasks`` work on (None: all). A kernel, stage or boot task of a profile
    needs the profile's own (kernel, hypervisor) and, as a stage publishes every built
    profile, those of every profile with a build record; a profile never built needs
    nothing (its deb source is not resolved against the index on every no-op run)."""
    if tasks is None:
        return None
    needed: set[str] = set()
    built: set[str] | None = None
    for task in tasks:
        base, _, name = task.partition(":")
        if base in ("fetch", "unpack") and name in site.sources:
            needed.add(name)
        elif base == "patch" and "@" in name:
            needed.add(name.rsplit("@", 1)[1])
        elif base in ("config", "verify", "build") and name in site.profiles:
            needed.add(site.profiles[name].source)
        elif base in ("kernel", "stage", "boot") and name in site.profiles:
            if built is None:
                built = {src for p in site.profiles.values() if layout.build_record(site, p).is_file()
                         for src in _profile_sources(p)}
            needed |= _profile_sources(site.profiles[name]) | built
        else:
            return None
    return needed


@action
def act_source(site_path: str, name: str, step: str) -> None:
    """``step`` is "fetch" (into the cache) or "unpack" (fetch, then unpack)."""
    from kbuild.source.kinds import fetch_source
    from kbuild.source.tree import unpack_source
    from kbuild.util.progress import ProgressLine

    s = load_site_for_tasks(site_path)
    do = fetch_source if step == "fetch" else unpack_source
    # a failed fetch or unpack clears its progress line too, before doit prints the error
    with ProgressLine(interval=10 if step == "fetch" else 30) as progress:
        do(s, s.sources[name], progress)


@action
def act_patch(site_path: str, profile: str) -> None:
    from kbuild.site.layout import pristine_tree
    from kbuild.source.patches import apply_series
    from kbuild.util.progress import ProgressLine

    s = load_site_for_tasks(site_path)
    p = s.profile(profile)
    src = s.sources[p.source]
    assert p.patches is not None
    with ProgressLine(interval=30) as progress:
        report = apply_series(s, src, pristine_tree(s, src), p.patches, progress)
    note = f"patches/{p.patches}: {len(report.applied)} applied to {report.kernelversion}"
    if report.skipped:
        note += f", {len(report.skipped)} outside their version range ({', '.join(report.skipped)})"
    if not report.applied:
        note += "; warning: no patch of this series applies to this kernel"
    print(note, file=sys.stderr)


@action
def act_config(site_path: str, profile: str) -> None:
    from kbuild.build.configure import configure

    s = load_site_for_tasks(site_path)
    res = configure(s, s.profile(profile))
    state = "written" if res.changed else "unchanged"
    print(f"config {profile}: {res.requested} requested values all set; "
          f".config {state} ({res.seconds:.1f} s)", file=sys.stderr)


@action
def act_verify(site_path: str, profile: str) -> None:
    from kbuild.verify.profile import verify_profile
    from kbuild.verify.render import failed_error, render_summary

    s = load_site_for_tasks(site_path)
    report = verify_profile(s, s.profile(profile))
    print(render_summary(report), file=sys.stderr)
    if not report.passed:
        raise failed_error(report)


@action
def act_build(site_path: str, profile: str) -> None:
    from kbuild.build.engine import RUN_VARIABLES
    from kbuild.build.kernel import build
    from kbuild.util.progress import ProgressLine

    s = load_site_for_tasks(site_path)
    # `doit engine=local kernel:dom0`: this run's overrides of [build] (over the environment)
    run_vars = {name: get_var(name, None) for name in RUN_VARIABLES}
    with ProgressLine() as progress:
        res = build(s, s.profile(profile), progress, run_vars=run_vars)
    size = res.image.stat().st_size
    for w in res.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"build {profile}: {res.image.name} {res.release}, {size / 2**20:.2f} MiB, "
          f"{res.seconds:.0f} s; {res.detail} (log: {res.log})", file=sys.stderr)


@action
def act_stage(site_path: str) -> None:
    from kbuild.publish.stage import stage_with_plan
    from kbuild.util.progress import ProgressLine

    s = load_site_for_tasks(site_path)
    with ProgressLine(interval=30) as progress:     # only a large site's stage reports any
        report, plan = stage_with_plan(s, progress=progress)
    for w in plan.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"stage: {report.summary()}", file=sys.stderr)


@action
def act_boot(site_path: str, profile: str) -> None:
    from kbuild.lab.boot import boot_profile

    s = load_site_for_tasks(site_path)
    result = boot_profile(s, s.profile(profile))
    print(result.summary(), file=sys.stderr)
