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

_SET = re.compile(r"^CONFIG_([A-Za-z0-9_]+)=(.*?)\s*$")
_UNSET = re.compile(r"^#\s*CONFIG_([A-Za-z0-9_]+) is not set\s*$")
_HEADER = re.compile(r"^#\s*Linux/(\S+)\s+(\S+)\s+Kernel Configuration\s*$")
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


def parse_text(text: str, path: str) -> ConfigFile:
    """Parse Kconfig assignments from text; never raises on bad content."""
    cfg = ConfigFile(path=path)
    lines = text.splitlines()
    cfg.line_count = len(lines)
    for lineno, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            m = _UNSET.match(stripped)
            if m:
                cfg.assignments.append(Assignment(m.group(1), "n", "tristate", path, lineno))
                continue
            h = _HEADER.match(stripped)
            if h and cfg.header_arch is None:
                cfg.header_arch, cfg.header_version = h.group(1), h.group(2)
            continue
        m = _SET.match(stripped)
        if not m:
            cfg.diagnostics.append(_garbage(path, lineno, stripped))
            continue
        name, raw = m.group(1), m.group(2)
        if raw == "":
            cfg.diagnostics.append(Diagnostic(
                path, lineno, "error", f"CONFIG_{name} has an empty value",
                f"write '# CONFIG_{name} is not set' to unset it, or give a value"))
            continue
        classified = _classify(raw)
        if classified is None:
            cfg.diagnostics.append(Diagnostic(
                path, lineno, "error",
                f"CONFIG_{name}={_shorten(raw)}: value is not y, m, n, a number, "
                "a 0x hex number or a double-quoted string",
                "quote strings (\"...\") and put comments on their own line"))
            continue
        value, kind = classified
        cfg.assignments.append(Assignment(name, value, kind, path, lineno))
    return cfg


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


def read_config(path: str | Path, display: str | None = None) -> ConfigFile:
    """Read a config or fragment file. Unreadable or binary files raise UserError."""
    p = Path(path)
    shown = display or str(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise UserError("no such file", path=shown, hint="check the path") from None
    except IsADirectoryError:
        raise UserError("is a directory, not a config file", path=shown) from None
    except OSError as e:
        raise UserError(f"cannot read: {e.strerror}", path=shown) from None
    if b"\0" in data[:65536]:
        raise UserError("binary file, not a Kconfig text file", path=shown,
                        hint="pass a .config or a fragment (for /proc/config.gz, gunzip it first)")
    text = data.decode("utf-8", errors="replace")
    return parse_text(text, shown)
