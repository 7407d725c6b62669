"""The line scanner of Kconfig assignment files: any text in, entries and diagnostics out.

Every line that is neither a comment, a blank line nor a well-formed assignment
becomes a :class:`~kbuild.errors.Diagnostic` naming the file and line, so callers can
report all mistakes at once; it never raises on content. Fast enough for verify to
read a 10,000-line distro config in a few milliseconds.
"""
from __future__ import annotations

import re

from kbuild.errors import Diagnostic

# No "(.*?)\s*$": a lazy group before a whitespace run backtracks (quadratic on a long
# run of spaces); the value is taken whole and rstrip()ed (the same \s set).
_SET = re.compile(r"CONFIG_([A-Za-z0-9_]+)=(.*)")
_UNSET = re.compile(r"^#\s*CONFIG_([A-Za-z0-9_]+) is not set\s*$")
_HEADER = re.compile(r"^#\s*Linux/(\S+)\s+(\S+)\s+Kernel Configuration\s*$")
# Before Linux 2.6.37 the header said "# Linux kernel version: 2.6.32" (no arch).
_OLD_HEADER = re.compile(r"^#\s*Linux kernel version:\s*(\S+)\s*$")
_GENERATED = "Automatically generated"
_TRISTATE = frozenset(("y", "m", "n"))
_INT = re.compile(r"^-?[0-9]+$")
_HEX = re.compile(r"^0[xX][0-9a-fA-F]+$")
_NAME_IN_GARBAGE = re.compile(r"CONFIG_([A-Za-z0-9_]+)")


def unquote(raw: str) -> str | None:
    """Decode a Kconfig string literal (``"a\\"b"``); None if malformed."""
    if len(raw) < 2 or raw[0] != '"' or raw[-1] != '"':
        return None
    out = []
    i = 1
    end = len(raw) - 1
    while i < end:
        ch = raw[i]
        if ch == "\\":
            if i + 1 >= end:
                return None
            out.append(raw[i + 1])
            i += 2
            continue
        if ch == '"':
            return None
        out.append(ch)
        i += 1
    return "".join(out)


def _classify(raw: str) -> tuple[str, str] | None:
    if raw in ("y", "m", "n"):
        return raw, "tristate"
    if _HEX.match(raw):
        return raw, "hex"
    if _INT.match(raw):
        return raw, "int"
    text = unquote(raw)
    if text is not None:
        return text, "string"
    return None


# One parsed line: (name, value, kind, line number).
Entry = tuple[str, str, str, int]


# Every line as one match (MULTILINE: "$" stops at "\n" only, "." takes any
# other character): the two shapes that make up most of a .config are taken
# apart by the regex engine, anything else goes through LineScanner.other().
FAST_LINE = re.compile(
    r"^(?:CONFIG_([A-Za-z0-9_]+)=([ymn])|# CONFIG_([A-Za-z0-9_]+) is not set|(.*))$", re.M)
# What a line is stripped of (not str.strip(): no Unicode spaces, no "\n").
_BLANKS = " \t\r\v\f"


class LineScanner:
    """The line parser: assignments, diagnostics and the header of one text.

    Only "\n" ends a line (str.splitlines would also split on form feeds etc.).
    Entries are plain tuples, not :class:`Assignment` objects: verify reads
    10,000-line distro configs and must stay within a few milliseconds.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.entries: list[Entry] = []
        self.diagnostics: list[Diagnostic] = []
        self.header_arch: str | None = None
        self.header_version: str | None = None
        self.generated = False

    def other(self, line: str, lineno: int) -> None:
        """Any line but the two fast shapes."""
        stripped = line.strip(_BLANKS)
        if not stripped:
            return
        if stripped[0] == "#":
            m = _UNSET.match(stripped)
            if m:
                self.entries.append((m.group(1), "n", "tristate", lineno))
                return
            if self.header_version is None:
                h = _HEADER.match(stripped)
                if h:
                    self.header_arch, self.header_version = h.group(1), h.group(2)
                else:
                    o = _OLD_HEADER.match(stripped)
                    if o:
                        self.header_version = o.group(1)
            if not self.generated and _GENERATED in stripped:
                self.generated = True
            return
        m = _SET.fullmatch(stripped)
        if not m:
            self.diagnostics.append(_garbage(self.path, lineno, stripped))
            return
        name, raw = m.group(1), m.group(2).rstrip()
        if raw in _TRISTATE:
            self.entries.append((name, raw, "tristate", lineno))
            return
        if raw == "":
            self.diagnostics.append(Diagnostic(
                self.path, lineno, "error", f"CONFIG_{name} has an empty value",
                f"write '# CONFIG_{name} is not set' to unset it, or give a value"))
            return
        classified = _classify(raw)
        if classified is None:
            self.diagnostics.append(Diagnostic(
                self.path, lineno, "error",
                f"CONFIG_{name}={_shorten(raw)}: value is not y, m, n, a number, "
                "a 0x hex number or a double-quoted string",
                "quote strings (\"...\") and put comments on their own line"))
            return
        value, kind = classified
        self.entries.append((name, value, kind, lineno))

    def scan(self, text: str) -> LineScanner:
        """Every line, in order."""
        append = self.entries.append
        other = self.other
        # One row per "\n"-separated line (plus an empty one after a final "\n").
        for lineno, (name, value, unset, rest) in enumerate(FAST_LINE.findall(text), 1):
            if name:
                append((name, value, "tristate", lineno))
            elif unset:
                append((unset, "n", "tristate", lineno))
            elif rest:
                other(rest, lineno)
        return self


def line_count(text: str) -> int:
    newlines = text.count("\n")
    return newlines if not text or text.endswith("\n") else newlines + 1


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _garbage(path: str, lineno: int, stripped: str) -> Diagnostic:
    m = _NAME_IN_GARBAGE.search(stripped)
    if m and "=" not in stripped:
        hint = f"write 'CONFIG_{m.group(1)}=y' or '# CONFIG_{m.group(1)} is not set'"
    elif stripped.startswith("CONFIG_") or (m and m.start() == 0):
        hint = "symbol names are letters, digits and '_' (CONFIG_NAME=value, no spaces around '=')"
    else:
        hint = "lines are 'CONFIG_NAME=value', '# CONFIG_NAME is not set', comments or blank"
    return Diagnostic(path, lineno, "error", f"not a Kconfig assignment: {_shorten(stripped)!r}", hint)
