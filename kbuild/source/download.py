"""Fetch sources (http, https, file) into a sha256-keyed cache; unpack them safely.

A download goes to a ``.part`` file first, is resumed with HTTP Range when the
connection drops, is checked against the pinned sha256 and only then renamed
to its final name. A wrong file never appears under the final name, and a
cache entry is never replaced by an unverified one.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbuild.errors import InfraError
from kbuild.util.files import exclusive_lock, sha256_file

CHUNK = 1 << 20
# Small network reads: a dropped connection loses at most one unfinished read.
NET_CHUNK = 1 << 16
Progress = Callable[[str], None]


@dataclass(frozen=True)
class FetchPolicy:
    """How hard a download tries: timeouts, attempts per URL, and whether the network may be
    used at all."""

    connect_timeout: float = 15.0
    read_timeout: float = 60.0
    attempts_per_url: int = 4       # one first try + resumes after a dropped connection
    offline: bool = False


class _Attempt(Exception):
    """A failure of one URL; the next mirror may still work."""


def fetch(urls: tuple[str, ...], sha256: str, dest: Path, policy: FetchPolicy = FetchPolicy(),
          progress: Progress | None = None, check: Callable[[Path], None] | None = None) -> Path:
    """Make ``dest`` hold the file with ``sha256``, taken from the first URL that works.

    An existing ``dest`` whose digest matches is used as is (offline works).
    ``check`` (a signature check) runs on the complete download before it gets its
    final name; when it raises, the download is removed and nothing is cached.
    """
    dest = Path(dest)
    if dest.is_file():
        if sha256_file(dest) == sha256:
            return dest
        # A cache entry that no longer matches its key was damaged on disk.
        dest.unlink()
    if policy.offline:
        raise InfraError(f"{dest.name} is not in the cache and kbuild is offline",
                         path=dest, hint="run once with network access, or copy the file in")
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    with exclusive_lock(dest.parent / ".lock", f"download of {dest.name}"):
        if dest.is_file() and sha256_file(dest) == sha256:
            return dest  # another process finished it while we waited
        for url in urls:
            part = dest.parent / (dest.name + ".part")
            try:
                _fetch_one(url, part, policy, progress)
                digest = sha256_file(part)
                if digest != sha256:
                    part.unlink()
                    raise _Attempt(f"sha256 mismatch: expected {sha256}, got {digest}")
                if check is not None:
                    try:
                        check(part)
                    except BaseException:
                        with contextlib.suppress(FileNotFoundError):
                            part.unlink()
                        raise
                os.replace(part, dest)
                return dest
            except _Attempt as e:
                failures.append(f"{url}: {e}")
    detail = "\n  ".join(failures)
    raise InfraError(f"could not fetch {dest.name} from any of {len(urls)} URL(s):\n  {detail}",
                     hint="check the URL and the sha256 pin in kbuild.toml (kbuild pin SOURCE "
                          "recomputes the pin of a file:// source)")


def _fetch_one(url: str, part: Path, policy: FetchPolicy, progress: Progress | None) -> None:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme == "file":
        _copy_local(url, part)
    elif scheme in ("http", "https"):
        _download(url, part, policy, progress)
    else:
        raise _Attempt(f"unsupported URL scheme {scheme!r}")


def _copy_local(url: str, part: Path) -> None:
    path = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path))
    try:
        with open(path, "rb") as src, open(part, "wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)
    except FileNotFoundError:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
        raise _Attempt(f"{path} does not exist (is the Debian package installed?)") from None
    except OSError as e:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
        raise _Attempt(f"cannot read {path}: {e.strerror}") from None


def _download(url: str, part: Path, policy: FetchPolicy, progress: Progress | None) -> None:
    import requests  # imported here: costs ~0.1 s and only downloads need it

    last_error = "no attempt made"
    for attempt in range(policy.attempts_per_url):
        have = part.stat().st_size if part.exists() else 0
        headers = {"User-Agent": "kbuild/0.1", "Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            with requests.get(url, headers=headers, stream=True,
                              timeout=(policy.connect_timeout, policy.read_timeout)) as r:
                if r.status_code == 416 and have:
                    # we already have everything the server has; verify decides
                    return
                if r.status_code not in (200, 206):
                    raise _Attempt(f"HTTP {r.status_code} {r.reason}")
                if r.status_code == 200 and have:
                    have = 0  # server ignored Range: start over
                mode = "ab" if r.status_code == 206 else "wb"
                expected = _expected_length(r.headers, have, r.status_code)
                got = have
                started = time.monotonic()
                with open(part, mode) as f:
                    for block in r.iter_content(NET_CHUNK):
                        f.write(block)
                        got += len(block)
                        if progress:
                            progress(_progress_line(url, got, expected, started))
                if expected is not None and got != expected:
                    if got < expected:
                        raise requests.exceptions.ChunkedEncodingError(
                            f"connection closed after {got} of {expected} bytes")
                    part.unlink()
                    raise _Attempt(f"server sent {got} bytes but announced {expected}")
                return
        except _Attempt:
            raise
        except requests.exceptions.Timeout:
            last_error = f"timed out (connect {policy.connect_timeout:g} s, read {policy.read_timeout:g} s)"
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as e:
            last_error = f"connection failed: {_short(e)}"
        except requests.exceptions.RequestException as e:
            raise _Attempt(f"request failed: {_short(e)}") from None
        if attempt + 1 < policy.attempts_per_url:
            time.sleep(min(0.2 * (2 ** attempt), 2.0))
    raise _Attempt(f"{last_error}; gave up after {policy.attempts_per_url} attempts")


def _expected_length(headers: Any, have: int, status: int) -> int | None:
    length = headers.get("Content-Length")
    if length is None or not length.isdigit():
        return None
    return int(length) + (have if status == 206 else 0)


def _short(e: BaseException) -> str:
    text = str(e)
    return text if len(text) < 200 else text[:200] + "..."


def _progress_line(url: str, got: int, total: int | None, started: float) -> str:
    rate = got / max(time.monotonic() - started, 1e-3) / 1e6
    name = url.rsplit("/", 1)[-1]
    if total:
        return f"fetch {name}: {got / 1e6:.1f}/{total / 1e6:.1f} MB ({rate:.1f} MB/s)"
    return f"fetch {name}: {got / 1e6:.1f} MB ({rate:.1f} MB/s)"


# ---------------------------------------------------------------------------
# Unpacking


def fetch_small(url: str, dest: Path, policy: FetchPolicy = FetchPolicy()) -> Path:
    """Fetch a small companion file (a detached signature) with no pin of its own."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.parent / (dest.name + ".part")
    with contextlib.suppress(FileNotFoundError):
        part.unlink()
    try:
        _fetch_one(url, part, policy, None)
    except _Attempt as e:
        raise InfraError(f"cannot fetch {url}: {e}",
                         hint="check the signature URL of the source in kbuild.toml") from None
    os.replace(part, dest)
    return dest
