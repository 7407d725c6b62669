"""OS errors while publishing, turned into kbuild errors that say what to do: a full
disk is an InfraError, a permission or read-only problem a UserError naming the path."""
from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

from kbuild.errors import InfraError, KbuildError, UserError
from kbuild.publish.manifest import STORE_NAME


def os_error(exc: OSError, path: Path, doing: str, target: Path) -> KbuildError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InfraError(f"no space left on the device while {doing} this file", path=path,
                          hint=f"free space on the file system holding {target} (old generations "
                          f"in {STORE_NAME}/ use some: a smaller keep frees them) and publish again;"
                          " the manifest records the interrupted publish")
    if exc.errno in (errno.EACCES, errno.EPERM):
        need = (f"{path} readable" if doing in ("reading", "accessing")
                else f"{path.parent} writable")
        return UserError(f"permission denied while {doing} this file", path=path,
                         hint=f"make {need} for uid {os.geteuid()}, or publish as the owner "
                         f"of {target}")
    if exc.errno == errno.EROFS:
        return UserError(f"read-only file system while {doing} this file", path=path,
                         hint="remount it read-write or point site.tftp_root elsewhere")
    return InfraError(f"{doing} failed: {exc.strerror or exc}", path=path,
                      hint="check the disk and the file system, then publish again")


@contextlib.contextmanager
def errors_at(path: Path, doing: str, target: Path) -> Iterator[None]:
    try:
        yield
    except KbuildError:
        raise
    except OSError as exc:
        raise os_error(exc, path, doing, target) from exc


@contextlib.contextmanager
def os_errors(target: Path) -> Iterator[None]:
    """Last resort for OS errors not mapped at the call site (planning, locking)."""
    try:
        yield
    except KbuildError:
        raise
    except OSError as exc:
        path = Path(os.fsdecode(exc.filename)) if exc.filename else target
        raise os_error(exc, path, "accessing", target) from exc
