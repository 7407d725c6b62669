"""``kbuild.lock``: the exact resolution of every ``deb`` source, committed with the site.

kbuild.toml says what a site accepts (``package = "linux-source-6.1"``, ``upstream =
"6.1.*"``); kbuild.lock says what it got: the Debian version, the .deb's sha256 from
the signed index, and the sha256 of the file taken out of it. Builds use the locked
version while the index offers it. kbuild writes this file (atomically); people
review and commit it.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from kbuild.errors import Diagnostic, InputErrors
from kbuild.util.files import atomic_write_text
from kbuild.util.toml import KeyLines, TomlChecker, load_toml

LOCK_FILE = "kbuild.lock"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+~:_/-]{0,255}")


class LockError(InputErrors):
    """kbuild.lock is unreadable or holds a malformed entry."""


@dataclass(frozen=True)
class LockEntry:
    """One locked deb source: which package version, and the digests that identify it."""

    package: str
    version: str            # Debian version, e.g. 6.1.192-3
    upstream: str           # upstream (kernel) version, e.g. 6.1.192
    architecture: str
    deb: str                # archive path of the .deb (pool/...)
    deb_size: int
    deb_sha256: str         # from the signed index
    file: str               # the file taken out of the package (its path inside it)
    sha256: str             # sha256 of that file

    @property
    def filename(self) -> str:
        return self.file.rsplit("/", 1)[-1]

    def describe(self) -> str:
        return f"{self.package} {self.version} (upstream {self.upstream})"


_FIELDS = {f: t for f, t in LockEntry.__annotations__.items()}


def lock_path(site_path: Path) -> Path:
    return Path(site_path).parent / LOCK_FILE


def read_lock(path: Path) -> dict[str, LockEntry]:
    """The entries of a lock file; an absent file is an empty lock."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as e:
        raise LockError([Diagnostic(path.name, None, "error", f"cannot read: {e}")]) from None
    return parse_lock(text, path)


def parse_lock(text: str, path: Path) -> dict[str, LockEntry]:
    hint = "restore it from version control, or delete it and run: kbuild pin SOURCE --latest"
    data = load_toml(text, path.name, LockError, hint)
    c = TomlChecker(path.name, KeyLines(text))
    out: dict[str, LockEntry] = {}
    sources = data.get("sources", {})
    if set(data) - {"sources"} or not isinstance(sources, dict):
        c.error((), "a lock holds only [sources.NAME] tables", hint)
        raise LockError(c.diags)
    for name, body in sources.items():
        where = ("sources", name)
        if not isinstance(body, dict):
            c.error(where, f"[sources.{name}] must be a table", hint)
            continue
        missing = [f for f in _FIELDS if f not in body]
        unknown = [k for k in body if k not in _FIELDS]
        bad = [k for k, v in body.items() if k in _FIELDS and not _valid(k, v)]
        if missing or unknown or bad:
            what = "; ".join(x for x in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unknown {', '.join(unknown)}" if unknown else "",
                f"malformed {', '.join(bad)}" if bad else "") if x)
            c.error(where, f"lock entry {name!r}: {what}", hint)
            continue
        out[name] = LockEntry(**body)
    if c.diags:
        raise LockError(c.diags)
    return out


def _valid(key: str, value: object) -> bool:
    if key == "deb_size":
        return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 1 << 40
    if not isinstance(value, str):
        return False
    if key in ("deb_sha256", "sha256"):
        return bool(_HEX64.fullmatch(value))
    return bool(_SAFE.fullmatch(value))


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_lock(entries: dict[str, LockEntry]) -> str:
    out = ["# kbuild.lock: the exact version of every deb source in kbuild.toml.",
           "# Written by kbuild (`kbuild pin SOURCE --latest` moves one on purpose);",
           "# review and commit it with the site.", ""]
    for name in sorted(entries):
        out.append(f"[sources.{_quote(name)}]")
        for key, value in asdict(entries[name]).items():
            out.append(f"{key} = {value}" if isinstance(value, int) else f"{key} = {_quote(value)}")
        out.append("")
    return "\n".join(out)


def write_entry(path: Path, name: str, entry: LockEntry) -> None:
    """Replace one entry (others untouched, whole file written atomically)."""
    entries = read_lock(path)
    entries[name] = entry
    atomic_write_text(path, render_lock(entries))
