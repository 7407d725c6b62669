"""What makes two builds of the same inputs give the same image: the source's date, fixed
build identity, a ``__FILE__`` prefix map that survives ccache's path rewriting, and a
reproducer command a person can paste.

The kernel strips ``$(srctree)/`` from ``__FILE__`` with ``-fmacro-prefix-map``. With
``CCACHE_BASEDIR`` ccache hands gcc a *relative* source path (``../../src/TREE/kernel/x.c``,
relative to the build dir), which that absolute map no longer matches, so a cached build
would embed paths that an uncached build (or a build at another depth) does not. kbuild adds
the same map for the relative spelling: both spellings become ``kernel/x.c``, and the
relative map is identical in every checkout with the same layout, so cache hits survive.
"""
from __future__ import annotations

import os
import re
import shlex
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from kbuild.site import layout

BUILD_VERSION = "1"   # KBUILD_BUILD_VERSION: the ".version" counter would differ between dirs
BUILD_USER = "kbuild"
BUILD_HOST = "kbuild"


def source_epoch(tree: Path) -> int:
    """The source's date: the newest file mtime in the pristine, unpacked tree.

    A function of the locked tarball's content alone (unpacking keeps member mtimes): for
    Debian's linux-source it is the package's SOURCE_DATE_EPOCH (dpkg clamps every newer
    mtime to the changelog date), for a kernel.org tarball the release commit's date. The
    unpack time, the user and the checkout never enter it."""
    newest = 0
    stack = [str(tree)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False) and entry.name != layout.tree_stamp(tree).name:
                    newest = max(newest, int(entry.stat(follow_symlinks=False).st_mtime))
    return newest


def timestamp_text(epoch: int) -> str:
    """``date -u``'s format, which the kernel prints in its version string."""
    return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(epoch))


def identity_environment(epoch: int) -> dict[str, str]:
    """The variables that fix what the kernel embeds about when, where and by whom."""
    return {
        "KBUILD_BUILD_TIMESTAMP": timestamp_text(epoch),
        "KBUILD_BUILD_USER": BUILD_USER,
        "KBUILD_BUILD_HOST": BUILD_HOST,
        "KBUILD_BUILD_VERSION": BUILD_VERSION,
        "SOURCE_DATE_EPOCH": str(epoch),
        "TZ": "UTC",
        "LC_ALL": "C",
        "LANG": "C",
    }


def prefix_map_variable(srctree: Path, builddir: Path) -> str:
    """``KCPPFLAGS=`` adding the relative spelling of the kernel's own ``__FILE__`` map."""
    rel = os.path.relpath(Path(srctree).resolve(), Path(builddir).resolve())
    return f"KCPPFLAGS=-fmacro-prefix-map={rel}/="


_USERINFO = re.compile(r"^[^@/]*@")


def redact_url(url: str) -> str:
    """``url`` without its user and password (they never reach records, logs or manifests)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if "@" not in parts.netloc:
        return url
    host = _USERINFO.sub("", parts.netloc)
    return urlunsplit((parts.scheme, "***@" + host, parts.path, parts.query, parts.fragment))


def reproducer(env: dict[str, str], unset: Iterable[str], argv: list[str]) -> str:
    """A shell command that re-runs this make with the environment kbuild gave it: every
    variable kbuild set, every variable it removed, properly quoted."""
    words = ["env"]
    for name in sorted(set(unset)):
        words += ["-u", name]
    words += [f"{k}={v}" for k, v in sorted(env.items())]
    return shlex.join(words + argv)
