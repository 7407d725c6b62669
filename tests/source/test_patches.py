"""Patch series against the real Linux 6.1 tree: dry run first, nothing half-applied."""
from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import pytest

from kbuild.errors import UserError
from kbuild.site import layout
from kbuild.source import patches

pytestmark = pytest.mark.realtree

GOOD = """\
Subject: test patch: note in init/version.c

--- a/init/version.c
+++ b/init/version.c
@@ -1,4 +1,5 @@
 // SPDX-License-Identifier: GPL-2.0-only
+/* patched by kbuild's test series */
 /*
  *  linux/init/version.c
  *
"""

BAD_HUNK = GOOD.replace(" *  linux/init/version.c", " *  linux/init/not-this-file.c").replace(
    "kbuild's test series", "a patch with wrong context")


@pytest.fixture
def psite(work_site, linux_src, tmp_path):
    """A site whose patches/ and artifacts/ live in tmp, sharing the real pristine tree."""
    site = dataclasses.replace(work_site.site, root=tmp_path, artifacts=tmp_path / "artifacts")
    src = site.sources["debian-6.1"]
    link = layout.pristine_tree(site, src)
    link.parent.mkdir(parents=True)
    link.symlink_to(linux_src)
    return site


def _series(site, name: str, lines: str, files: dict[str, str]) -> None:
    d = site.root / "patches" / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "series").write_text(lines)
    for f, text in files.items():
        (d / f).write_text(text)


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_applies_and_leaves_pristine_untouched(psite, linux_src):
    before = _digest(linux_src / "init/version.c")
    _series(psite, "t", "# a comment\ngood.patch   >=6.1,<6.2\n", {"good.patch": GOOD})
    src = psite.sources["debian-6.1"]
    report = patches.apply_series(psite, src, layout.pristine_tree(psite, src), "t")
    assert report.applied == ["good.patch"] and report.skipped == []
    patched = report.tree / "init/version.c"
    assert "patched by kbuild's test series" in patched.read_text()
    assert _digest(linux_src / "init/version.c") == before
    assert os.stat(patched).st_ino != os.stat(linux_src / "init/version.c").st_ino
    # untouched files are shared (hard links), not copied
    assert os.stat(report.tree / "Makefile").st_ino == os.stat(linux_src / "Makefile").st_ino
    # a second run reuses the tree; same series => same path for every profile
    again = patches.apply_series(psite, src, layout.pristine_tree(psite, src), "t")
    assert again.tree == report.tree
    assert patches.patched_tree_path(psite, src, "t") == report.tree


FIXED = """\
--- a/kernel/configs/tiny-base.config
+++ b/kernel/configs/tiny-base.config
@@ -1 +1,2 @@
+# patched by kbuild's fixed test patch
 CONFIG_EMBEDDED=y
"""


def test_failing_hunk_names_patch_file_and_hunk_then_fix_succeeds(psite, linux_src):
    _series(psite, "t", "ok.patch\nbad.patch\n", {"ok.patch": GOOD, "bad.patch": BAD_HUNK})
    src = psite.sources["debian-6.1"]
    with pytest.raises(UserError) as e:
        patches.apply_series(psite, src, layout.pristine_tree(psite, src), "t")
    msg = str(e.value)
    assert "patches/t/series:2:" in msg
    assert "patch bad.patch does not apply: init/version.c: hunk #1" in msg
    assert not patches.patched_tree_path(psite, src, "t").exists()
    assert not list(layout.pristine_tree(psite, src).parent.glob(".*patch-*"))
    assert "kbuild's test series" not in (linux_src / "init/version.c").read_text()
    # fix the patch: the rerun succeeds and has both patches
    (psite.root / "patches/t/bad.patch").write_text(FIXED)
    report = patches.apply_series(psite, src, layout.pristine_tree(psite, src), "t")
    assert report.applied == ["ok.patch", "bad.patch"]
    assert "fixed test patch" in (report.tree / "kernel/configs/tiny-base.config").read_text()
    assert "fixed test patch" not in (linux_src / "kernel/configs/tiny-base.config").read_text()


def test_already_applied_patch_is_named(psite):
    _series(psite, "t", "a.patch\nb.patch\n", {"a.patch": GOOD, "b.patch": GOOD})
    src = psite.sources["debian-6.1"]
    with pytest.raises(UserError) as e:
        patches.apply_series(psite, src, layout.pristine_tree(psite, src), "t")
    assert "patch b.patch is already applied" in str(e.value)


def test_missing_patch_and_bad_range_are_series_errors(psite):
    _series(psite, "t", "\nnope.patch\n", {})
    with pytest.raises(UserError, match=r"patches/t/series:2: error: patch nope.patch is listed but"):
        patches.load_series(psite, "t")
    _series(psite, "t", "good.patch >=six\n", {"good.patch": GOOD})
    with pytest.raises(UserError, match="invalid version range"):
        patches.load_series(psite, "t")


def test_range_excluding_every_patch_gives_an_unpatched_tree(psite, linux_src):
    _series(psite, "t", "good.patch >=6.3\n", {"good.patch": GOOD})
    src = psite.sources["debian-6.1"]
    report = patches.apply_series(psite, src, layout.pristine_tree(psite, src), "t")
    assert report.applied == [] and report.skipped == ["good.patch"]
    assert _digest(report.tree / "init/version.c") == _digest(linux_src / "init/version.c")


def test_touched_files():
    assert patches.touched_files(GOOD) == ["init/version.c"]


def test_uml_series_applies_its_612_refresh_to_the_612_tree(work_site, linux_src_612, tmp_path):
    """patches/uml claims 6.12 (<6.13): on the real 6.12 tree the refreshed patch applies,
    the 6.1 original is skipped by its range."""
    site = dataclasses.replace(work_site.site, artifacts=tmp_path / "artifacts")
    src = site.sources["debian-6.12"]
    link = layout.pristine_tree(site, src)
    link.parent.mkdir(parents=True)
    link.symlink_to(linux_src_612)
    report = patches.apply_series(site, src, link, "uml")
    assert report.kernelversion.startswith("6.12.")
    assert report.applied == ["uml-xstate-host-size-6.12.patch"]
    assert report.skipped == ["uml-xstate-host-size.patch"]
    tree = patches.patched_tree_path(site, src, "uml")
    assert "host_xstate_size" in (tree / "arch/x86/um/os-Linux/registers.c").read_text()
    assert (linux_src_612 / "arch/x86/um/os-Linux/registers.c").read_text() != \
        (tree / "arch/x86/um/os-Linux/registers.c").read_text()
