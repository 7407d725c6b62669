"""Check a detached OpenPGP signature of a downloaded source with ``gpgv``.

The sha256 pin in kbuild.toml says "this is the file we looked at"; a signature says
"this is the file its publisher released". kernel.org signs the *uncompressed* tar
(``linux-X.tar.sign`` covers ``linux-X.tar``) while the download is ``linux-X.tar.xz``,
so for ``signed="xz"``/``"gz"`` the payload is decompressed on the fly, in chunks, into
gpgv's stdin: never the whole tar in memory, never a temporary copy of it on disk.

Why gpgv and not gpg: gpgv only verifies. It trusts every key of the keyring it is
given (no web of trust, no agent, no key servers), which is exactly "is this signed by
one of these keys". It still reads ``trustedkeys.kbx`` from its home directory, so it
runs with a private, temporary ``--homedir``: the user's ``~/.gnupg`` is neither read
nor written.

gpgv exits 0 for a signature by an *expired or revoked* key (it prints "Good signature"
and reports ``EXPKEYSIG``/``REVKEYSIG`` only on the status fd), so the verdict comes
from the machine-readable ``--status-fd`` lines, never from the exit code or the human
text alone. Every signature in the file must verify; one bad or unknown signature fails
the check.

gpgv needs a binary keyring: :mod:`kbuild.source.keyring` decodes armored ones.
"""
from __future__ import annotations

import contextlib
import gzip
import io
import lzma
import os
import shutil
import subprocess
import tempfile
import zlib
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

from kbuild.errors import UserError
from kbuild.source.keyring import binary_keyring

CHUNK = 1 << 20
SIGNED_KINDS = ("file", "xz", "gz")
# gpgv reads the signature, then the data; once stdin is closed the check takes
# milliseconds. A gpgv still running after this long is stuck.
GPGV_TIMEOUT = 120.0
REFETCH = "the download is damaged or was tampered with: delete it from the cache and fetch again"


def check_signature(payload: Path, signature: Path, keyring: Path, *, signed: str = "file",
                    shown: str | None = None) -> str:
    """Verify the detached ``signature`` of ``payload`` against the keys of ``keyring``.

    ``signed`` says what the signature covers: ``"file"`` the payload bytes as they are,
    ``"xz"``/``"gz"`` its decompressed content. ``shown`` names the payload in errors
    (default: its path). Returns the fingerprint of the signing key's primary key
    (upper-case hex, as ``gpg --fingerprint`` prints it without spaces). Every failure
    raises :class:`UserError`.
    """
    payload, signature, keyring = Path(payload), Path(signature), Path(keyring)
    name = shown if shown is not None else str(payload)
    if signed not in SIGNED_KINDS:
        raise UserError(f"unknown signed={signed!r}: expected one of {', '.join(SIGNED_KINDS)}",
                        path=name)
    if not signature.is_file():
        raise UserError(f"no signature file: {signature} does not exist", path=name,
                        hint="fetch the detached signature (.sign/.sig/.asc) next to the download")
    gpgv = shutil.which("gpgv")
    if gpgv is None:
        raise UserError("gpgv not found: it is needed to check the signature", path=name,
                        hint="install the gpgv package (scripts/setup does)")
    try:
        rc, status, stderr, complete = _run_gpgv(gpgv, payload, signature, keyring, signed, name)
    except OSError as e:  # the temporary directory: disk full, unwritable TMPDIR
        raise UserError(f"cannot check the signature: {e.strerror or e}", path=name) from None
    fingerprint = _verdict(rc, status, stderr, name=name, signature=signature, keyring=keyring)
    if not complete:  # cannot happen: gpgv reads to the end before it reports a good signature
        raise UserError("gpgv stopped reading the payload early", path=name)
    return fingerprint


# --- feeding gpgv ---------------------------------------------------------------------

