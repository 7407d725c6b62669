"""Assemble the TFTP tree (boot loaders, kernels, entries) from what has been built."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kbuild import bootloaders, layout, pipeline
from kbuild.bootcfg import pxelinux
from kbuild.bootcfg.entry import BootEntry, kernel_relpath, make_entry
from kbuild.errors import UserError
from kbuild.fsutil import sha256_text
from kbuild.site import Profile, Site

if TYPE_CHECKING:
    from kbuild.publish import PublishReport, TreeFile


@dataclass
class BuiltProfile:
    profile: Profile
    record: dict[str, object]

    @property
    def release(self) -> str:
        return str(self.record["kernel_release"])

    @property
    def image(self) -> Path:
        return Path(str(self.record["image_path"]))


def built_profiles(site: Site, only: list[str] | None = None) -> list[BuiltProfile]:
    out = []
    for name, profile in site.profiles.items():
        if only is not None and name not in only:
            continue
        path = layout.build_record(site, profile)
        if not path.is_file():
            continue
        record = pipeline.read_build_record(site, profile)
        image = layout.build_dir(site, profile) / str(record["image"])
        if not image.is_file():
            continue
        record["image_path"] = str(image)
        out.append(BuiltProfile(profile, record))
    return out


def _meta(b: BuiltProfile) -> dict[str, str]:
    r = b.record
    return {"profile": b.profile.name, "kernel_release": b.release,
            "config_sha256": str(r["config_sha256"]), "source": str(r["source"]),
            "source_sha256": str(r["source_sha256"]), "patches": str(r.get("patches") or "")}


def tree_files(site: Site) -> tuple[list[TreeFile], list[BootEntry]]:
    """Every file of the TFTP tree for the current builds, and the profile entries."""
    from kbuild.publish import TreeFile

    built = built_profiles(site)
    files: list[TreeFile] = []
    entries: list[BootEntry] = []
    for b in built:
        p = b.profile
        if p.arch == "um":
            continue
        files.append(TreeFile(kernel_relpath(p, b.release), source=b.image, role="payload",
                              meta=_meta(b)))
        entries.append(make_entry(p, b.release))
    if entries:
        default = "nfsroot" if any(e.label == "nfsroot" for e in entries) else entries[0].label
        for name in pxelinux.needed_files(entries, menu=True):
            files.append(TreeFile(name, source=bootloaders.locate(name), role="payload",
                                  meta={"origin": str(bootloaders.locate(name))}))
        files.append(TreeFile("pxelinux.cfg/default",
                              data=pxelinux.menu_config(entries, default).encode(), role="entry"))
    return files, entries


def stage(site: Site, target: Path | None = None, dry_run: bool = False) -> PublishReport:
    from kbuild.publish import publish

    files, entries = tree_files(site)
    if not files:
        raise UserError("nothing to stage: no profile has been built",
                        hint="run: doit kernel:<profile>")
    return publish(files, target or layout.stage_dir(site), keep=site.keep_generations,
                   dry_run=dry_run)


def describe(report: PublishReport) -> str:
    return json.dumps({"generation": report.generation, "written": report.written,
                       "removed": report.removed}, indent=2)


def site_digest(site: Site) -> str:
    """Digest of everything in the site file that shapes the staged tree."""
    data = {
        "profiles": {n: asdict(p) for n, p in sorted(site.profiles.items())},
        "hosts": [asdict(h) for h in site.hosts],
        "boot_server": site.boot_server,
        "loaders": {name: _file_identity(name) for name in
                    ("pxelinux.0", "ldlinux.c32", "menu.c32", "libutil.c32", "mboot.c32",
                     "libcom32.c32")},
    }
    for prof in data["profiles"].values():
        prof.pop("line", None)
    for host in data["hosts"]:
        host.pop("line", None)
    return sha256_text(json.dumps(data, sort_keys=True, default=str))


def _file_identity(name: str) -> str:
    try:
        st = bootloaders.locate(name).stat()
    except Exception:  # a missing loader is reported by the stage action itself
        return "missing"
    return f"{st.st_size}:{st.st_mtime_ns}"
