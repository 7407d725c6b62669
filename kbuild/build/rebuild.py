"""verify-build: rebuild a profile from the same inputs in a scratch directory with the
compiler cache off (a cache hit proves nothing about reproducibility) and compare the
image with the one the build record vouches for."""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kbuild.build.elfdiff import first_difference
from kbuild.build.kernel import kernel_make, read_build_record
from kbuild.errors import UserError
from kbuild.site import layout
from kbuild.site.arches import IMAGE_PATHS
from kbuild.site.model import Profile, Site
from kbuild.util.files import sha256_file

Progress = Callable[[str], None]


@dataclass
class RebuildReport:
    """The outcome: identical or not, both digests, where they first differ (the vmlinux
    section, else the image byte), whether the .config changed since the build, the
    scratch dir (kept when they differ), the seconds and the log."""

    profile: str
    identical: bool
    expected_sha256: str
    rebuilt_sha256: str
    difference: str | None
    config_changed: bool
    scratch: Path
    kept: bool
    seconds: float
    log: Path
    expected_from: str = "the build record"

    def summary(self) -> str:
        if self.identical:
            return (f"verify-build {self.profile}: identical (sha256 {self.rebuilt_sha256[:16]}…, "
                    f"rebuilt without compiler cache in {self.seconds:.0f} s)")
        text = (f"verify-build {self.profile}: different: expected sha256 {self.expected_sha256[:16]}… "
                f"({self.expected_from}'s image_sha256), "
                f"rebuilt {self.rebuilt_sha256[:16]}…; first difference: {self.difference}")
        if self.config_changed:
            text += "; the .config changed since the recorded build"
        return text + (f" (rebuild kept in {self.scratch})" if self.kept else "")


def verify_build(site: Site, profile: Profile, scratch: Path | None = None,
                 keep: bool = False, progress: Progress | None = None,
                 expected: str | None = None, expected_from: str | None = None) -> RebuildReport:
    """Rebuild ``profile`` uncached in ``scratch`` (a fresh directory under artifacts/ when
    None; an existing one is rebuilt incrementally) and compare with the ``image_sha256``
    field of its build record, or with ``expected`` (a published manifest's field, named by
    ``expected_from``)."""
    record = read_build_record(site, profile)
    bdir = layout.build_dir(site, profile)
    config = layout.config_path(site, profile)
    if expected is None:
        expected = str(record.get("image_sha256", ""))
        if len(expected) != 64:
            raise UserError("the build record has no image_sha256 field",
                            path=layout.build_record(site, profile),
                            hint=f"rebuild: doit build:{profile.name}")
    fresh = scratch is None
    if scratch is None:
        base = site.artifacts / "verify-build"
        base.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f"{profile.name}-", dir=base))
    scratch = scratch.resolve()
    if scratch == bdir.resolve():
        raise UserError("the scratch directory is the build directory", path=scratch,
                        hint="name another directory")
    scratch.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(config, scratch / ".config")
    # a scratch dir the caller names may belong to another user: its log lives inside it
    log = (layout.logs_dir(site) / f"verify-build-{profile.name}.log" if fresh
           else scratch / "verify-build.log")
    km = kernel_make(site, profile, scratch, [profile.image], log, f"verify-build {profile.name}",
                     use_ccache=False, progress=progress)
    rel = IMAGE_PATHS[profile.arch]
    rebuilt = scratch / rel
    got = sha256_file(rebuilt)
    identical = got == expected
    difference = None
    if not identical:
        difference = _where(bdir, scratch, rel, expected)
    config_changed = sha256_file(config) != record.get("config_sha256")
    kept = keep or not identical or not fresh
    if not kept:
        shutil.rmtree(scratch, ignore_errors=True)
    return RebuildReport(profile=profile.name, identical=identical, expected_sha256=expected,
                         rebuilt_sha256=got, difference=difference, config_changed=config_changed,
                         scratch=scratch, kept=kept, seconds=km.run.seconds, log=log,
                         expected_from=expected_from or "the build record")


def _where(bdir: Path, scratch: Path, rel: str, expected: str) -> str:
    """The first differing vmlinux section (what the image is made from), else the image's
    first differing byte; says so when the recorded image is no longer the one on disk."""
    image = bdir / rel
    if not image.is_file() or sha256_file(image) != expected:
        return "the recorded image is no longer in the build directory (rebuild it to compare sections)"
    for name in ("vmlinux", rel):
        a, b = bdir / name, scratch / name
        if a.is_file() and b.is_file():
            where = first_difference(a, b)
            if where is not None:
                return f"{name}: {where}"
    return f"{rel}: differs"
