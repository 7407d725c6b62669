"""The site key that signs kernels for UEFI Secure Boot: an RSA-2048 private key (PEM,
never readable by others, never published) and its X.509 certificate (PEM), which the
site enrols in the firmware's db or as a shim MOK (docs/uefi.md).

Firmware and shim do not check certificate dates, so neither does kbuild.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kbuild.errors import InfraError, UserError

# group- or world-accessible bits a private key may not have (the owner's are fine)
_FORBIDDEN = stat.S_IRWXO | stat.S_IWGRP | stat.S_IXGRP | stat.S_IRGRP
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\s+([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----")


@dataclass(frozen=True)
class SiteKey:
    """A checked key pair: paths and the certificate's SHA-256 fingerprint (of its DER)."""

    key: Path
    cert: Path
    fingerprint: str


def _openssl(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    tool = shutil.which("openssl")
    if tool is None:
        raise InfraError("openssl not found", hint="install openssl (scripts/setup does)")
    return subprocess.run([tool, *args], input=stdin, capture_output=True)


def cert_fingerprint(cert: Path) -> str:
    """SHA-256 of the certificate's DER: what ``openssl x509 -fingerprint -sha256`` and
    ``virt-fw-vars`` show, lower case without colons."""
    data = _read(cert, "certificate")
    m = _PEM_CERT.search(data)
    if m is None:
        raise UserError("not a PEM certificate (no BEGIN CERTIFICATE block)", path=cert,
                        hint="give the .crt that `kbuild keys init` wrote, or convert it: "
                             "openssl x509 -inform DER -in FILE -out FILE.crt")
    try:
        der = base64.b64decode(b"".join(m.group(1).split()), validate=True)
    except ValueError:
        raise UserError("the certificate's base64 is damaged", path=cert) from None
    return hashlib.sha256(der).hexdigest()


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"the Secure Boot {what} does not exist", path=path,
                        hint="run: kbuild keys init (or fix the path in [profiles.X.secure_boot])"
                        ) from None
    except OSError as e:
        raise UserError(f"cannot read the Secure Boot {what}: {e.strerror}", path=path) from None


def check_private(key: Path) -> None:
    """Refuse a private key that others may read or change (or that is no regular file)."""
    try:
        st = key.stat()
    except FileNotFoundError:
        raise UserError("the Secure Boot private key does not exist", path=key,
                        hint="run: kbuild keys init") from None
    if not stat.S_ISREG(st.st_mode):
        raise UserError("the Secure Boot private key is not a regular file", path=key)
    if st.st_mode & _FORBIDDEN:
        raise UserError(f"the Secure Boot private key is readable or writable by others "
                        f"(mode {stat.S_IMODE(st.st_mode):04o}); kbuild will not use it",
                        path=key, hint=f"chmod 600 {key}; if others could read it, it is no longer "
                                       "secret: make a new key (kbuild keys init) and enrol that")


def check_pair(key: Path, cert: Path) -> SiteKey:
    """The key is private, the certificate is PEM, and the certificate is the key's."""
    check_private(key)
    fingerprint = cert_fingerprint(cert)
    pub_key = _openssl("pkey", "-in", str(key), "-pubout")
    if pub_key.returncode != 0:
        raise UserError("not a PEM private key openssl can read", path=key,
                        hint="give the .key that `kbuild keys init` wrote (unencrypted PEM)")
    pub_cert = _openssl("x509", "-in", str(cert), "-noout", "-pubkey")
    if pub_cert.returncode != 0:
        raise UserError("not an X.509 certificate openssl can read", path=cert)
    if pub_key.stdout.strip() != pub_cert.stdout.strip():
        raise UserError(f"the certificate does not match the private key {key}", path=cert,
                        hint="give the certificate made with this key (kbuild keys init writes both)")
    return SiteKey(key, cert, fingerprint)


def init_key(key: Path, cert: Path, subject: str = "kbuild site Secure Boot key") -> SiteKey:
    """Generate an RSA-2048 key (mode 0600, written atomically) and a self-signed
    certificate for it. Never overwrites an existing key or certificate."""
    for p in (key, cert):
        if p.exists() or p.is_symlink():
            raise UserError("already exists; kbuild keys init never overwrites a key", path=p,
                            hint="give other paths (--key, --cert) or remove the old pair on purpose")
    if "/" in subject or "\n" in subject:
        raise UserError(f"subject {subject!r} may not contain '/' or a line break")
    key.parent.mkdir(parents=True, exist_ok=True)
    cert.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=".kbuild-keys.", dir=key.parent))
    try:
        os.chmod(tmpdir, 0o700)
        tkey, tcert = tmpdir / "key", tmpdir / "cert"
        # 100 years: firmware does not check dates; the certificate only carries the key
        r = _openssl("req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
                     "-days", "36500", "-subj", f"/CN={subject}/", "-keyout", str(tkey),
                     "-out", str(tcert))
        if r.returncode != 0:
            raise InfraError(f"openssl req failed: {r.stderr.decode(errors='replace').strip()[-300:]}")
        os.chmod(tkey, 0o600)
        os.chmod(tcert, 0o644)
        os.replace(tcert, cert)
        os.replace(tkey, key)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return check_pair(key, cert)
