"""The config reader verify relies on: fast, yet exactly the line-by-line parser,
and never a traceback whatever the file holds (Hypothesis)."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kbuild.boot.entry import entry_from_cmdline
from kbuild.errors import UserError
from kbuild.kconfig.configfile import parse_text, parse_values, render_assignment
from kbuild.kconfig.scan import _HEADER, _SET, _UNSET, _classify
from kbuild.verify import check as verify
from kbuild.verify import render as verify_render


def reference_entries(text: str) -> list[tuple[str, str, str, int]]:
    """The plain line-by-line reading the fast scanner must reproduce."""
    out = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for lineno, line in enumerate(lines, 1):
        s = line.strip(" \t\r\v\f")
        if not s:
            continue
        if s.startswith("#"):
            m = _UNSET.match(s)
            if m:
                out.append((m.group(1), "n", "tristate", lineno))
            continue
        m = _SET.match(s)
        if not m or m.group(2) == "":
            continue
        classified = _classify(m.group(2))
        if classified is not None:
            out.append((m.group(1), classified[0], classified[1], lineno))
    return out


# Text made of the pieces configs are made of, so the interesting paths are hit often.
pieces = st.sampled_from(["CONFIG_", "NFS_FS", "A", "=", "y", "m", "n", "\n", "\n", "# ", "#",
                          " is not set", " ", "\t", "\r", "\x0b", "\x0c", "\x85", "\u2028", '"',
                          "\\", "0x1F", "-12", "Linux/x86_64 6.1.0 Kernel Configuration"])
config_like = st.lists(pieces, max_size=80).map("".join)
any_text = st.one_of(config_like, st.text(max_size=300))


@given(any_text)
@settings(max_examples=500, deadline=None)
def test_fast_scanner_equals_the_line_by_line_reading(text):
    cfg = parse_text(text, "f")
    got = [(a.name, a.value, a.kind, a.line) for a in cfg.assignments]
    assert got == reference_entries(text)
    n = text.count("\n")
    assert cfg.line_count == (n if not text or text.endswith("\n") else n + 1)
    for d in cfg.diagnostics:
        assert d.path == "f" and 1 <= d.line <= cfg.line_count


@given(any_text)
@settings(max_examples=300, deadline=None)
def test_values_are_the_last_assignment_of_each_symbol(text):
    cfg = parse_text(text, "f")
    values = parse_values(text, "f")
    assert values.values == {a.name: a.value for a in cfg.assignments}
    assert {n: values.line(n) for n in values.values} == {a.name: a.line for a in cfg.assignments}
    assert values.assignment_count == len(cfg.assignments)
    assert [str(d) for d in values.diagnostics] == [str(d) for d in cfg.diagnostics]
    h = next((m for m in (_HEADER.match(line.strip(" \t\r\v\f")) for line in text.split("\n")) if m),
             None)
    assert values.header_version == (h.group(2) if h else values.header_version)


names = st.from_regex(r"[A-Z0-9_]{1,12}", fullmatch=True)
values_st = st.one_of(
    st.sampled_from(["y", "m", "n"]).map(lambda v: (v, "tristate")),
    st.integers(-10**6, 10**6).map(lambda i: (str(i), "int")),
    st.integers(0, 2**32).map(lambda i: (hex(i), "hex")),
    # NUL would make the file binary, which is a different test
    st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\n\x00"),
            max_size=20).map(lambda s: (s, "string")),
)


@given(st.lists(st.tuples(names, values_st), min_size=1, max_size=40))
@settings(max_examples=200, deadline=None)
def test_round_trip_through_verify(items):
    text = "# Linux/x86_64 6.1.0 Kernel Configuration\n" + "\n".join(
        render_assignment(n, v, k) for n, (v, k) in items) + "\n"
    parsed = parse_values(text, "f")
    last = {n: (v, k) for n, (v, k) in items}
    assert parsed.values == {n: v for n, (v, _k) in last.items()}
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.config"
        path.write_text(text)
        report = verify.verify_config(path, entry=entry_from_cmdline("ip=dhcp root=/dev/nfs"))
    for c in report.checks:
        for name, value in c.values.items():
            if name in last:
                assert value == last[name][0]
            else:
                assert value == "absent"


@given(st.one_of(any_text, st.binary(max_size=300).map(lambda b: b.decode("latin-1"))))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_file_is_a_report_or_a_user_error_never_a_traceback(text):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "input"
        path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
        try:
            report = verify.verify_config(path)
        except UserError as e:
            assert e.exit_code == 2
            assert re.match(rf"{re.escape(str(path))}(:\d+)?: error: ", str(e))
        else:
            assert report.assignment_count >= 1
            assert report.exit_code in (0, 1)
            verify_render.render_table(report)
            verify_render.report_json(report)
