"""Read and write Kconfig assignment files: ``.config`` and fragments.

Parsing accepts any text (:mod:`kbuild.kconfig.scan` turns every bad line into a
diagnostic naming the file and line); reading a file the user named raises
UserError when it cannot be read or is binary.
"""
from __future__ import annotations

from pathlib import Path

from kbuild.errors import Diagnostic, UserError
from kbuild.kconfig.scan import FAST_LINE, LineScanner, line_count
from kbuild.util.files import decode_text, read_input
from kbuild.util.record import field, record


@record(frozen=True)
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


@record
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

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def assignment(name: str, value: str) -> str:
    """A fragment line: ``CONFIG_X=v``, or ``# CONFIG_X is not set`` for n (verify's
    table, its --fix fragments and configure's hints)."""
    return f"# CONFIG_{name} is not set" if value == "n" else f"CONFIG_{name}={value}"


def render_assignment(name: str, value: str, kind: str) -> str:
    if kind == "tristate" and value == "n":
        return f"# CONFIG_{name} is not set"
    if kind == "string":
        return f"CONFIG_{name}={quote(value)}"
    return f"CONFIG_{name}={value}"


def parse_text(text: str, path: str) -> ConfigFile:
    """Parse Kconfig assignments from text; never raises on bad content."""
    scan = LineScanner(path).scan(text)
    cfg = ConfigFile(path=path, diagnostics=scan.diagnostics, header_arch=scan.header_arch,
                     header_version=scan.header_version, line_count=line_count(text),
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
        scan = LineScanner(path)
        entries = scan.entries
        other = scan.other
        count = 0
        # LineScanner.scan(), storing straight into the two maps (no tuple per line)
        for lineno, (name, value, unset, rest) in enumerate(FAST_LINE.findall(text), 1):
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
        self.line_count = line_count(text)
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


# The most lines a config file may have (a distro .config has about 10,000): every
# line costs the scanner a few objects, so the line count bounds its memory.
MAX_CONFIG_LINES = 200_000


def read_text(path: str | Path, display: str | None = None, decompress: bool = False) -> str:
    """A config file's text. Unreadable, binary or oversized files raise UserError.

    With ``decompress``, gzip (``/proc/config.gz``), xz and bzip2 files are
    read transparently, so distro configs can be checked as shipped. The limits are
    :data:`~kbuild.util.files.MAX_INPUT_BYTES` (before and after decompression) and
    :data:`MAX_CONFIG_LINES`; bytes that are not UTF-8 read as U+FFFD.
    """
    shown = display or str(path)
    data = read_input(path, shown, "a config file", decompress=decompress)
    text = decode_text(data, shown, "a Kconfig text file",
                       "pass a .config (plain, gzip, xz or bzip2) or a fragment" if decompress
                       else "pass a .config or a fragment (for /proc/config.gz, gunzip it first)")
    if text.count("\n") > MAX_CONFIG_LINES:
        raise UserError(f"more than {MAX_CONFIG_LINES:,} lines: not a config file", path=shown,
                        hint="a distro .config has about 10,000 lines")
    return text


def read_config(path: str | Path, display: str | None = None) -> ConfigFile:
    """Read a config or fragment file. Unreadable or binary files raise UserError."""
    shown = display or str(path)
    return parse_text(read_text(path, shown), shown)


def read_values(path: str | Path, display: str | None = None) -> ConfigValues:
    """Read a config (plain, gzip, xz or bzip2) for checking; see :func:`parse_values`."""
    shown = display or str(path)
    return parse_values(read_text(path, shown, decompress=True), shown)
