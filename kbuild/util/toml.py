"""TOML input files with line numbers: parse, locate keys, check values.

``tomllib`` returns plain values without positions; kbuild's error messages must
still say ``kbuild.toml:LINE:``. :class:`KeyLines` maps every table header and
every ``key = value`` line to its dotted key path. It understands the subset of
TOML a hand-written file uses (tables, arrays of tables, dotted and quoted keys,
multi-line arrays and strings); anything it cannot place falls back to the line
of the enclosing table. :func:`load_toml` and :class:`TomlChecker` are the one
reader and checker of kbuild's TOML inputs: the site (kbuild.toml), the rule
files and kbuild.lock. Every problem becomes a
:class:`~kbuild.errors.Diagnostic` with the line of the key it is about, and all
problems of a file are reported together.
"""
from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Collection
from typing import Any, Protocol

from kbuild.errors import Diagnostic, InputErrors

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


class LineIndex(Protocol):
    """Anything that gives a key path's line (KeyLines, LazyKeyLines)."""

    def line(self, path: KeyPath) -> int | None: ...


class LazyKeyLines:
    """:class:`KeyLines` built on first use: a file read often and rarely wrong (the
    rule files) pays for the pure-Python key scan only when there is an error to place."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._keys: KeyLines | None = None

    def line(self, path: KeyPath) -> int | None:
        if self._keys is None:
            self._keys = KeyLines(self.text)
        return self._keys.line(path)


_POSITION = re.compile(r"\s*\(at line (\d+), column \d+\)")


def load_toml(text: str, shown: str, error: type[InputErrors], hint: str) -> dict[str, Any]:
    """Parse ``text``; invalid TOML raises ``error`` naming ``shown:LINE`` and ``hint``."""
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError, ValueError) as e:
        # RecursionError: nesting too deep; ValueError: an integer over Python's
        # 4,300-digit limit
        msg = str(e) or type(e).__name__
        m = _POSITION.search(msg)
        raise error([Diagnostic(shown, int(m.group(1)) if m else None, "error",
                                f"invalid TOML: {_POSITION.sub('', msg)}", hint)]) from None


def dotted(path: KeyPath) -> str:
    return ".".join(str(p) for p in path)


class TomlChecker:
    """Reads the values of one parsed TOML file, collecting a Diagnostic per problem.

    ``where`` arguments are key paths (``("profiles", "nfsroot")``); the message names
    the table as :meth:`label` writes it and carries the line of the key.
    """

    def __init__(self, shown: str, lines: LineIndex, diags: list[Diagnostic] | None = None) -> None:
        self.shown = shown
        self.lines = lines
        self.diags: list[Diagnostic] = [] if diags is None else diags

    def label(self, where: KeyPath) -> str:
        """How messages name the table at ``where``."""
        return f"[{dotted(where)}]" if where else "the top level"

    def error(self, where: KeyPath, message: str, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(self.shown, self.lines.line(where), "error", message, hint))

    def known_keys(self, data: Any, where: KeyPath, allowed: Collection[str]) -> bool:
        """True when ``data`` is a table of allowed keys only; reports each unknown key
        with the closest allowed one (a typo must not be ignored)."""
        if not isinstance(data, dict):
            self.error(where, f"{self.label(where)} must be a table")
            return False
        ok = True
        for key in data:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                self.error(where + (key,), f"unknown key {key!r} in {self.label(where)}",
                           f"did you mean {close[0]!r}?" if close
                           else f"allowed keys: {', '.join(sorted(allowed))}")
                ok = False
        return ok

    def table(self, data: Any, where: KeyPath, allowed: Collection[str]) -> dict[str, Any]:
        """``data`` checked by :meth:`known_keys`; an empty table when it is not one."""
        self.known_keys(data, where, allowed)
        return data if isinstance(data, dict) else {}

    def string(self, data: dict[str, Any], key: str, where: KeyPath, default: str | None = None,
               required: bool = False, choices: tuple[str, ...] | None = None,
               nonempty: bool = False) -> str | None:
        """The string at ``key`` (``default`` when absent or bad). ``nonempty`` also
        refuses blank and multi-line values."""
        if key not in data:
            if required:
                self.error(where, f"{self.label(where)} is missing {key!r}",
                           f"add {key} = \"...\" to {self.label(where)}")
            return default
        value = data[key]
        if not isinstance(value, str):
            self.error(where + (key,), f"{key} must be a string, not {type(value).__name__}")
            return default
        if value == "" and (required or default):
            # a value is required (or the key has a non-empty default): "" is a mistake,
            # never silently the default
            self.error(where + (key,), f"{key} is empty",
                       f"give {key} a value" + ("" if required else ", or remove the key for the default"))
            return default
        if nonempty and not value.strip():
            self.error(where + (key,), f"{key} must be a non-empty string")
            return default
        if nonempty and "\n" in value:
            self.error(where + (key,), f"{key} must be one line")
            return default
        if choices is not None and value not in choices:
            self.error(where + (key,), f"{key} = {value!r} is not one of {', '.join(choices)}")
            return default
        return value

    def strings(self, data: dict[str, Any], key: str, where: KeyPath,
                default: tuple[str, ...] = ()) -> tuple[str, ...]:
        if key not in data:
            return default
        value = data[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error(where + (key,), f"{key} must be a list of strings")
            return default
        return tuple(value)

    def integer(self, data: dict[str, Any], key: str, where: KeyPath, default: int,
                minimum: int = 0) -> int:
        if key not in data:
            return default
        value = data[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            self.error(where + (key,), f"{key} must be an integer >= {minimum}")
            return default
        return value
