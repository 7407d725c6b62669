"""Helpers for end-to-end tests: run the real commands the README tells users to run.

They never run against the checkout: a test works on a copy of the site (kbuild.toml,
kbuild.lock, fragments/, patches/) in a temporary directory, with its own artifacts/
and doit database. doit runs the checkout's dodo.py with ``-d SITE`` (doit changes
into that directory before it imports the tasks, so the state db and every relative
path land in the copy) and ``KBUILD_SITE`` naming the copy's kbuild.toml.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kbuild.site.model import Profile, Site

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DODO = REPO / "dodo.py"
# what a site is made of (README "Layout"); artifacts/ is generated, never copied
SITE_FILES = ("kbuild.toml", "kbuild.lock")
SITE_DIRS = ("fragments", "patches")
# doit subcommands take their options (-f, -d) after the subcommand's name
DOIT_COMMANDS = frozenset({"auto", "clean", "dumpdb", "forget", "help", "ignore", "info", "list",
                           "reset-dep", "run", "strace", "tabcompletion"})


@dataclass
class Run:
    code: int
    out: str

    @property
    def executed(self) -> list[str]:
        """Tasks doit ran an action for ('.  name' lines)."""
        return re.findall(r"^\.  (\S+)", self.out, re.M)

    @property
    def skipped(self) -> list[str]:
        return re.findall(r"^-- (\S+)", self.out, re.M)


def copy_site(dest: Path, toml_text: str | None = None, link: bool = False) -> Path:
    """A site directory holding the checkout's site files (``toml_text`` replaces
    kbuild.toml). ``link`` symlinks fragments/ and patches/ instead of copying them:
    only for tests that never write there."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in SITE_FILES:
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, dest / name)
    if toml_text is not None:
        (dest / "kbuild.toml").write_text(toml_text)
    for name in SITE_DIRS:
        if link:
            (dest / name).symlink_to(REPO / name)
        else:
            shutil.copytree(REPO / name, dest / name, symlinks=True)
    return dest


def command_env(site_file: Path | None = None) -> dict[str, str]:
    """The environment of a kbuild or doit subprocess: the venv first on PATH, and
    KBUILD_SITE only when a test names a site (never one inherited from the shell)."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("KBUILD_SITE", None)
    if site_file is not None:
        env["KBUILD_SITE"] = str(site_file)
    return env


def doit_argv(site_root: Path, args: tuple[str, ...]) -> list[str]:
    opts = ["-f", str(DODO), "-d", str(site_root)]
    if args and args[0] in DOIT_COMMANDS:
        return [str(BIN / "doit"), args[0], *opts, *args[1:]]
    return [str(BIN / "doit"), *opts, *args]


@dataclass(frozen=True)
class WorkSite:
    """A site copy the pipeline runs in: ``doit`` and ``kbuild`` against it, never the checkout."""

    root: Path

    @property
    def toml(self) -> Path:
        return self.root / "kbuild.toml"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def tftp(self) -> Path:
        return self.artifacts / "tftpboot"

    @property
    def site(self) -> Site:
        """The copy's site as it is now (read afresh: the pipeline may move kbuild.lock)."""
        from kbuild.site.load import load_site

        return load_site(self.toml)

    def fragment(self, name: str) -> Path:
        return self.root / "fragments" / f"{name}.config"

    def doit(self, *args: str, timeout: float = 3600) -> Run:
        r = subprocess.run(doit_argv(self.root, args), cwd=self.root, env=command_env(self.toml),
                           capture_output=True, text=True, timeout=timeout)
        return Run(r.returncode, r.stdout + r.stderr)

    def kernel(self, profile: str) -> Run:
        """`doit kernel:PROFILE` that must succeed (the e2e files' `built` fixtures: the
        first test builds, the rest find it a no-op or bring back what a test took away)."""
        r = self.doit(f"kernel:{profile}")
        assert r.code == 0, r.out
        return r

    def start_doit(self, *args: str) -> subprocess.Popen[str]:
        """doit in its own process group (for tests that kill it midway)."""
        return subprocess.Popen(doit_argv(self.root, args), cwd=self.root, env=command_env(self.toml),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)

    def kbuild(self, command: str, *args: str, timeout: float = 600) -> Run:
        r = subprocess.run([str(BIN / "kbuild"), command, "--site", str(self.toml), *args],
                           cwd=self.root, env=command_env(), capture_output=True, text=True, timeout=timeout)
        return Run(r.returncode, r.stdout + r.stderr)


def fake_build(site: Site, profile: Profile, config_text: str, release: str = "6.1.192") -> Path:
    """What a finished `doit build:<profile>` leaves (image, .config, kbuild-build.json),
    without compiling: for tests of staging, publishing and explaining."""
    from kbuild.site import layout

    bdir = layout.build_dir(site, profile)
    image = bdir / ("linux" if profile.arch == "um" else "arch/x86/boot/bzImage")
    image.parent.mkdir(parents=True, exist_ok=True)
    image.write_bytes(hashlib.sha256(profile.name.encode()).digest() * 4096)
    (bdir / ".config").write_text(config_text)
    src = site.sources[profile.source]
    (bdir / "kbuild-build.json").write_text(json.dumps({
        "profile": profile.name, "arch": profile.arch, "image": str(image.relative_to(bdir)),
        "kernel_release": release, "config_sha256": "c" * 64, "source": profile.source,
        "source_sha256": src.sha256, "patches": None}))
    return bdir
