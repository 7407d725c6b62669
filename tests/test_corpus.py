"""Every reproducer under tests/corpus/ goes through the `kbuild` command's own entry
point (kbuild.cli.main): exit 2 with a message naming the input, never the catch-all
(exit 3) that is kept for bugs."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from kbuild import cli

CORPUS = Path(__file__).parent / "corpus"
CONFIG = "# Linux/x86_64 6.1.0 Kernel Configuration\nCONFIG_X86_64=y\n"


def _cases(kind: str) -> list[Path]:
    return sorted(p for p in (CORPUS / kind).iterdir() if p.is_file())


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out + out.err


def _check(path: Path, code: int, output: str, named: str) -> None:
    assert "internal error" not in output and "Traceback" not in output, output
    assert code != 3, output
    if not path.name.endswith(".lenient"):
        assert code == 2, output
        assert named in output, output


@pytest.fixture
def config(tmp_path: Path) -> Path:
    p = tmp_path / "good.config"
    p.write_text(CONFIG)
    return p


@pytest.mark.parametrize("path", _cases("config"), ids=lambda p: p.name)
def test_config_corpus(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = _run(capsys, ["verify", str(path)])
    _check(path, code, output, path.name)


@pytest.mark.parametrize("path", _cases("entry"), ids=lambda p: p.name)
def test_entry_corpus(path: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = _run(capsys, ["verify", str(config), "--entry", str(path)])
    _check(path, code, output, path.name)


@pytest.mark.parametrize("path", _cases("cmdline"), ids=lambda p: p.name)
def test_cmdline_corpus(path: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arg = os.fsdecode(path.read_bytes())      # as argv hands over bytes (surrogateescape)
    code, output = _run(capsys, ["verify", str(config), "--cmdline", arg])
    _check(path, code, output, "--cmdline")


@pytest.mark.parametrize("path", _cases("arch"), ids=lambda p: p.name)
def test_arch_corpus(path: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = _run(capsys, ["verify", str(config), "--arch", os.fsdecode(path.read_bytes())])
    _check(path, code, output, "--arch")


@pytest.mark.parametrize("path", _cases("site"), ids=lambda p: p.name)
def test_site_corpus(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "kbuild.toml"
    site.write_bytes(path.read_bytes())
    code, output = _run(capsys, ["check-site", "--site", str(site)])
    _check(path, code, output, "kbuild.toml")


def test_oversized_inputs_are_refused_by_size(tmp_path: Path, config: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Too big to keep in the corpus: a 5 MiB entry, 200,002 blank lines, a gzip file
    expanding to 64 MiB; each is refused by the reader's limits before any parsing."""
    entry = tmp_path / "huge-entry"
    entry.write_bytes(b"#" * (5 << 20))
    code, output = _run(capsys, ["verify", str(config), "--entry", str(entry)])
    assert code == 2 and "huge-entry: error: larger than 4 MiB" in output, output
    lines = tmp_path / "lines.config"
    lines.write_bytes(b"\n" * 200_002)
    code, output = _run(capsys, ["verify", str(lines)])
    assert code == 2 and "more than 200,000 lines" in output, output
    bomb = tmp_path / "bomb.config.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as f:
        for _ in range(64):
            f.write(b"\n" * (1 << 20))
    code, output = _run(capsys, ["verify", str(bomb)])
    assert code == 2 and "bomb.config.gz: error: decompresses to more than 4 MiB" in output, output
