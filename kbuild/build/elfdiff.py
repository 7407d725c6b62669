"""Where two kernel images differ: the first differing section of two ELF files (vmlinux),
or the first differing byte of two flat images. Enough ELF64 to list sections; no tools."""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Section:
    name: str
    offset: int
    size: int
    nobits: bool


def elf_sections(data: bytes) -> list[Section] | None:
    """The sections of a little-endian ELF64 file (None if it is not one)."""
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    if shoff == 0 or shentsize < 64 or shoff + shnum * shentsize > len(data) or shstrndx >= shnum:
        return None
    raw = []
    for i in range(shnum):
        name, kind, _flags, _addr, off, size = struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
        raw.append((name, kind, off, size))
    str_off, str_size = raw[shstrndx][2], raw[shstrndx][3]
    strtab = data[str_off:str_off + str_size]
    out = []
    for name, kind, off, size in raw:
        end = strtab.find(b"\0", name)
        out.append(Section(strtab[name:end if end >= 0 else None].decode("ascii", "replace"),
                           off, size, kind == 8))   # SHT_NOBITS: no bytes in the file
    return out


def first_difference(a: Path, b: Path) -> str | None:
    """None when the files are identical, else where they first differ: an ELF section
    (in section order, then the headers), or a byte offset."""
    da, db = a.read_bytes(), b.read_bytes()
    if da == db:
        return None
    sa, sb = elf_sections(da), elf_sections(db)
    if sa is not None and sb is not None:
        names_a, names_b = [s.name for s in sa], [s.name for s in sb]
        if names_a != names_b:
            only = sorted(set(names_a) ^ set(names_b))
            return f"section lists differ ({', '.join(only[:5]) or 'order'})"
        for x, y in zip(sa, sb, strict=True):
            if x.nobits and y.nobits:
                if x.size != y.size:
                    return f"section {x.name} (size {x.size} vs {y.size})"
                continue
            if da[x.offset:x.offset + x.size] != db[y.offset:y.offset + y.size]:
                return f"section {x.name or '(null)'}"
        return "ELF headers or padding (every section is identical)"
    n = next((i for i, (p, q) in enumerate(zip(da, db, strict=False)) if p != q), min(len(da), len(db)))
    return f"byte {n:#x} of {max(len(da), len(db))}" + ("" if len(da) == len(db) else
                                                        f" (sizes {len(da)} vs {len(db)})")
