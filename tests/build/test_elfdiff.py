"""The first differing section of two ELF files gcc made, and of flat files."""
from __future__ import annotations

import subprocess
from pathlib import Path

from kbuild.build.elfdiff import elf_sections, first_difference


def _obj(tmp_path: Path, name: str, code: str) -> Path:
    (tmp_path / f"{name}.c").write_text(code)
    subprocess.run(["gcc", "-O2", "-c", f"{name}.c", "-o", f"{name}.o"], cwd=tmp_path, check=True)
    return tmp_path / f"{name}.o"


def test_identical_files(tmp_path):
    a = _obj(tmp_path, "a", "int f(void) { return 1; }\nconst char s[] = \"x\";\n")
    b = tmp_path / "b.o"
    b.write_bytes(a.read_bytes())
    assert first_difference(a, b) is None
    names = [s.name for s in elf_sections(a.read_bytes()) or []]
    assert ".text" in names and ".rodata" in names


def test_rodata_differs(tmp_path):
    a = _obj(tmp_path, "a", "int f(void) { return 1; }\nconst char s[] = \"host-a\";\n")
    b = _obj(tmp_path, "b", "int f(void) { return 1; }\nconst char s[] = \"host-b\";\n")
    assert first_difference(a, b) == "section .rodata"


def test_text_differs_first(tmp_path):
    a = _obj(tmp_path, "a", "int f(int x) { return x + 1; }\n")
    b = _obj(tmp_path, "b", "int f(int x) { return x * 3; }\n")
    assert first_difference(a, b) == "section .text"


def test_flat_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"\0" * 100 + b"A")
    b.write_bytes(b"\0" * 100 + b"B")
    assert first_difference(a, b) == "byte 0x64 of 101"
    b.write_bytes(b"\0" * 100)
    assert first_difference(a, b) == "byte 0x64 of 101 (sizes 101 vs 100)"
