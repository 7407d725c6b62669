"""Which multiboot protocols a hypervisor image speaks (gzip or plain)."""
from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

from kbuild.errors import UserError

MB1_MAGIC = 0x1BADB002
MB2_MAGIC = 0xE85250D6
# multiboot2 header tags (spec 3.1.8, 3.1.10): keep EFI boot services, EFI amd64 entry
MB2_TAG_EFI_BS = 7
MB2_TAG_ENTRY_EFI64 = 9


@dataclass(frozen=True)
class MultibootInfo:
    """Which multiboot headers a hypervisor image carries, and whether it is gzipped."""

    multiboot1: bool
    multiboot2: bool
    compressed: bool
    # the MB2 header asks for EFI boot services and gives an amd64 EFI entry point: the
    # image can be started by GRUB's multiboot2 on UEFI (Xen >= 4.9 has both tags)
    efi64: bool = False


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
    tags: set[int] = set()
    for off in range(0, len(data) - 16, 8):
        magic, arch, length, checksum = struct.unpack_from("<IIII", data, off)
        if magic == MB2_MAGIC and (magic + arch + length + checksum) & 0xFFFFFFFF == 0:
            mb2 = True
            tags = _mb2_tags(data, off, length)
            break
    efi64 = {MB2_TAG_EFI_BS, MB2_TAG_ENTRY_EFI64} <= tags
    return MultibootInfo(mb1, mb2, compressed, efi64)


def _mb2_tags(data: bytes, header: int, length: int) -> set[int]:
    """The tag types of the MB2 header at ``header`` (16 bytes of fixed fields, then
    8-byte aligned tags up to the end tag, type 0)."""
    tags: set[int] = set()
    off, end = header + 16, min(header + length, len(data))
    while off + 8 <= end:
        kind, _flags, size = struct.unpack_from("<HHI", data, off)
        if kind == 0 or size < 8:
            break
        tags.add(kind)
        off += (size + 7) & ~7
    return tags


def decompress(path: Path) -> bytes:
    data, compressed = _head(path, 1 << 30)
    return data
