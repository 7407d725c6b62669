"""Small file-system helpers: atomic writes, digests, locks, private temp directories."""
from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from kbuild.errors import InfraError

TYPE_CHECKING = False    # typing itself is not imported: `kbuild verify` uses this module
if TYPE_CHECKING:
    from typing import Any


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644, *, sync: bool = True) -> None:
    """Write ``data`` so that ``path`` holds either the old or the new content (``sync``:
    the content is on disk before the rename; without, a cache checked by its digest
    may be torn after a power cut)."""
    import tempfile  # here, not at the top: `kbuild verify` never writes

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str, mode: int = 0o644) -> None:
    atomic_write_bytes(path, text.encode(), mode)


def write_text_if_changed(path: Path, text: str, mode: int = 0o644) -> bool:
    """Atomically write ``text`` unless ``path`` already holds exactly that (mtime kept)."""
    try:
        if path.read_bytes() == text.encode():
            return False
    except OSError:
        pass
    atomic_write_text(path, text, mode)
    return True


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    import hashlib  # here: OpenSSL's is the fast one for big files, and costs ~3 ms to load

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def temp_sibling(dest: Path, kind: str) -> Path:
    """``.<name>.<kind>-<pid>`` beside ``dest``: a private place to build what becomes
    ``dest`` by one rename; :func:`remove_stale_siblings` removes what killed runs left."""
    return dest.parent / f".{dest.name}.{kind}-{os.getpid()}"


def remove_stale_siblings(dest: Path, kind: str) -> None:
    """Remove the :func:`temp_sibling` directories of processes that no longer run."""
    for stale in dest.parent.glob(f".{dest.name}.{kind}-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            import shutil

            shutil.rmtree(stale, ignore_errors=True)


def sha256_text(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str, wait: bool = True) -> Iterator[None]:
    """Hold an flock on ``path`` (created if needed) for the duration."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            fcntl.flock(fd, flags)
        except BlockingIOError:
            raise InfraError(f"{what} is locked by another kbuild process", path=path,
                             hint="wait for it to finish") from None
        yield
    finally:
        os.close(fd)


# The largest input file kbuild reads (a .config, fragment or boot entry), before
# and after decompression: a distro .config is about 300 KiB; a boot entry a few KiB.
MAX_INPUT_BYTES = 4 << 20
_COMPRESSED = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bz2"),
)


def _mib(n: int) -> str:
    return f"{n / 2**20:g} MiB"


def read_input(path: str | Path, shown: str, what: str, path_hint: str = "check the path",
               decompress: bool = False, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of an input file the user named; unreadable ones raise UserError
    naming the file (``what`` says what it should have been).

    At most ``limit`` bytes are read: a larger file is a UserError, never read whole.
    With ``decompress``, a gzip, xz or bzip2 file is decompressed as a stream whose
    output is capped at ``limit`` too (a compression bomb stops there); a corrupt
    stream is a UserError naming the file.
    """
    from kbuild.errors import UserError

    try:
        with open(path, "rb") as f:
            head = f.read(6)
            kind = next((k for magic, k in _COMPRESSED if head.startswith(magic)), None)
            if decompress and kind is not None:
                f.seek(0)
                data = _read_compressed(f, kind, shown, limit)
            else:
                data = head + f.read(limit + 1 - len(head))
                if len(data) > limit:
                    raise UserError(f"larger than {_mib(limit)}: not {what}", path=shown)
            return data
    except FileNotFoundError:
        raise UserError("no such file", path=shown, hint=path_hint) from None
    except IsADirectoryError:
        raise UserError(f"is a directory, not {what}", path=shown) from None
    except OSError as e:
        raise UserError(f"cannot read: {e.strerror}", path=shown) from None


def _read_compressed(f: Any, kind: str, shown: str, limit: int) -> bytes:
    import bz2
    import gzip
    import lzma
    import zlib

    from kbuild.errors import UserError

    try:
        stream: Any = (gzip.GzipFile(fileobj=f, mode="rb") if kind == "gzip"
                       else lzma.LZMAFile(f) if kind == "xz" else bz2.BZ2File(f))
        with stream:
            data: bytes = stream.read(limit + 1)
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as e:
        # gzip.BadGzipFile and bz2's "Invalid data stream" are OSErrors
        raise UserError(f"corrupt {kind} file: {e or type(e).__name__}", path=shown) from None
    if len(data) > limit:
        raise UserError(f"decompresses to more than {_mib(limit)}: not a config file",
                        path=shown, hint="a .config is well under 1 MiB")
    return data


def decode_text(data: bytes, shown: str, what: str, hint: str) -> str:
    """Input bytes as text: a NUL byte anywhere makes it binary (a UserError); bytes that
    are not UTF-8 become U+FFFD (a .config or entry is ASCII in practice; nothing kbuild
    checks depends on non-ASCII text)."""
    from kbuild.errors import UserError

    if b"\0" in data:
        raise UserError(f"binary file, not {what}", path=shown, hint=hint)
    return data.decode("utf-8", errors="replace")
