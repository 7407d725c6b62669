"""The .config / fragment parser: exact on good input, never crashing on bad."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kbuild.errors import UserError
from kbuild.kconfig.configfile import parse_text, quote, read_config, render_assignment
from kbuild.kconfig.scan import unquote


def test_parses_all_kinds_with_lines():
    cfg = parse_text('# Linux/x86_64 6.1.192 Kernel Configuration\nCONFIG_A=y\n'
                     '# CONFIG_B is not set\nCONFIG_C=m\nCONFIG_N=-3\nCONFIG_H=0x1F\n'
                     'CONFIG_S="a \\"q\\" \\\\ b"\n', "x.config")
    got = [(a.name, a.value, a.kind, a.line) for a in cfg.assignments]
    assert got == [("A", "y", "tristate", 2), ("B", "n", "tristate", 3), ("C", "m", "tristate", 4),
                   ("N", "-3", "int", 5), ("H", "0x1F", "hex", 6), ("S", 'a "q" \\ b', "string", 7)]
    assert (cfg.header_arch, cfg.header_version) == ("x86_64", "6.1.192")


@pytest.mark.parametrize("line,needle", [
    ("CONFIG_A=y # comment", "put comments on their own line"),
    ("CONFIG_A=", "empty value"),
    ("CONFIG_A = y", "not a Kconfig assignment"),
    ("NFS_FS=y", "not a Kconfig assignment"),
    ("CONFIG_S=\"unterminated", "double-quoted string"),
])
def test_malformed_lines_name_file_and_line(line, needle):
    cfg = parse_text(f"CONFIG_OK=y\n{line}\n", "frag.config")
    assert len(cfg.errors) == 1
    d = cfg.errors[0]
    assert (d.path, d.line) == ("frag.config", 2)
    assert needle in str(d)
    assert [a.name for a in cfg.assignments] == ["OK"]


def test_binary_and_missing_files(tmp_path):
    b = tmp_path / "bin"
    b.write_bytes(b"\x7fELF\0\0\0")
    with pytest.raises(UserError, match="binary file"):
        read_config(b)
    with pytest.raises(UserError, match="no such file"):
        read_config(tmp_path / "nope")
    with pytest.raises(UserError, match="directory"):
        read_config(tmp_path)


names = st.from_regex(r"[A-Z0-9_]{1,20}", fullmatch=True)
values = st.one_of(
    st.sampled_from(["y", "m", "n"]).map(lambda v: (v, "tristate")),
    st.integers(-10**9, 10**9).map(lambda i: (str(i), "int")),
    st.integers(0, 2**32).map(lambda i: (hex(i), "hex")),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
            max_size=30).map(lambda s: (s, "string")),
)


@given(st.lists(st.tuples(names, values), max_size=30))
@settings(max_examples=200, deadline=None)
def test_round_trip(items):
    text = "\n".join(render_assignment(n, v, k) for n, (v, k) in items) + "\n"
    cfg = parse_text(text, "f")
    assert cfg.errors == []
    assert [(a.name, a.value, a.kind) for a in cfg.assignments] == [(n, v, k) for n, (v, k) in items]


@given(st.text(max_size=400))
@settings(max_examples=300, deadline=None)
def test_garbage_never_raises(text):
    cfg = parse_text(text, "g")
    for d in cfg.diagnostics:
        assert d.path == "g" and 1 <= d.line <= max(1, len(text.splitlines()))


@given(st.text(max_size=50))
def test_quote_unquote(s):
    assert unquote(quote(s)) == s
