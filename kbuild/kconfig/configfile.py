"""Read and write Kconfig assignment files: ``.config`` and fragments.

The parser accepts any text: every line that is neither a comment, a blank
line nor a well-formed assignment becomes a :class:`~kbuild.errors.Diagnostic`
naming the file and line, so callers can report all mistakes at once.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kbuild.errors import Diagnostic, UserError
from kbuild.util.files import read_input

_SET = re.compile(r"^CONFIG_([A-Za-z0-9_]+)=(.*?)\s*$")
_UNSET = re.compile(r"^#\s*CONFIG_([A-Za-z0-9_]+) is not set\s*$")
_HEADER = re.compile(r"^#\s*Linux/(\S+)\s+(\S+)\s+Kernel Configuration\s*$")
# Before Linux 2.6.37 the header said "# Linux kernel version: 2.6.32" (no arch).
_OLD_HEADER = re.compile(r"^#\s*Linux kernel version:\s*(\S+)\s*$")
_GENERATED = "Automatically generated"
_TRISTATE = frozenset(("y", "m", "n"))
_INT = re.compile(r"^-?[0-9]+$")
_HEX = re.compile(r"^0[xX][0-9a-fA-F]+$")
_NAME_IN_GARBAGE = re.compile(r"CONFIG_([A-Za-z0-9_]+)")


@dataclass(frozen=True)
class Assignment:
    """One ``CONFIG_NAME=value`` (or ``# CONFIG_NAME is not set``) line."""

    name: str            # without the CONFIG_ prefix
    value: str           # 'y' 'm' 'n', a decimal/hex literal, or the unquoted string
    kind: str            # 'tristate' (y/m/n), 'int', 'hex' or 'string'
    path: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def render(self) -> str:
        return render_assignment(self.name, self.value, self.kind)


@dataclass
class ConfigFile:
    """The parsed content of a .config or fragment."""

    path: str
    assignments: list[Assignment] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    header_arch: str | None = None
    header_version: str | None = None
    line_count: int = 0
    generated: bool = False   # carries the "Automatically generated file" banner

    def values(self) -> dict[str, Assignment]:
        """The last assignment of each symbol (later lines win, as in Kconfig)."""
        return {a.name: a for a in self.assignments}

    def redefinitions(self) -> list[tuple[Assignment, Assignment]]:
        """Pairs (earlier, later) where one file gives one symbol two values."""
        seen: dict[str, Assignment] = {}
        pairs = []
        for a in self.assignments:
            prev = seen.get(a.name)
            if prev is not None and prev.value != a.value:
                pairs.append((prev, a))
            seen[a.name] = a
        return pairs

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


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


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_assignment(name: str, value: str, kind: str) -> str:
    if kind == "tristate" and value == "n":
        return f"# CONFIG_{name} is not set"
    if kind == "string":
        return f"CONFIG_{name}={quote(value)}"
    return f"CONFIG_{name}={value}"


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
_Entry = tuple[str, str, str, int]

# Every line as one match (MULTILINE: "$" stops at "\n" only, "." takes any
# other character): the two shapes that make up most of a .config are taken
# apart by the regex engine, anything else goes through _Lines.other().
_FAST_LINE = re.compile(
    r"^(?:CONFIG_([A-Za-z0-9_]+)=([ymn])|# CONFIG_([A-Za-z0-9_]+) is not set|(.*))$", re.M)
# What a line is stripped of (not str.strip(): no Unicode spaces, no "\n").
_BLANKS = " \t\r\v\f"


class _Lines:
    """The line parser: assignments, diagnostics and the header of one text.

    Only "\n" ends a line (str.splitlines would also split on form feeds etc.).
    Entries are plain tuples, not :class:`Assignment` objects: verify reads
    10,000-line distro configs and must stay within a few milliseconds.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.entries: list[_Entry] = []
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
        m = _SET.match(stripped)
        if not m:
            self.diagnostics.append(_garbage(self.path, lineno, stripped))
            return
        name, raw = m.group(1), m.group(2)
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

    def scan(self, text: str) -> _Lines:
        """Every line, in order."""
        append = self.entries.append
        other = self.other
        # One row per "\n"-separated line (plus an empty one after a final "\n").
        for lineno, (name, value, unset, rest) in enumerate(_FAST_LINE.findall(text), 1):
            if name:
                append((name, value, "tristate", lineno))
            elif unset:
                append((unset, "n", "tristate", lineno))
            elif rest:
                other(rest, lineno)
        return self


def _line_count(text: str) -> int:
    newlines = text.count("\n")
    return newlines if not text or text.endswith("\n") else newlines + 1


def parse_text(text: str, path: str) -> ConfigFile:
    """Parse Kconfig assignments from text; never raises on bad content."""
    scan = _Lines(path).scan(text)
    cfg = ConfigFile(path=path, diagnostics=scan.diagnostics, header_arch=scan.header_arch,
                     header_version=scan.header_version, line_count=_line_count(text),
                     generated=scan.generated)
    cfg.assignments = [Assignment(name, value, kind, path, line)
                       for name, value, kind, line in scan.entries]
    return cfg


class ConfigValues:
    """The effective value of each symbol of a config file, for checking.

    Values are as Kconfig reads them: later lines win.
    """

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.values: dict[str, str] = {}      # symbol (no CONFIG_ prefix) -> value
        self.lines: dict[str, int] = {}       # symbol -> line of the assignment that won
        values, lines = self.values, self.lines
        scan = _Lines(path)
        entries = scan.entries
        other = scan.other
        count = 0
        # _Lines.scan(), storing straight into the two maps (no tuple per line)
        for lineno, (name, value, unset, rest) in enumerate(_FAST_LINE.findall(text), 1):
            if name:
                values[name] = value
                lines[name] = lineno
                count += 1
            elif unset:
                values[unset] = "n"
                lines[unset] = lineno
                count += 1
            elif rest:
                other(rest, lineno)
                if entries:
                    e = entries.pop()
                    values[e[0]] = e[1]
                    lines[e[0]] = e[3]
                    count += 1
        self.diagnostics = scan.diagnostics
        self.header_arch = scan.header_arch
        self.header_version = scan.header_version
        self.generated = scan.generated
        self.line_count = _line_count(text)
        self.assignment_count = count

    def value(self, name: str) -> str | None:
        return self.values.get(name)

    def line(self, name: str) -> int | None:
        return self.lines.get(name)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


def parse_values(text: str, path: str) -> ConfigValues:
    """Like :func:`parse_text`, but only the effective value of each symbol."""
    return ConfigValues(path, text)


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


_COMPRESSED = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bz2"),
)


def _decompress(data: bytes, shown: str) -> bytes:
    import bz2
    import gzip
    import lzma

    for magic, kind in _COMPRESSED:
        if data.startswith(magic):
            try:
                if kind == "gzip":
                    return gzip.decompress(data)
                if kind == "xz":
                    return lzma.decompress(data)
                return bz2.decompress(data)
            except (OSError, EOFError, lzma.LZMAError, ValueError) as e:
                raise UserError(f"corrupt {kind} file: {e}", path=shown) from None
    return data


def read_text(path: str | Path, display: str | None = None, decompress: bool = False) -> str:
    """A config file's text. Unreadable or binary files raise UserError.

    With ``decompress``, gzip (``/proc/config.gz``), xz and bzip2 files are
    read transparently, so distro configs can be checked as shipped.
    """
    shown = display or str(path)
    data = read_input(path, shown, "a config file")
    if decompress:
        data = _decompress(data, shown)
    if b"\0" in data[:65536]:
        raise UserError("binary file, not a Kconfig text file", path=shown,
                        hint="pass a .config (plain, gzip, xz or bzip2) or a fragment" if decompress
                        else "pass a .config or a fragment (for /proc/config.gz, gunzip it first)")
    return data.decode("utf-8", errors="replace")


def read_config(path: str | Path, display: str | None = None) -> ConfigFile:
    """Read a config or fragment file. Unreadable or binary files raise UserError."""
    shown = display or str(path)
    return parse_text(read_text(path, shown), shown)


def read_values(path: str | Path, display: str | None = None) -> ConfigValues:
    """Read a config (plain, gzip, xz or bzip2) for checking; see :func:`parse_values`."""
    shown = display or str(path)
    return parse_values(read_text(path, shown, decompress=True), shown)
