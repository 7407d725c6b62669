"""Line numbers for keys of a TOML document.

``tomllib`` returns plain values without positions; kbuild's error messages
must still say ``kbuild.toml:LINE:``. This scanner maps every table header and
every ``key = value`` line to its dotted key path. It understands the subset
of TOML a hand-written site file uses (tables, arrays of tables, dotted and
quoted keys, multi-line arrays and strings); anything it cannot place falls
back to the line of the enclosing table.
"""
from __future__ import annotations

import re

KeyPath = tuple[str | int, ...]

_BARE = r"[A-Za-z0-9_-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"|\'[^\']*\''
_KEY = rf"(?:{_BARE}|{_QUOTED})"
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_TABLE = re.compile(rf"^\s*\[\s*({_DOTTED})\s*\]\s*(#.*)?$")
_ARRAY_TABLE = re.compile(rf"^\s*\[\[\s*({_DOTTED})\s*\]\]\s*(#.*)?$")
_ASSIGN = re.compile(rf"^\s*({_DOTTED})\s*=")


def _split_key(text: str) -> list[str]:
    parts = re.findall(_KEY, text)
    out = []
    for p in parts:
        if p[0] in "\"'":
            out.append(p[1:-1])
        else:
            out.append(p)
    return out


class KeyLines:
    """Maps key paths such as ``("profiles", "nfsroot", "arch")`` to line numbers."""

    def __init__(self, text: str) -> None:
        self._lines: dict[KeyPath, int] = {}
        self._scan(text)

    def _scan(self, text: str) -> None:
        table: KeyPath = ()
        array_counts: dict[KeyPath, int] = {}
        in_multiline: str | None = None
        depth = 0
        for lineno, line in enumerate(text.splitlines(), 1):
            if in_multiline:
                if in_multiline in line:
                    in_multiline = None
                continue
            if depth > 0:
                depth = max(0, depth + _bracket_delta(line))
                continue
            m = _ARRAY_TABLE.match(line)
            if m:
                base = tuple(_split_key(m.group(1)))
                idx = array_counts.get(base, 0)
                array_counts[base] = idx + 1
                table = base + (idx,)
                self._lines.setdefault(base, lineno)
                self._lines[table] = lineno
                continue
            m = _TABLE.match(line)
            if m:
                table = tuple(_split_key(m.group(1)))
                self._lines.setdefault(table, lineno)
                continue
            m = _ASSIGN.match(line)
            if m:
                key = table + tuple(_split_key(m.group(1)))
                self._lines.setdefault(key, lineno)
                rest = line[m.end():]
                for quote in ('"""', "'''"):
                    if rest.count(quote) == 1:
                        in_multiline = quote
                if not in_multiline:
                    depth = max(0, _bracket_delta(rest))

    def line(self, path: KeyPath) -> int | None:
        """Line of ``path``, or of its nearest known ancestor."""
        p = tuple(path)
        while p:
            if p in self._lines:
                return self._lines[p]
            p = p[:-1]
        return None


def _bracket_delta(text: str) -> int:
    depth = 0
    in_str: str | None = None
    i = 0
    while i < len(text):
        ch = text[i]
        if in_str:
            if ch == "\\" and in_str == '"':
                i += 2
                continue
            if ch == in_str:
                in_str = None
        elif ch in "\"'":
            in_str = ch
        elif ch == "#":
            break
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        i += 1
    return depth
