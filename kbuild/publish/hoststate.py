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
    rest = _REST_OF_HEADER.match
    if not all(rest(t) for t in tables):
        return None
    return text[:first.start()], tables


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
    if split is None or len(split[1]) != len(site.hosts):
        return None
    return write_state(target, data, site.text_sha256, [h.row() for h in site.hosts],
                        {name: [len(s) for s in segs] for name, segs in segments.items()})


def write_state(target: Path, data: bytes, sha: str, rows: Sequence[HostRow],
                 lengths: dict[str, list[int]]) -> str:
    # a cache checked by its digest: not synced (torn after a power cut, it is not used)
    atomic_write_bytes(_site_copy(target), data, sync=False)
    columns = dict(zip(HostRow._fields, map(list, zip(*rows, strict=True)), strict=True)) \
        if rows else {f: [] for f in HostRow._fields}
    doc = {"format": STATE_FORMAT, "site_sha256": sha, "columns": columns, "segments": lengths}
    raw = json.dumps(doc, separators=(",", ":")).encode()
    atomic_write_bytes(state_path(target), raw, sync=False)
    return hashlib.sha256(raw).hexdigest()


def load_state(target: Path, digest: str) -> tuple[str, list[HostRow], dict[str, list[int]]] | None:
    """The site text, the host rows and the snippet parts' lengths of the last publish."""
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
            or not isinstance(doc.get("columns"), dict) or not isinstance(doc.get("segments"), dict):
        return None
    columns = [doc["columns"].get(f) for f in HostRow._fields]
    if not all(isinstance(c, list) for c in columns):
        return None
    n = len(columns[0])
    allowed = {str, type(None)}
    if any(len(c) != n or not set(map(type, c)) <= allowed for c in columns) \
            or not set(map(type, columns[0] + columns[1])) <= {str}:
        return None
    segments = doc["segments"]
    if not all(isinstance(v, list) and len(v) == n and set(map(type, v)) <= {int}
               for v in segments.values()):
        return None
    return text, list(map(HostRow, *columns)), segments
