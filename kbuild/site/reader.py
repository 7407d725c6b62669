"""What the readers of kbuild.toml's tables share: the checker and the name rules."""
from __future__ import annotations

import ipaddress
import re
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
