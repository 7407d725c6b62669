"""Sign a kernel image with the site key (``sbsign``) and check it (``sbverify``).

Only a PE/COFF image can carry an Authenticode signature: an x86 kernel is one when it
was built with EFI_STUB (fragments/efi.config).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from kbuild.errors import InfraError, UserError
from kbuild.signing.keys import SiteKey
from kbuild.util.files import sha256_file


def _tool(name: str) -> str:
    tool = shutil.which(name)
    if tool is None:
        raise InfraError(f"{name} not found", hint="install sbsigntool (scripts/setup does)")
    return tool


def is_pe(image: Path) -> bool:
    """An MZ header whose e_lfanew points at a "PE\\0\\0" signature."""
    with open(image, "rb") as f:
        head = f.read(4096)
    if head[:2] != b"MZ" or len(head) < 0x40:
        return False
    off = int.from_bytes(head[0x3C:0x40], "little")
    return head[off:off + 4] == b"PE\0\0" if off + 4 <= len(head) else False


def verify(image: Path, cert: Path) -> bool:
    """sbverify: is ``image`` signed by the key of ``cert``?"""
    r = subprocess.run([_tool("sbverify"), "--cert", str(cert), str(image)],
                       capture_output=True, text=True)
    return r.returncode == 0


def signed_copy(image: Path, key: SiteKey, cache: Path, shown: str) -> Path:
    """The image signed by ``key``, kept in ``cache`` by the image's digest and the
    certificate's fingerprint (signing again gives the same file: publish stays stable).
    ``shown`` names the image in errors (the staged name)."""
    if not is_pe(image):
        raise UserError(f"{shown} is not an EFI (PE/COFF) image, so it cannot be signed for "
                        "Secure Boot and firmware would refuse it unsigned", path=image,
                        hint="build the profile with the efi fragment (CONFIG_EFI_STUB=y)")
    out = cache / f"{sha256_file(image)[:24]}-{key.fingerprint[:16]}.signed"
    if out.is_file() and verify(out, key.cert):
        return out
    cache.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    r = subprocess.run([_tool("sbsign"), "--key", str(key.key), "--cert", str(key.cert),
                        "--output", str(tmp), str(image)], capture_output=True, text=True)
    if r.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise UserError(f"sbsign could not sign {shown}: {(r.stderr or r.stdout).strip()[-300:]}",
                        path=image)
    if not verify(tmp, key.cert):
        tmp.unlink(missing_ok=True)
        raise InfraError(f"sbverify rejects the image sbsign just signed ({shown})")
    os.replace(tmp, out)
    return out
