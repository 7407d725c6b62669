"""What the readers of kbuild.toml's tables share: the checker and the name rules."""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kbuild.site.lock import LockEntry
from kbuild.util.toml import KeyLines, KeyPath, TomlChecker

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")       # sources, profiles, hosts
SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


class SiteChecker(TomlChecker):
    """The TOML checker plus what kbuild.toml's tables need: the site file and its lock."""

    def __init__(self, path: Path, lines: KeyLines, lock: dict[str, LockEntry]) -> None:
        super().__init__(path.name, lines)
        self.path = path
        self.lock = lock


def ipv4(text: str) -> bool:
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
            c.error(where, f"{what} name {name!r}: use letters, digits, '.', '_' and '-'")
        yield name, body, where
