"""doit task creators: one per pipeline stage, one subtask per source or profile.

dodo.py imports them. Their docstrings' first line is what ``doit list`` shows; the
actions are in :mod:`kbuild.tasks.actions`, and :mod:`kbuild.tasks.guard` turns a
kbuild error (while making tasks or in an action) into its one message.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from doit.tools import config_changed

from kbuild.site import layout
from kbuild.site.model import Site
from kbuild.tasks.actions import (
    act_boot,
    act_build,
    act_config,
    act_patch,
    act_source,
    act_stage,
    act_verify,
    load_site_for_tasks,
    tasks_site_file,
)
from kbuild.tasks.guard import creates_tasks
from kbuild.util.files import sha256_text

KBUILD_DIR = Path(__file__).resolve().parent.parent     # the kbuild package
# Bump when a change to kbuild itself must re-run configure/build/stage.
SCHEMA = "1"

DOIT_CONFIG: dict[str, Any] = {
    "default_tasks": [],
    "backend": "sqlite3",
    "dep_file": "artifacts/.doit-kbuild.sqlite3",
    "verbosity": 1,
    "action_string_formatting": "new",
}


def doit_config() -> dict[str, Any]:
    """DOIT_CONFIG for dodo.py. doit opens its state database before any task runs, so the
    database's directory is made here, when doit reads the config, even in a checkout
    where nothing was generated yet (importing this module changes nothing)."""
    Path(DOIT_CONFIG["dep_file"]).parent.mkdir(parents=True, exist_ok=True)
    return DOIT_CONFIG


def _site() -> Site:
    return load_site_for_tasks(str(tasks_site_file()))


class config_changed_later(config_changed):
    """doit's config_changed with the values made only when doit checks the task: doit
    makes every task of every profile on each run, and a task not asked for (stage's
    site digest, another profile's fragments) then costs nothing. ``make`` is a
    module-level function with plain arguments (``doit -n`` pickles tasks)."""

    def __init__(self, make: Callable[..., dict[str, Any]], *args: str) -> None:
        super().__init__({})
        self.make, self.args = make, args

    def __call__(self, task: Any, values: dict[str, Any]) -> bool:
        self.config = self.make(*self.args)
        result: bool = super().__call__(task, values)
        return result


def _config_values(site_path: str, name: str) -> dict[str, Any]:
    from kbuild.build.configure import fragments_digest

    s = load_site_for_tasks(site_path)
    p = s.profiles[name]
    return {"schema": SCHEMA, "base": p.base, "arch": p.arch, "fragments": list(p.fragments),
            "digest": fragments_digest(s, p)}


def _stage_values(site_path: str, name: str) -> dict[str, Any]:
    from kbuild.publish.stage import site_digest

    s = load_site_for_tasks(site_path)
    # Other profiles' builds are published as they are: their records count through
    # their content (a file_dep would make doit rebuild those profiles too).
    others = {n: _file_digest(str(layout.build_record(s, p)))
              for n, p in s.profiles.items() if n != name}
    return {"schema": SCHEMA, "site": site_digest(s), "other_builds": others}


def _code(*packages: str, pattern: str = "*.py") -> list[str]:
    """Every file of these kbuild sub-packages (globbed, never listed by hand): a change
    to the code that does a stage, or to its data, re-runs it."""
    return sorted(str(f) for package in packages for f in (KBUILD_DIR / package).glob(pattern))


@creates_tasks
def task_fetch() -> Iterator[dict[str, Any]]:
    """Download a source (a Debian package from the signed index, or http/https/file) into the cache"""
    s = _site()
    sp = str(s.path)
    for name, src in s.sources.items():
        yield {
            "name": name,
            "doc": f"fetch {src.describe()} ({src.kind})",
            "actions": [(act_source, (sp, name, "fetch"))],
            "targets": [str(layout.cached_file(s, src))],
            "uptodate": [config_changed({"urls": list(src.urls), "sha256": src.sha256,
                                         "lock": str(src.locked), "signature": src.signature})],
            "clean": True,
        }


@creates_tasks
def task_unpack() -> Iterator[dict[str, Any]]:
    """Unpack a kernel source tarball safely (data filter, temp dir + rename)"""
    s = _site()
    sp = str(s.path)
    for name, src in s.sources.items():
        if src.kind != "kernel":
            continue
        yield {
            "name": name,
            "doc": f"unpack {src.filename} into {layout.pristine_tree(s, src).relative_to(s.root)}",
            "actions": [(act_source, (sp, name, "unpack"))],
            "file_dep": [str(layout.cached_file(s, src))],
            "targets": [str(layout.tree_stamp(layout.pristine_tree(s, src)))],
        }


def _tree_stamp(s: Site, profile_name: str) -> str:
    from kbuild.source.tree import profile_tree

    return str(layout.tree_stamp(profile_tree(s, s.profiles[profile_name])))


@creates_tasks
def task_patch() -> Iterator[dict[str, Any]]:
    """Apply a patch series to a hard-linked copy of a source tree (shared by profiles)"""
    s = _site()
    sp = str(s.path)
    seen: set[tuple[str, str]] = set()
    for name, p in s.profiles.items():
        if not p.patches or (p.source, p.patches) in seen:
            continue
        seen.add((p.source, p.patches))
        from kbuild.source import patches

        src = s.sources[p.source]
        series = patches.load_series(s, p.patches)
        users = [n for n, q in s.profiles.items() if (q.source, q.patches) == (p.source, p.patches)]
        yield {
            "name": f"{p.patches}@{p.source}",
            "doc": f"apply patches/{p.patches} ({len(series.patches)} patches) to {p.source} "
                   f"for {', '.join(users)}",
            "actions": [(act_patch, (sp, name))],
            "file_dep": [str(layout.tree_stamp(layout.pristine_tree(s, src)))]
                        + [str(f) for f in series.files()],
            "targets": [_tree_stamp(s, name)],
        }


@creates_tasks
def task_config() -> Iterator[dict[str, Any]]:
    """Merge base + fragments with kconfiglib; fail before building if a value did not stick"""
    s = _site()
    sp = str(s.path)
    code = _code("build", "kconfig", "site")
    for name, p in s.profiles.items():
        yield {
            "name": name,
            "doc": f"configure {name}: {p.base} + {len(p.fragments)} fragments ({p.arch})",
            "actions": [(act_config, (sp, name))],
            "file_dep": [_tree_stamp(s, name)] + [str(s.fragment_path(f)) for f in p.fragments]
                        + code,
            "targets": [str(layout.config_path(s, p))],
            "uptodate": [config_changed_later(_config_values, sp, name)],
        }


@creates_tasks
def task_verify() -> Iterator[dict[str, Any]]:
    """Check a profile's .config against the root-over-NFS rules and its boot entry"""
    s = _site()
    sp = str(s.path)
    code = _code("verify", "rules", "boot", "kconfig") + _code("rules", pattern="*.toml")
    for name, p in s.profiles.items():
        yield {
            "name": name,
            "doc": f"verify {name}'s .config: NFS root, IP autoconfig, NIC, console",
            "actions": [(act_verify, (sp, name))],
            "file_dep": [str(layout.config_path(s, p))] + code,
            "uptodate": [config_changed({"schema": SCHEMA, "args": p.kernel_args(),
                                         "nics": list(p.nics), "xen": bool(p.xen),
                                         "uml": str(p.uml),
                                         "hosts": [[h.name, h.nic, h.console, list(h.extra), h.nfs_path,
                                                    h.root_mode]
                                                   for h in s.hosts if h.profile == name]})],
        }


@creates_tasks
def task_build() -> Iterator[dict[str, Any]]:
    """Build the kernel image out of tree (make O=…, ccache, log in artifacts/logs)"""
    from kbuild.build import BUILD_SCHEMA
    from kbuild.site.arches import IMAGE_PATHS

    s = _site()
    sp = str(s.path)
    for name, p in s.profiles.items():
        bdir = layout.build_dir(s, p)
        yield {
            "name": name,
            "doc": f"build {name}'s {p.image} in {bdir.relative_to(s.root)}",
            "actions": [(act_build, (sp, name))],
            "file_dep": [str(layout.config_path(s, p)), _tree_stamp(s, name)],
            "task_dep": [f"verify:{name}"],
            "targets": [str(bdir / IMAGE_PATHS[p.arch]), str(layout.build_record(s, p))],
            "uptodate": [config_changed({"schema": SCHEMA, "arch": p.arch,
                                         "build_schema": BUILD_SCHEMA})],
        }


@creates_tasks
def task_stage() -> Iterator[dict[str, Any]]:
    """Publish the built kernels and boot entries into artifacts/tftpboot"""
    s = _site()
    sp = str(s.path)
    records = {n: str(layout.build_record(s, p)) for n, p in s.profiles.items()}
    code = _code("publish", "boot")
    for name in s.profiles:
        yield {
            "name": name,
            "doc": f"stage {name} (and every other built profile) into "
                   f"{layout.stage_dir(s).relative_to(s.root)}",
            "actions": [(act_stage, (sp,))],
            "file_dep": [records[name]] + code,
            "task_dep": [f"build:{name}"],
            # No targets: every stage:<profile> publishes the same tree (all built
            # profiles), and doit forbids two tasks sharing a target.
            "uptodate": [config_changed_later(_stage_values, sp, name),
                         (_tree_published, (str(layout.stage_dir(s)),))],
        }


def _file_digest(path: str) -> str | None:
    try:
        return sha256_text(Path(path).read_text())
    except OSError:
        return None


def _tree_published(tftp: str) -> bool:
    """A deleted or hand-emptied staging tree makes the stage task run again."""
    return (Path(tftp) / "kbuild-manifest.json").is_file()


@creates_tasks
def task_kernel() -> Iterator[dict[str, Any]]:
    """Everything for one profile: fetch, unpack, configure, verify, build, stage"""
    s = _site()
    for name, p in s.profiles.items():
        yield {
            "name": name,
            "doc": f"{p.description or name} ({p.arch}, {p.image})",
            "actions": None,
            "task_dep": [f"stage:{name}"],
        }


@creates_tasks
def task_boot() -> Iterator[dict[str, Any]]:
    """Boot the staged profile for real (QEMU PXE or UML) and wait for init's marker"""
    s = _site()
    sp = str(s.path)
    for name, p in s.profiles.items():
        how = "UML in a network namespace" if p.arch == "um" else "QEMU PXE (TCG)"
        yield {
            "name": name,
            "doc": f"boot {name} with root over NFS via {how}",
            "actions": [(act_boot, (sp, name))],
            "task_dep": [f"kernel:{name}"],
            "uptodate": [False],
            "verbosity": 2,
        }
