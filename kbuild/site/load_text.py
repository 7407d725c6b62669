"""kbuild.toml as data, fast for sites with many hosts.

A site of 50,000 hosts is 250,000 lines, nearly all of them ``[[hosts]]`` tables of
``key = "string"`` and ``key = ["string", ...]`` lines. Python's ``tomllib`` and the
line scan of :class:`~kbuild.util.toml.KeyLines` each take about 2 s over such a file.
:func:`parse_site_text` parses everything before the first ``[[hosts]]`` header with
``tomllib`` and reads the host tables that follow with one regular expression per
line, recording each header's line number as it goes. It takes that path only when
the result is certain to equal ``tomllib``'s: the host tables hold nothing but bare
keys, basic or literal strings without escapes, arrays of them, blank lines and
comments; no key repeats within a table; nothing else follows them; the file has no
multi-line string. Anything else (and every invalid file) goes through ``tomllib``
and ``KeyLines`` whole, so error messages and their line numbers do not change.
"""
from __future__ import annotations

import re
from typing import Any

from kbuild.util.toml import KeyLines, KeyPath, LazyKeyLines, LineIndex

_HEADER = re.compile(r"^\[\[hosts\]\][ \t]*$", re.MULTILINE)
# A TOML basic string without escapes, or a literal string; no control character but tab.
_STR = r'"[^"\\\x00-\x08\x0a-\x1f\x7f]*"|\'[^\'\x00-\x08\x0a-\x1f\x7f]*\''
_VALUE = re.compile(
    rf'[ \t]*([A-Za-z0-9_-]+)[ \t]*=[ \t]*(?:({_STR})|\[[ \t]*((?:{_STR})(?:[ \t]*,[ \t]*(?:{_STR}))*)?'
    rf'[ \t]*,?[ \t]*\])[ \t]*(?:#[^\x00-\x08\x0a-\x1f\x7f]*)?\Z')
_ITEM = re.compile(_STR)
_SKIP = re.compile(r"[ \t]*(?:#[^\x00-\x08\x0a-\x1f\x7f]*)?\Z")


class SiteLines:
    """Line numbers for a site read by the fast path: the part before the hosts is
    scanned by KeyLines, each host table's header line was recorded while reading;
    anything else (a key inside a host, asked only to place an error) scans the whole
    file on first use."""

    def __init__(self, text: str, head: str, headers: list[int]) -> None:
        self._head = KeyLines(head)
        self._headers = headers
        self._full = LazyKeyLines(text)

    def line(self, path: KeyPath) -> int | None:
        if path and path[0] == "hosts":
            if len(path) == 1:
                return self._headers[0]
            i = path[1]
            if len(path) == 2 and isinstance(i, int) and 0 <= i < len(self._headers):
                return self._headers[i]
            return self._full.line(path)
        return self._head.line(path)


def parse_site_text(text: str) -> tuple[dict[str, Any], LineIndex] | None:
    """``(data, lines)`` for a site whose hosts the fast path can read exactly, else None
    (the caller then parses the whole file with tomllib)."""
    import tomllib

    first = _HEADER.search(text)
    if first is None or '"""' in text or "'''" in text:
        return None
    head = text[:first.start()]
    try:
        data = tomllib.loads(head)
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        return None
    if "hosts" in data:
        return None
    head_lines = head.count("\n")
    hosts: list[dict[str, Any]] = []
    headers: list[int] = []
    current: dict[str, Any] = {}
    match, skip, header = _VALUE.match, _SKIP.match, _HEADER.match
    for n, line in enumerate(text[first.start():].split("\n"), head_lines + 1):
        m = match(line)
        if m is not None:
            key, single, items = m.groups()
            if key in current:
                return None          # tomllib reports the repeated key
            if single is not None:
                current[key] = single[1:-1]
            else:
                current[key] = [s[1:-1] for s in _ITEM.findall(items)] if items else []
        elif header(line):
            current = {}
            hosts.append(current)
            headers.append(n)
        elif skip(line) is None:
            return None
    data["hosts"] = hosts
    return data, SiteLines(text, head, headers)
