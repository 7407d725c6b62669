"""OpenPGP keyrings for gpgv: binary as they come, ASCII armor decoded here.

gpgv needs a binary keyring (OpenPGP packets or a GnuPG keybox): an ASCII-armored one
makes it fail with "invalid packet" and report the key as missing. Armored keyrings are
decoded here (RFC 4880 radix-64 with its CRC-24), so only the ``gpgv`` package is needed.
"""
from __future__ import annotations

import base64
import binascii
from pathlib import Path

from kbuild.errors import UserError

_ARMOR_BEGIN = "-----BEGIN PGP PUBLIC KEY BLOCK-----"


_ARMOR_END = "-----END PGP PUBLIC KEY BLOCK-----"


def binary_keyring(keyring: Path, home: Path, name: str) -> Path:
    """A binary copy of ``keyring`` inside the private home directory.

    Copied even when already binary: gpgv takes locks next to a keybox, and a relative
    ``--keyring`` name would be looked up in the home directory.
    """
    try:
        data = keyring.read_bytes()
    except FileNotFoundError:
        raise UserError(f"keyring {keyring} does not exist", path=name) from None
    except OSError as e:
        raise UserError(f"cannot read keyring {keyring}: {e.strerror or e}", path=name) from None
    if data[8:12] == b"KBXf":                      # GnuPG keybox (pubring.kbx)
        binary = data
    elif data[:1] and data[0] & 0x80:              # OpenPGP packets (gpg --export)
        binary = data
    else:
        try:
            binary = dearmor(data.decode("ascii", errors="replace"))
        except ValueError as e:
            raise UserError(f"keyring {keyring} is not an OpenPGP keyring: {e}", path=name,
                            hint="give a public keyring: gpg --export (binary) or "
                                 "gpg --armor --export (.asc)") from None
    if data[8:12] != b"KBXf":
        tag = _packet_tag(binary[0])
        if tag != 6:
            what = "a secret key" if tag == 5 else f"OpenPGP packet type {tag}"
            raise UserError(f"keyring {keyring} does not start with a public key but with {what}",
                            path=name, hint="export the public key: gpg --export KEYID > keyring.gpg")
    ring = home / "keyring"
    ring.write_bytes(binary)
    return ring


def _packet_tag(first: int) -> int:
    if first & 0x40:
        return first & 0x3F          # new-format packet header
    return (first >> 2) & 0x0F       # old-format packet header


def dearmor(text: str) -> bytes:
    """Decode every ``PGP PUBLIC KEY BLOCK`` of ``text`` (RFC 4880 section 6) and concatenate them.

    Text around the blocks is ignored; armor headers (``Comment: ...``) are skipped; the
    CRC-24 line, when present, is checked. Raises ValueError on anything malformed.
    """
    out = bytearray()
    lines = iter(text.splitlines())
    for line in lines:
        if line.strip() != _ARMOR_BEGIN:
            continue
        body: list[str] = []
        crc: str | None = None
        for inner in lines:
            inner = inner.strip()
            if inner == _ARMOR_END:
                break
            if not inner or ":" in inner:     # blank line or armor header
                continue
            if inner.startswith("=") and len(inner) == 5:
                crc = inner[1:]
                continue
            body.append(inner)
        else:
            raise ValueError(f"no {_ARMOR_END} line")
        try:
            block = base64.b64decode("".join(body), validate=True)
        except binascii.Error as e:
            raise ValueError(f"bad base64 in the armor: {e}") from None
        if not block:
            raise ValueError("an empty key block")
        if crc is not None:
            try:
                want = int.from_bytes(base64.b64decode(crc, validate=True), "big")
            except binascii.Error:
                raise ValueError(f"bad armor checksum line ={crc}") from None
            if _crc24(block) != want:
                raise ValueError("armor checksum mismatch (the key file is damaged)")
        out += block
    if not out:
        raise ValueError(f"no binary key data and no {_ARMOR_BEGIN} block")
    return bytes(out)


def _crc24(data: bytes) -> int:
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF
