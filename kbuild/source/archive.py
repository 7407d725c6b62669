"""Unpack a kernel tarball safely, in one pass, into a temp dir renamed at the end.

Every member is checked here (absolute paths, ``..``, links leaving the tree, device
nodes, sparse files; set-id bits are dropped) before GNU tar, which writes the files,
sees its bytes: see :func:`unpack`. Debian 12's python3 (3.11.2) lacks
``tarfile.data_filter``, so the checks are kbuild's own.
"""
from __future__ import annotations

import contextlib
import io
import json
import lzma
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

from kbuild.errors import UserError
from kbuild.util.files import atomic_write_text, remove_stale_siblings, temp_sibling
from kbuild.util.progress import Progress


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
    if member.issparse():
        raise UserError(f"member {name!r} is a sparse file", path=archive,
                        hint="a kernel source archive has no sparse files")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise UserError(f"member {name!r} has an unsupported type", path=archive)
    return p


def unpack(archive: Path, dest: Path, progress: Progress | None = None) -> Path:
    """Unpack a kernel tarball into ``dest`` (its single top directory becomes ``dest``).

    Decompressed once, in one pass: ``xz -dc`` (gzip, bzip2) streams into this process,
    which reads every header with :mod:`tarfile` and checks the member
    (:func:`_check_member`) *before* handing its bytes on to GNU ``tar -x``. tar
    therefore never sees a member that was not accepted; it writes the files (in C, as
    fast as ``tar -xJf``). Work happens in a temporary sibling directory that is renamed
    at the end, so ``dest`` is either absent or complete. Nothing half-unpacked is left.
    """
    dest = Path(dest)
    if dest.exists():
        return dest
    tmp = temp_sibling(dest, "unpack")
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(dest, "unpack")   # of unpacks that were killed
    tmp.mkdir()
    shown = str(archive)
    state = _Unpacked()
    try:
        _stream_unpack(Path(archive), tmp, shown, state, progress)
    except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        what = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
        raise UserError(f"cannot unpack: {what} (after {state.count} members)", path=shown,
                        hint="the archive is truncated or corrupt: delete it from the cache "
                             "and fetch again") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if state.count == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError("archive is empty", path=shown)
    for rel, mode in state.strip_modes:     # no set-id bits from a downloaded archive
        os.chmod(tmp / rel, mode & ~(stat.S_ISUID | stat.S_ISGID), follow_symlinks=False)
    top = state.top
    src = tmp / top if top and (tmp / top).is_dir() else tmp
    os.replace(src, dest)
    shutil.rmtree(tmp, ignore_errors=True)
    return dest


class _Unpacked:
    """What one unpack has seen: members, their common top directory, set-id members."""

    def __init__(self) -> None:
        self.count = 0
        self.top: str | None = None
        self.strip_modes: list[tuple[str, int]] = []


