"""Shared fixtures.

Unit tests use tiny synthetic Kconfig trees (``tiny_kconfig``). Everything that needs
the real Linux 6.1 source, a configured profile, a build or a boot runs the pipeline in
``work_site``: one copy of the site per test session in a temporary directory, with its
own artifacts/ and doit database. No test reads or writes the checkout's artifacts/,
and none depends on what another test left behind: a fixture runs the step it needs
(``doit unpack:…``, ``doit config:…``), which is a no-op once done.

The hooks at the end print, after the run, the seconds spent per marker (unit /
realtree / build / boot) and, when scripts/test passes them in KBUILD_TEST_PHASES, the
wall seconds of ruff and mypy beside pytest's.
"""
from __future__ import annotations

import os
import shutil
import textwrap
import time
from pathlib import Path

import pytest

from tests.e2e import REPO, WorkSite, copy_site


@pytest.fixture(scope="session")
def repo_site():
    """The checkout's site, read-only: for tests of the site model itself. Nothing that
    runs the pipeline uses it (see ``work_site``)."""
    from kbuild.site.load import load_site

    return load_site(REPO / "kbuild.toml")


@pytest.fixture(scope="session")
def work_site(tmp_path_factory) -> WorkSite:
    """A copy of the checkout's site (kbuild.toml, kbuild.lock, fragments/, patches/) in a
    temporary directory; the pipeline's artifacts and doit state live inside it.
    Tests that change a fragment change this copy, and put it back."""
    return WorkSite(copy_site(tmp_path_factory.mktemp("work") / "site"))


def _unpacked(work_site: WorkSite, source: str) -> Path:
    """`doit unpack:<source>` in the work site (a no-op when done); the pristine tree."""
    from kbuild.site import layout

    r = work_site.doit(f"unpack:{source}")
    assert r.code == 0, r.out
    site = work_site.site
    tree = layout.pristine_tree(site, site.sources[source])
    assert layout.tree_stamp(tree).is_file(), r.out
    return tree


@pytest.fixture(scope="session")
def linux_src(work_site) -> Path:
    """The real, pristine 6.1 source tree, fetched and unpacked by the pipeline
    (`doit unpack:debian-6.1`) once per session in ``work_site``."""
    return _unpacked(work_site, "debian-6.1")


@pytest.fixture(scope="session")
def linux_src_612(work_site) -> Path:
    """The real, pristine 6.12 source tree (`doit unpack:debian-6.12`), once per session."""
    return _unpacked(work_site, "debian-6.12")


def configure(work_site: WorkSite, profile: str) -> Path:
    """`doit config:<profile>` in the work site (a no-op when up to date); the .config."""
    from kbuild.site import layout

    r = work_site.doit(f"config:{profile}")
    assert r.code == 0, r.out
    site = work_site.site
    path = layout.config_path(site, site.profiles[profile])
    assert path.is_file(), r.out
    return path


@pytest.fixture(scope="session")
def nfsroot_config(work_site, linux_src) -> Path:
    """The nfsroot profile's .config, made by `doit config:nfsroot` in ``work_site``."""
    return configure(work_site, "nfsroot")


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root


