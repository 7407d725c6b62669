"""Which multiboot protocols a hypervisor image speaks (gzip or plain)."""
from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

from kbuild.errors import UserError

MB1_MAGIC = 0x1BADB002
MB2_MAGIC = 0xE85250D6


@dataclass(frozen=True)
class MultibootInfo:
    """Which multiboot headers a hypervisor image carries, and whether it is gzipped."""

    multiboot1: bool
    multiboot2: bool
    compressed: bool


def _head(path: Path, size: int) -> tuple[bytes, bool]:
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as g:
                return g.read(size), True
        except (OSError, EOFError) as e:
            raise UserError(f"corrupt gzip image: {e}", path=path) from None
    with open(path, "rb") as f:
        return f.read(size), False


def inspect(path: Path) -> MultibootInfo:
    """Search the headers where the specs put them: MB1 in the first 8 KiB
    (4-byte aligned, checksummed), MB2 in the first 32 KiB (8-byte aligned)."""
    data, compressed = _head(path, 32768)
    mb1 = False
    for off in range(0, min(len(data), 8192) - 12, 4):
        magic, flags, checksum = struct.unpack_from("<III", data, off)
        if magic == MB1_MAGIC and (magic + flags + checksum) & 0xFFFFFFFF == 0:
            mb1 = True
            break
    mb2 = False
    for off in range(0, len(data) - 16, 8):
        magic, arch, length, checksum = struct.unpack_from("<IIII", data, off)
        if magic == MB2_MAGIC and (magic + arch + length + checksum) & 0xFFFFFFFF == 0:
            mb2 = True
            break
    return MultibootInfo(mb1, mb2, compressed)


def decompress(path: Path) -> bytes:
    data, compressed = _head(path, 1 << 30)
    return data