_MAGIC = ((b"\xfd7zXZ\x00", "xz"), (b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"))
_END = b"\0" * (2 * tarfile.BLOCKSIZE)
_TAR = ("tar", "-x", "-f", "-", "--no-same-owner", "--delay-directory-restore")


def _stream_unpack(archive: Path, tmp: Path, shown: str, state: _Unpacked,
                   progress: Progress | None) -> None:
    with open(archive, "rb") as f:
        magic = f.read(6)
    tool = next((t for m, t in _MAGIC if magic.startswith(m)), None)
    decompress = None
    # stderr to files, not pipes: a chatty tool must never block on a full pipe
    dec_log = tempfile.TemporaryFile()
    tar_log = tempfile.TemporaryFile()
    if tool is not None and shutil.which(tool):
        decompress = subprocess.Popen([tool, "-dc", "--", str(archive)], stdout=subprocess.PIPE,
                                      stderr=dec_log, stdin=subprocess.DEVNULL)
        assert decompress.stdout is not None
        source: IO[bytes] = decompress.stdout
    else:
        source = _python_decompressor(archive, tool)
    extract = subprocess.Popen([*_TAR, "-C", str(tmp)], stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=tar_log)
    assert extract.stdin is not None
    tee = _HeldBack(source, extract.stdin)
    ok = False
    try:
        with tarfile.open(fileobj=tee, mode="r|") as tar:   # type: ignore[call-overload]
            for member in tar:
                p = _check_member(member, shown)
                first = p.parts[0] if p.parts else ""
                if state.top is None:
                    state.top = first
                elif first != state.top:
                    state.top = ""  # more than one top directory: keep the layout as is
                if member.mode & (stat.S_ISUID | stat.S_ISGID) and not member.issym():
                    state.strip_modes.append((str(p), member.mode))
                tee.release(member.offset_data)   # accepted: tar may now write it
                state.count += 1
                if progress and state.count % 5000 == 0:
                    progress(f"unpack {archive.name}: {state.count} files")
            tee.finish(tar.offset)
        ok = True
    finally:
        if not ok:
            extract.kill()
        tee.close_sink()
        extract.wait()
        if decompress is not None:
            if not ok:
                decompress.kill()
            decompress.wait()
        source.close()
    dec_err = _tail(dec_log)
    tar_err = _tail(tar_log)
    if decompress is not None and decompress.returncode != 0:
        raise OSError(0, f"{tool}: {dec_err or f'exited with {decompress.returncode}'}")
    if extract.returncode != 0:
        raise OSError(0, f"tar: {tar_err or f'exited with {extract.returncode}'}")


def _tail(log: IO[bytes]) -> str:
    """The last line a tool wrote to its log (then closed)."""
    with log:
        log.seek(0)
        lines = log.read()[-4096:].decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else ""


def _python_decompressor(archive: Path, tool: str | None) -> IO[bytes]:
    """The decompressed stream read in this process (when the tool is not installed)."""
    import bz2
    import gzip

    if tool == "xz":
        return cast(IO[bytes], lzma.open(archive, "rb"))
    if tool == "gzip":
        return cast(IO[bytes], gzip.open(archive, "rb"))
    if tool == "bzip2":
        return cast(IO[bytes], bz2.open(archive, "rb"))
    return open(archive, "rb")


class _HeldBack(io.RawIOBase):
    """The decompressed stream as tarfile reads it; bytes are passed on to ``sink`` (tar's
    stdin) only up to the offset :meth:`release` names: the end of the last accepted
    member's header. After the last member, :meth:`finish` passes its data and an
    end-of-archive marker, never bytes tarfile did not read as members."""

    def __init__(self, source: IO[bytes], sink: IO[bytes]) -> None:
        self.source = source
        self.sink = sink
        self.held = bytearray()
        self.held_start = 0          # stream offset of held[0]
        self.released_to = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.source.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.held += data
        return n

    def release(self, offset: int) -> None:
        cut = offset - self.held_start
        if cut <= 0:
            return
        self.sink.write(self.held[:cut])
        del self.held[:cut]
        self.held_start = offset
        self.released_to = offset

    def finish(self, end: int) -> None:
        """``end`` is where tarfile found the end-of-archive block: pass the last member's
        data up to it and an end marker of our own, after checking the block was really
        read (a plain tar cut short ends tarfile's loop without an error). The rest of
        the stream is read and dropped, so the decompressor checks it to the end."""
        rel = end - self.held_start
        if rel < 0 or bytes(self.held[rel:rel + tarfile.BLOCKSIZE]) != _END[:tarfile.BLOCKSIZE]:
            raise tarfile.ReadError("unexpected end of data")
        self.release(end)
        self.sink.write(_END)
        self.held.clear()
        while self.source.read(1 << 20):
            pass

    def close_sink(self) -> None:
        with contextlib.suppress(OSError):
            self.sink.close()


def _filter_kw() -> dict[str, Any]:
    # Python >= 3.11.4 (and 3.12) has the 'data' filter; older Pythons rely on
    # the member checks above, which enforce the same rules.
    return {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def write_tree_stamp(stamp: Path, info: dict[str, Any]) -> None:
    atomic_write_text(stamp, json.dumps(info, indent=2, sort_keys=True) + "\n")