TINY_KCONFIG = {
    "Makefile": "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\nEXTRAVERSION =\n",
    "Kconfig": """\
        mainmenu "tiny"

        config MODULES
        \tbool "modules"
        \tmodules

        config EXPERT
        \tbool "expert"

        config MULTIUSER
        \tbool "multiuser"
        \tdefault y

        config FILE_LOCKING
        \tbool "file locking"

        config NET
        \tbool "net"

        config INET
        \tbool "inet"
        \tdepends on NET

        menuconfig NETWORK_FILESYSTEMS
        \tbool "network file systems"
        \tdepends on NET
        \tdefault y

        if NETWORK_FILESYSTEMS
        source "fs/nfs/Kconfig"
        endif

        config IP_PNP
        \tbool "ip pnp"
        \tdepends on INET

        config IP_PNP_DHCP
        \tbool "dhcp"
        \tdepends on IP_PNP

        config LOCKD
        \ttristate

        config SUNRPC
        \ttristate

        config NAME
        \tstring "a name"
        \tdefault "x"

        config COUNT
        \tint "count"
        \trange 1 10
        \tdefault 3

        config ADDR
        \thex "addr"
        \tdefault 0x10
        """,
    "fs/nfs/Kconfig": """\
        config NFS_FS
        \ttristate "NFS client"
        \tdepends on INET && FILE_LOCKING && MULTIUSER
        \tselect LOCKD
        \tselect SUNRPC
        \thelp
        \t  Help text that mentions, on a line of its own,
        \t  modules
        \t  and must not be rewritten.

        config NFS_V3
        \ttristate "v3"
        \tdepends on NFS_FS
        \tdefault y

        config NFS_V4
        \ttristate "v4"
        \tdepends on NFS_FS

        config ROOT_NFS
        \tbool "root over nfs"
        \tdepends on NFS_FS=y && IP_PNP
        """,
}


@pytest.fixture
def tiny_kconfig(tmp_path) -> Path:
    """A synthetic Kconfig tree shaped like the kernel's NFS corner."""
    return write_tree(tmp_path / "tiny", TINY_KCONFIG)


@pytest.fixture
def tiny_env():
    """The environment kconfiglib needs for the synthetic tree (no compiler probes)."""
    def make(srctree: Path, arch: str = "x86_64") -> dict[str, str]:
        import os
        env = dict(os.environ)
        env.update({"srctree": str(srctree), "ARCH": arch, "SRCARCH": "x86",
                    "KERNELVERSION": "6.1.0", "CC": "gcc", "LD": "ld"})
        return env
    return make


def have(cmd: str) -> bool:
    return shutil.which(cmd) is not None


# --- seconds per marker and per phase --------------------------------------

MARKERS = ("realtree", "build", "boot")
_seconds: dict[str, float] = {}
_counts: dict[str, int] = {}
_imported = time.time()


def _group(item: pytest.Item) -> str:
    """The test's markers, e.g. "realtree" or "build+boot"; "unit" when it has none."""
    return "+".join(m for m in MARKERS if item.get_closest_marker(m)) or "unit"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Wall seconds of each test, its fixtures' setup and teardown included (a session
    fixture's one-off work, e.g. unpacking the tree, counts for the first test using it)."""
    start = time.monotonic()
    yield
    group = _group(item)
    _seconds[group] = _seconds.get(group, 0.0) + time.monotonic() - start
    _counts[group] = _counts.get(group, 0) + 1


def pytest_terminal_summary(terminalreporter, config):
    """A short table of seconds per marker, the random-order seed, and the phase times of
    scripts/test (it passes ruff's and mypy's in KBUILD_TEST_PHASES and pytest's start in
    KBUILD_TEST_PYTEST_START). Printed before pytest's closing line, which stays last."""
    if not _counts:
        return
    tr = terminalreporter
    tr.write_sep("-", "seconds per marker")
    def order(group: str) -> tuple[int, ...]:
        return tuple(MARKERS.index(m) + 1 if m in MARKERS else 0 for m in group.split("+"))

    for group in sorted(_counts, key=order):
        tr.write_line(f"{group:<14} {_counts[group]:>5} tests {_seconds[group]:>9.1f} s")
    seed = getattr(config.option, "randomly_seed", None)
    if config.pluginmanager.hasplugin("randomly") and seed is not None:
        tr.write_line(f"random order: --randomly-seed={seed} reruns this order")
    try:
        started = float(os.environ.get("KBUILD_TEST_PYTEST_START", ""))
    except ValueError:
        started = _imported
    phases = [p.split("=", 1) for p in os.environ.get("KBUILD_TEST_PHASES", "").split() if "=" in p]
    phases.append(["pytest", f"{time.time() - started:.1f}"])
    tr.write_line("phase times: " + ", ".join(f"{name} {secs} s" for name, secs in phases))
