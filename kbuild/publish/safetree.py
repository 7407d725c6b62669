"""A directory tree opened component by component without following symlinks.

kbuild's publisher writes into a target that other people's files and links share;
every directory is opened with O_NOFOLLOW through its parent's fd, so a link
anywhere inside the target (even one that appears later) is refused, never followed.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path

from kbuild.errors import UserError

_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_OPEN_DIRS = 128


class SafeTree:
    """Directory fds inside the target, opened component by component with O_NOFOLLOW."""

    def __init__(self, target: Path, root_fd: int | None) -> None:
        self.target = target
        self.root_fd = root_fd
        self._fds: OrderedDict[tuple[str, ...], int] = OrderedDict()
        self.objects_fd = -1     # set by the publisher, which holds the store lock

    @classmethod
    @contextlib.contextmanager
    def open(cls, target: Path, missing_ok: bool = False) -> Iterator[SafeTree]:
        try:
            root_fd: int | None = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            if not missing_ok:
                raise
            root_fd = None
        except NotADirectoryError:
            raise UserError("the publish target is not a directory", path=target,
                            hint="point site.tftp_root at a directory") from None
        tree = cls(target, root_fd)
        try:
            yield tree
        finally:
            for fd in tree._fds.values():
                os.close(fd)
            if root_fd is not None:
                os.close(root_fd)

    def path(self, parts: Sequence[str]) -> Path:
        return self.target.joinpath(*parts)

    def dir_fd(self, parts: tuple[str, ...]) -> int | None:
        """fd of the directory ``parts``; None if it does not exist; UserError on a link."""
        if not parts:
            return self.root_fd
        fd = self._fds.get(parts)
        if fd is not None:
            self._fds.move_to_end(parts)
            return fd
        parent = self.dir_fd(parts[:-1])
        if parent is None:
            return None
        try:
            fd = os.open(parts[-1], _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
            raise in_the_way(self.path(parts), st, "a directory") from None
        self._fds[parts] = fd
        if len(self._fds) > _MAX_OPEN_DIRS:
            # Reopening later is as safe as keeping it: every open re-checks for links.
            os.close(self._fds.popitem(last=False)[1])
        return fd

    def lstat(self, parts: tuple[str, ...]) -> os.stat_result | None:
        fd = self.dir_fd(parts[:-1])
        if fd is None:
            return None
        try:
            return os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def sha256(self, parts: tuple[str, ...]) -> str:
        fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=self.dir_fd(parts[:-1]))
        try:
            h = hashlib.sha256()
            while block := os.read(fd, _CHUNK):
                h.update(block)
            return h.hexdigest()
        finally:
            os.close(fd)

    def forget(self, parts: tuple[str, ...]) -> None:
        fd = self._fds.pop(parts, None)
        if fd is not None:
            os.close(fd)

    def make_dirs(self, parts: tuple[str, ...]) -> list[tuple[str, ...]]:
        created = []
        for i in range(1, len(parts) + 1):
            if self.dir_fd(parts[:i]) is None:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(parts[i - 1], 0o755, dir_fd=self.dir_fd(parts[:i - 1]))
                    created.append(parts[:i])
        return created


def in_the_way(path: Path, st: os.stat_result, needed: str) -> UserError:
    if stat.S_ISLNK(st.st_mode):
        return UserError(f"is a symbolic link, and kbuild never writes through links (needed "
                         f"{needed} here)", path=path,
                         hint="replace the link by a real directory or file, or publish elsewhere")
    kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
    if stat.S_ISREG(st.st_mode):
        kind = "a file"
    return UserError(f"is {kind}, but kbuild needs {needed} here", path=path,
                     hint="move it away, or publish in two steps if kbuild itself put it there")
