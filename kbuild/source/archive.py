"""Unpack a kernel tarball safely: member by member, into a temp dir renamed at the end.

Debian 12's python3 (3.11.2) lacks ``tarfile.data_filter``; every member is checked
here (absolute paths, ``..``, links leaving the tree, device nodes) and the ``data``
filter is used too where Python has it.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from kbuild.errors import UserError
from kbuild.util.files import atomic_write_text, remove_stale_siblings, temp_sibling

Progress = Callable[[str], None]


def _check_member(member: tarfile.TarInfo, archive: str) -> PurePosixPath:
    """Reject anything that could write outside the tree; returns the member path."""
    name = member.name
    p = PurePosixPath(name)
    if p.is_absolute() or name.startswith("/"):
        raise UserError(f"member {name!r} has an absolute path", path=archive,
                        hint="refusing to unpack an archive that writes outside its directory")
    if ".." in p.parts:
        raise UserError(f"member {name!r} contains '..'", path=archive,
                        hint="refusing to unpack an archive that writes outside its directory")
    if member.ischr() or member.isblk() or member.isfifo():
        raise UserError(f"member {name!r} is a device node or FIFO", path=archive,
                        hint="a kernel source archive has no device nodes: the file is not what it claims")
    if member.issym() or member.islnk():
        target = PurePosixPath(member.linkname)
        if target.is_absolute():
            raise UserError(f"member {name!r} links to absolute path {member.linkname!r}",
                            path=archive, hint="refusing links that point outside the tree")
        base = p.parent if member.issym() else PurePosixPath()
        depth = 0
        for part in (base / target).parts:
            if part == "..":
                depth -= 1
            elif part not in ("", "."):
                depth += 1
            if depth < 0:
                raise UserError(f"member {name!r} links outside the tree ({member.linkname!r})",
                                path=archive, hint="refusing links that point outside the tree")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise UserError(f"member {name!r} has an unsupported type", path=archive)
    return p


def unpack(archive: Path, dest: Path, progress: Progress | None = None) -> Path:
    """Unpack a kernel tarball into ``dest`` (its single top directory becomes ``dest``).

    Work happens in a temporary sibling directory that is renamed at the end, so
    ``dest`` is either absent or complete. Nothing half-unpacked is left behind.
    """
    dest = Path(dest)
    if dest.exists():
        return dest
    tmp = temp_sibling(dest, "unpack")
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(dest, "unpack")   # of unpacks that were killed
    shown = str(archive)
    top: str | None = None
    count = 0
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                p = _check_member(member, shown)
                first = p.parts[0] if p.parts else ""
                if top is None:
                    top = first
                elif first != top:
                    top = ""  # more than one top directory: keep the layout as is
                member.mode &= ~(stat.S_ISUID | stat.S_ISGID)
                tar.extract(member, tmp, set_attrs=True, **_filter_kw())
                count += 1
                if progress and count % 5000 == 0:
                    progress(f"unpack {archive.name}: {count} files")
    except (tarfile.TarError, EOFError, OSError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        what = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
        raise UserError(f"cannot unpack: {what} (after {count} members)", path=shown,
                        hint="the archive is truncated or corrupt: delete it from the cache "
                             "and fetch again") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if count == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError("archive is empty", path=shown)
    src = tmp / top if top and (tmp / top).is_dir() else tmp
    os.replace(src, dest)
    shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _filter_kw() -> dict[str, Any]:
    # Python >= 3.11.4 (and 3.12) has the 'data' filter; older Pythons rely on
    # the member checks above, which enforce the same rules.
    return {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def write_tree_stamp(stamp: Path, info: dict[str, Any]) -> None:
    atomic_write_text(stamp, json.dumps(info, indent=2, sort_keys=True) + "\n")
