"""What the readers of kbuild.toml's tables share: the checker and the name rules."""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from kbuild.site.lock import LockEntry
from kbuild.util.toml import KeyPath, LineIndex, TomlChecker

# Full matches (\Z, not $: "$" also matches before a final "\n"), names bounded.
NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")       # sources, profiles, hosts
SHA256 = re.compile(r"\A[0-9a-f]{64}\Z")
MAC = re.compile(r"\A[0-9a-f]{2}(:[0-9a-f]{2}){5}\Z")
_MAX_PATH = 1024


def path_problem(text: str, absolute_ok: bool = False) -> str | None:
    """Why ``text`` is not a usable path in kbuild.toml (None if it is): empty,
    control characters, absolute or with '..' (it must stay inside the site unless
    ``absolute_ok``), or a name too long for the file system."""
    if not text:
        return "is empty"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return "contains a control character"
    p = PurePosixPath(text)
    if not absolute_ok and (p.is_absolute() or ".." in p.parts):
        return "leaves the site directory (give a path relative to it, without '..')"
    if len(text.encode("utf-8", "surrogatepass")) > _MAX_PATH:
        return f"is longer than {_MAX_PATH} bytes"
    if any(len(part.encode("utf-8", "surrogatepass")) > 250 for part in p.parts):
        return "has a name longer than 250 bytes (the file system allows 255)"
    return None


class SiteChecker(TomlChecker):
    """The TOML checker plus what kbuild.toml's tables need: the site file and its lock."""

    def __init__(self, path: Path, lines: LineIndex, lock: dict[str, LockEntry]) -> None:
        super().__init__(path.name, lines)
        self.path = path
        self.lock = lock


# What ipaddress.IPv4Address accepts: four decimal octets 0-255 without leading zeros
# (a regular expression is ten times faster, which counts for 50,000 hosts).
_IPV4 = re.compile(r"\A(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
                   r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\Z")


def ipv4(text: str) -> bool:
    return _IPV4.match(text) is not None


def _ipv4_reference(text: str) -> bool:
    """The definition ``ipv4`` must agree with (tests compare the two)."""
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def split_by_a_dot(c: SiteChecker, where: KeyPath, body: Any) -> bool:
    """[sources.debian-6.1] is TOML for sources -> debian-6 -> 1: say so, with the fix."""
    if isinstance(body, dict) and body and all(isinstance(v, dict) for v in body.values()):
        sub = next(iter(body))
        table, name = where
        c.error(where + (sub,), f"[{table}.{name}] holds only sub-tables: a '.' in a table "
                "name splits it", f'quote the name: [{table}."{name}.{sub}"]')
        return True
    return False


def named_tables(c: SiteChecker, data: Any, table: str, what: str) -> Iterator[tuple[str, Any, KeyPath]]:
    """The ``[TABLE.NAME]`` tables of ``data``: (name, body, key path). Reports a TABLE that
    is not a table of tables, a name a '.' split (skipped) and a name with other characters."""
    if not isinstance(data, dict):
        c.error((table,), f"[{table}] must be a table of tables")
        return
    for name, body in data.items():
        where: KeyPath = (table, name)
        if split_by_a_dot(c, where, body):
            continue
        if not NAME.match(name):
            c.error(where, f"{what} name {_short(name)!r}: use letters, digits, '.', '_' and '-'"
                    + (" (at most 64)" if len(name) > 64 else ""))
        yield name, body, where


def _short(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