def _run_gpgv(gpgv: str, payload: Path, signature: Path, keyring: Path, signed: str,
              name: str) -> tuple[int, str, str, bool]:
    """Run gpgv in a private home directory, feeding it the signed content.

    Returns its exit code, status lines, stderr and whether it read the whole content.
    gpgv's output goes to files, not pipes, so it can never block on a full pipe while
    it is being fed.
    """
    with tempfile.TemporaryDirectory(prefix="kbuild-gpgv-") as tmp:
        home = Path(tmp)
        ring = binary_keyring(keyring, home, name)
        status_path, stderr_path = home / "status", home / "stderr"
        argv = [gpgv, "--homedir", str(home), "--status-fd", "1", "--keyring", str(ring),
                "--", str(signature.resolve()), "-"]
        env = dict(os.environ, GNUPGHOME=str(home), LC_ALL="C", LANGUAGE="C")
        with open(status_path, "wb") as out, open(stderr_path, "wb") as err:
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out, stderr=err, env=env,
                                        cwd=home)
            except OSError as e:
                raise UserError(f"cannot run gpgv: {e.strerror or e}", path=name,
                                hint="install the gpgv package (scripts/setup does)") from None
            try:
                complete = _feed(proc, _content(payload, signed, name))
                rc = proc.wait(timeout=GPGV_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise UserError(f"gpgv did not finish within {GPGV_TIMEOUT:.0f} s", path=name) from None
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        status = status_path.read_text(errors="replace")
        stderr = stderr_path.read_text(errors="replace")
    return rc, status, stderr, complete


def _content(payload: Path, signed: str, name: str) -> Generator[bytes, None, None]:
    """The signed bytes, in chunks; decompression and read errors become UserError."""
    try:
        with _open(payload, signed) as f:
            while block := f.read(CHUNK):
                yield block
    except FileNotFoundError:
        raise UserError(f"cannot check the signature: {payload} does not exist", path=name) from None
    except (lzma.LZMAError, zlib.error, gzip.BadGzipFile, EOFError) as e:
        what = str(e) or type(e).__name__
        raise UserError(f"corrupt {signed}-compressed payload: {what}", path=name, hint=REFETCH) from None
    except OSError as e:
        raise UserError(f"cannot read {payload}: {e.strerror or e}", path=name) from None


def _open(path: Path, signed: str) -> io.BufferedIOBase:
    if signed == "xz":
        return lzma.open(path, "rb")
    if signed == "gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def _feed(proc: subprocess.Popen[bytes], chunks: Generator[bytes, None, None]) -> bool:
    """Write ``chunks`` to gpgv's stdin, then close it; False if gpgv stopped reading early.

    gpgv stops reading when the signature file is unusable (garbage, not detached): the
    write then fails with BrokenPipeError and the verdict comes from its status output.
    On a payload error gpgv is killed *before* stdin is closed, so it never judges a
    truncated stream.
    """
    assert proc.stdin is not None
    complete = True
    try:
        for block in chunks:
            try:
                proc.stdin.write(block)
            except BrokenPipeError:
                complete = False
                break
    except BaseException:
        proc.kill()
        with contextlib.suppress(OSError):
            proc.stdin.close()
        raise
    finally:
        chunks.close()
    try:
        proc.stdin.close()
    except BrokenPipeError:
        complete = False
    return complete


# --- the verdict ----------------------------------------------------------------------

@dataclass
class _Sig:
    """What the status lines said about one signature (between two NEWSIG lines)."""

    status: dict[str, list[str]] = field(default_factory=dict)

    def key(self) -> str:
        for kw in ("GOODSIG", "BADSIG", "EXPKEYSIG", "REVKEYSIG", "EXPSIG", "ERRSIG"):
            if kw in self.status and self.status[kw]:
                return self.status[kw][0]
        return "?"

    def who(self) -> str:
        """``key FINGERPRINT (user id)``; the long key id when gpgv gave no fingerprint."""
        valid = self.status.get("VALIDSIG", [])
        ident = valid[9] if len(valid) > 9 else self.key()
        for kw in ("GOODSIG", "BADSIG", "EXPKEYSIG", "REVKEYSIG", "EXPSIG"):
            args = self.status.get(kw)
            if args and len(args) > 1:
                return f"key {ident} ({' '.join(args[1:])})"
        return f"key {ident}"


def _parse_status(status: str) -> tuple[list[_Sig], set[str]]:
    sigs: list[_Sig] = []
    loose: set[str] = set()
    for line in status.splitlines():
        parts = line.split()
        if len(parts) < 2 or parts[0] != "[GNUPG:]":
            continue
        kw, args = parts[1], parts[2:]
        if kw == "NEWSIG":
            sigs.append(_Sig())
        elif sigs:
            sigs[-1].status.setdefault(kw, args)
        else:
            loose.add(kw)
    return sigs, loose


def _last_line(stderr: str) -> str:
    lines = [ln.removeprefix("gpgv: ").strip() for ln in stderr.splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


def _verdict(rc: int, status: str, stderr: str, *, name: str, signature: Path, keyring: Path) -> str:
    sigs, loose = _parse_status(status)
    if not sigs:
        if "not a detached signature" in stderr:
            raise UserError(f"{signature} is not a detached signature (it carries its own data)",
                            path=name, hint="use the detached .sign/.sig/.asc file published beside it")
        if "NODATA" in loose or "no valid OpenPGP data" in stderr:
            raise UserError(f"not a signature: {signature} holds no OpenPGP signature", path=name,
                            hint="fetch the detached signature again; it may be an HTML error page")
        raise UserError(f"gpgv could not check {signature} (exit {rc}): {_last_line(stderr)}", path=name)
    for sig in sigs:
        s = sig.status
        if "BADSIG" in s:
            raise UserError(f"bad signature: the content does not match {signature.name} "
                            f"(signed by {sig.who()})", path=name, hint=REFETCH)
        if "ERRSIG" in s:
            args = s["ERRSIG"]
            fpr = args[6] if len(args) > 6 and args[6] != "-" else args[0]
            if "NO_PUBKEY" in s or (len(args) > 5 and args[5] == "9"):
                raise UserError(f"signed by key {fpr}, which is not in the keyring {keyring}", path=name,
                                hint="add that public key to the keyring if you trust it "
                                     "(check its fingerprint out of band)")
            code = args[5] if len(args) > 5 else "?"
            raise UserError(f"cannot check the signature by key {fpr} (gpgv error code {code}: "
                            f"{_last_line(stderr)})", path=name)
        if "REVKEYSIG" in s:
            raise UserError(f"signed by revoked {sig.who()}", path=name,
                            hint="do not use this download; find out why the key was revoked")
        if "EXPKEYSIG" in s:
            raise UserError(f"signed by expired {sig.who()}", path=name,
                            hint="refresh the keyring: the publisher may have extended the key's expiry")
        if "EXPSIG" in s:
            raise UserError(f"the signature by {sig.who()} has expired", path=name)
        if "GOODSIG" not in s or "VALIDSIG" not in s:
            raise UserError(f"gpgv did not confirm the signature by {sig.who()} (exit {rc}): "
                            f"{_last_line(stderr)}", path=name)
    if rc != 0:
        raise UserError(f"gpgv failed (exit {rc}): {_last_line(stderr)}", path=name)
    valid = sigs[0].status["VALIDSIG"]
    # VALIDSIG <signing key fpr> <date> <ts> <expire> <version> <reserved> <pk algo> <hash algo>
    #          <class> <primary key fpr>
    return (valid[9] if len(valid) > 9 else valid[0]).upper()
