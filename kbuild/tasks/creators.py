"""doit task creators: one per pipeline stage, one subtask per source or profile.

dodo.py imports them. Their docstrings' first line is what ``doit list`` shows; the
actions are in :mod:`kbuild.tasks.actions`, and :mod:`kbuild.tasks.guard` turns a
kbuild error (while making tasks or in an action) into its one message.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
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
    task_site_file,
)
from kbuild.tasks.guard import task_creator
from kbuild.util.files import sha256_text

KBUILD_DIR = Path(__file__).resolve().parent.parent
# Bump when a change to kbuild itself must re-run configure/build/stage.
SCHEMA = "1"

DOIT_CONFIG: dict[str, Any] = {
    "default_tasks": [],
    "backend": "sqlite3",
    "dep_file": "artifacts/.doit-kbuild.sqlite3",
    "verbosity": 1,
    "action_string_formatting": "new",
}


# doit opens its state database before any task runs; its directory must exist
# even in a checkout where nothing was ever generated.
os.makedirs(os.path.dirname(DOIT_CONFIG["dep_file"]), exist_ok=True)


def _site() -> Site:
    return load_site_for_tasks(str(task_site_file()))


def _code_deps(*modules: str) -> list[str]:
    return [str(KBUILD_DIR / f"{m}.py") for m in modules]


@task_creator
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


@task_creator
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
    from kbuild.source import tree as pipeline

    return str(layout.tree_stamp(pipeline.profile_tree(s, s.profiles[profile_name])))


@task_creator
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


@task_creator
def task_config() -> Iterator[dict[str, Any]]:
    """Merge base + fragments with kconfiglib; fail before building if a value did not stick"""
    from kbuild.build import configure as pipeline

    s = _site()
    sp = str(s.path)
    for name, p in s.profiles.items():
        yield {
            "name": name,
            "doc": f"configure {name}: {p.base} + {len(p.fragments)} fragments ({p.arch})",
            "actions": [(act_config, (sp, name))],
            "file_dep": [_tree_stamp(s, name)] + [str(s.fragment_path(f)) for f in p.fragments]
                        + _code_deps("kconfig/tree", "kconfig/configfile", "kconfig/environment"),
            "targets": [str(layout.config_path(s, p))],
            "uptodate": [config_changed({"schema": SCHEMA, "base": p.base, "arch": p.arch,
                                         "fragments": list(p.fragments),
                                         "digest": pipeline.fragments_digest(s, p)})],
        }


@task_creator
def task_verify() -> Iterator[dict[str, Any]]:
    """Check a profile's .config against the root-over-NFS rules and its boot entry"""
    s = _site()
    sp = str(s.path)
    rules = sorted(str(p) for p in (KBUILD_DIR / "rules").glob("*.toml"))
    for name, p in s.profiles.items():
        yield {
            "name": name,
            "doc": f"verify {name}'s .config: NFS root, IP autoconfig, NIC, console",
            "actions": [(act_verify, (sp, name))],
            "file_dep": [str(layout.config_path(s, p))] + rules
                        + _code_deps("verify/check", "verify/render", "rules/load", "boot/cmdline",
                                     "kconfig/configfile"),
            "uptodate": [config_changed({"schema": SCHEMA, "args": p.kernel_args(),
                                         "nics": list(p.nics), "xen": bool(p.xen),
                                         "uml": str(p.uml),
                                         "hosts": [[h.name, h.nic, h.console, list(h.extra), h.nfs_path]
                                                   for h in s.hosts if h.profile == name]})],
        }


@task_creator
def task_build() -> Iterator[dict[str, Any]]:
    """Build the kernel image out of tree (make O=…, ccache, log in artifacts/logs)"""
    from kbuild.site import arches as toolchain

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
            "targets": [str(bdir / toolchain.IMAGE_PATHS[p.arch]), str(layout.build_record(s, p))],
            "uptodate": [config_changed({"schema": SCHEMA, "arch": p.arch})],
        }


@task_creator
def task_stage() -> Iterator[dict[str, Any]]:
    """Publish the built kernels and boot entries into artifacts/tftpboot"""
    from kbuild.publish import stage as stage_mod

    s = _site()
    sp = str(s.path)
    records = {n: str(layout.build_record(s, p)) for n, p in s.profiles.items()}
    for name in s.profiles:
        # Other profiles' builds are published as they are: their records count through
        # their content (a file_dep would make doit rebuild those profiles too).
        others = {n: _file_digest(r) for n, r in records.items() if n != name}
        yield {
            "name": name,
            "doc": f"stage {name} (and every other built profile) into "
                   f"{layout.stage_dir(s).relative_to(s.root)}",
            "actions": [(act_stage, (sp,))],
            "file_dep": [records[name]] + _code_deps("publish/stage", "publish/apply", "boot/binaries",
                                                        "boot/hostfiles")
                        + [str(f) for f in sorted((KBUILD_DIR / "boot").glob("*.py"))],
            "task_dep": [f"build:{name}"],
            # No targets: every stage:<profile> publishes the same tree (all built
            # profiles), and doit forbids two tasks sharing a target.
            "uptodate": [config_changed({"schema": SCHEMA, "site": stage_mod.site_digest(s),
                                         "other_builds": others}),
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


@task_creator
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


@task_creator
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
