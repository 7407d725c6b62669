"""What the hosts' short path (delta.py) starts from: the site file as the last publish
read it, each host's row (what the server snippets read of it) and the length of each
host's part of the per-host snippets, kept in ``<target>/.kbuild/`` and named in the
quick record by its digest. A cache: written without fsync, and not used unless its
digest and its copy of the site file's digest match."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kbuild.publish.manifest import store_dir
from kbuild.site.model import HostRow, Site
from kbuild.util.files import atomic_write_bytes

STATE_NAME = "hosts.json"
SITE_COPY = "hosts-site.toml"      # the site file as the last publish read it
STATE_FORMAT = 1
_TABLE = "[[hosts]]"
_HEADER = re.compile(r"^\[\[hosts\]\][ \t]*$", re.MULTILINE)
_REST_OF_HEADER = re.compile(r"[ \t]*(?:\n|\Z)")
_INDENTED_TABLE = re.compile(r"\n[ \t]+\[")


def split_site(text: str) -> tuple[str, list[str]] | None:
    """``(head, tables)``: the text before the first ``[[hosts]]`` line, and each host
    table's text after its header (``[[hosts]]`` and up to the newline before the next
    one); None when the tables cannot be told apart by their header lines (a multi-line
    string, another table or a line starting with ``[`` after them, a header with more
    on its line)."""
    if '"""' in text or "'''" in text:
        return None
    first = _HEADER.search(text)
    if first is None:
        return None
    tail = text[first.start() + len(_TABLE):]
    tables = tail.split("\n" + _TABLE)
    if tail.count("\n[") != len(tables) - 1 or _INDENTED_TABLE.search(tail) is not None:
        return None
    # each table starts with the rest of its header line: a newline, mostly
    if tail.count(f"\n{_TABLE}\n") + tables[0].startswith("\n") != len(tables) - 1 + 1:
        rest = _REST_OF_HEADER.match
        if not all(rest(t) for t in tables):
            return None
    return text[:first.start()], tables


@dataclass
class Changed:
    """Where two site texts differ, in whole host tables: both are ``head``, then
    ``first`` tables alike, then ``old`` (``new``), then the same tables to the end;
    ``count_old``: the old text's number of tables. Tables as split_site gives them."""

    head: str
    first: int
    old: list[str]
    new: list[str]
    count_old: int


def changed_tables(old: str, new: str) -> Changed | None:
    """The host tables ``new`` changed from ``old`` (both valid site texts), found by
    comparing the texts from both ends, without splitting them into 50,000 tables; None
    unless both hold only host tables after their head, each with a plain ``[[hosts]]``
    line, and they differ only after the head."""
    # the old text passed _plain_tables when it was kept (save_state)
    first = _plain_tables(new)
    if first is None or not old.startswith(new[:first] + _TABLE + "\n"):
        return None
    sep = "\n" + _TABLE
    p = _common_prefix(old, new)
    s = _common_suffix(old, new, min(len(old), len(new)) - p)
    # the region starts at the header of the table holding the first difference (the
    # whole header within the common part) and ends at the first header wholly after
    # the last difference
    a = new.rfind(sep, 0, p) + 1
    if a <= first:
        a = first
    end = new.find(sep, len(new) - s)
    b_new = len(new) if end < 0 else end + 1
    b_old = b_new - len(new) + len(old)
    if b_new < a or b_old < a:
        return None
    return Changed(new[:first], new.count(sep, first, a) + 1 if a > first else 0,
                   _region_tables(old, a, b_old), _region_tables(new, a, b_new),
                   old.count(sep, first) + 1)


def _region_tables(text: str, a: int, b: int) -> list[str]:
    if a == b:
        return []
    part = text[a + len(_TABLE):b - 1 if b < len(text) else b]
    return part.split("\n" + _TABLE)


def _plain_tables(text: str) -> int | None:
    """Where the first host table starts, when every table after it is a plain
    ``[[hosts]]`` line and what split_site can cut; else None."""
    if '"""' in text or "'''" in text:
        return None
    m = _HEADER.search(text)
    if m is None or m.start() == 0:
        return None
    at = m.start()
    n = text.count("\n" + _TABLE, at)
    if not text.startswith(_TABLE + "\n", at) or text.count("\n[", at) != n \
            or text.count(f"\n{_TABLE}\n", at) != n \
            or (text.find("\n ", at) >= 0 or text.find("\n\t", at) >= 0) \
            and _INDENTED_TABLE.search(text, at) is not None:
        return None
    return at


def _common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix, compared a block at a time."""
    n = min(len(a), len(b))
    i = 0
    step = 1 << 16
    while i < n:
        j = min(i + step, n)
        if a[i:j] != b[i:j]:
            while j - i > 64:
                m = (i + j) // 2
                if a[i:m] == b[i:m]:
                    i = m
                else:
                    j = m
            while i < j and a[i] == b[i]:
                i += 1
            return i
        i = j
    return n


def _common_suffix(a: str, b: str, limit: int) -> int:
    """The length of the longest common suffix, at most ``limit``."""
    la, lb = len(a), len(b)
    i = 0
    step = 1 << 16
    while i < limit:
        j = min(i + step, limit)
        if a[la - j:la - i] != b[lb - j:lb - i]:
            while j - i > 64:
                m = (i + j) // 2
                if a[la - m:la - i] == b[lb - m:lb - i]:
                    i = m
                else:
                    j = m
            while i < j and a[la - 1 - i] == b[lb - 1 - i]:
                i += 1
            return i
        i = j
    return limit


def join_tables(head: str, tables: Sequence[str]) -> str:
    """The site text of ``head`` and ``tables`` (split_site's parts)."""
    out = head if head.endswith("\n") or not head else head + "\n"
    return out + "".join(f"{_TABLE}{t}\n" for t in tables)


def state_path(target: Path) -> Path:
    return store_dir(target) / STATE_NAME


def _site_copy(target: Path) -> Path:
    return store_dir(target) / SITE_COPY


def save_state(target: Path, site: Site, segments: dict[str, list[str]]) -> str | None:
    """After a full site publish to ``target``: keep what ``publish_short`` starts from
    (``segments``: each per-host snippet's parts, server.Snippets.segments). Returns the
    state's digest for the quick record, or None (no state: the next publish is full)."""
    for path in (state_path(target), _site_copy(target)):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    try:
        data = Path(site.path).read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    # the file must still be the one the site was loaded from
    if site.text_sha256 is None or hashlib.sha256(data).hexdigest() != site.text_sha256:
        return None
    split = split_site(text)
    if split is None or len(split[1]) != len(site.hosts) or _plain_tables(text) is None:
        return None
    columns = [[v or "" for v in col] for col in zip(*[h.row() for h in site.hosts], strict=True)] \
        if site.hosts else [[] for _f in HostRow._fields]
    return write_state(target, data, site.text_sha256, columns,
                        {name: [len(s) for s in segs] for name, segs in segments.items()})


Columns = list[list[str]]     # each HostRow field of every host, "" for None


def write_state(target: Path, data: bytes, sha: str, columns: Columns,
                lengths: dict[str, list[int]]) -> str | None:
    """Keep the state (``columns``: the hosts' rows by field, "" for None: no field that may
    be None is ever empty); its digest, or None when a value cannot be kept (a NUL)."""
    count = len(columns[0])
    joined = {f: "\0".join(col) for f, col in zip(HostRow._fields, columns, strict=True)}
    if any(c.count("\0") != max(count - 1, 0) for c in joined.values()):
        return None
    # a cache checked by its digest: not synced (torn after a power cut, it is not used);
    # owner-only: the tree is served by TFTP, and the site file lists every host
    atomic_write_bytes(_site_copy(target), data, 0o600, sync=False)
    doc = {"format": STATE_FORMAT, "site_sha256": sha, "count": count, "columns": joined,
           "segments": lengths}
    raw = json.dumps(doc, separators=(",", ":")).encode()
    atomic_write_bytes(state_path(target), raw, 0o600, sync=False)
    return hashlib.sha256(raw).hexdigest()


def load_state(target: Path, digest: str) -> tuple[str, Columns, dict[str, list[int]]] | None:
    """The site text, the hosts' columns and the snippet parts' lengths of the last publish."""
    try:
        raw = state_path(target).read_bytes()
        data = _site_copy(target).read_bytes()
    except OSError:
        return None
    if hashlib.sha256(raw).hexdigest() != digest:
        return None
    try:
        doc = json.loads(raw)
        text = data.decode("utf-8")
    except (ValueError, RecursionError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT \
            or doc.get("site_sha256") != hashlib.sha256(data).hexdigest() \
            or not isinstance(doc.get("columns"), dict) or not isinstance(doc.get("segments"), dict) \
            or type(doc.get("count")) is not int:
        return None
    n = doc["count"]
    joined = [doc["columns"].get(f) for f in HostRow._fields]
    if not all(isinstance(c, str) for c in joined):
        return None
    columns = [c.split("\0") if n else [] for c in joined]
    if any(len(c) != n for c in columns):
        return None
    segments = doc["segments"]
    if not all(isinstance(v, list) and len(v) == n and set(map(type, v)) <= {int}
               for v in segments.values()):
        return None
    return text, columns, segments
