"""Publish a site whose only change since its last publish is in some ``[[hosts]]`` tables.

A full publish of 50,000 hosts loads every host, renders every host's files, compares
every file with the tree, rebuilds the server snippets and reads the whole manifest:
seconds, for one edited host. After each site publish, hoststate.save_state keeps in
``<target>/.kbuild/`` the site file as read, each host's row (what the server snippets
read of it) and the length of each host's part of the per-host snippets; the quick
record (quick.py) names that state by its digest. ``publish_short`` (after the no-op
answer) then takes a short path when all of this holds, else it returns None and the
caller publishes in full (which also reports any problem with its proper line):

* the quick record holds for everything but the site file: the same kbuild, the same
  inputs (build records, loaders, snippet files), the live manifest it recorded (format
  2, nothing pending), and every published file still as recorded (one lstat each);
* the part of the site file before its first ``[[hosts]]`` is unchanged, every host
  table starts at a plain ``[[hosts]]`` line, nothing else follows them and there is no
  multi-line string: then the old and new text, compared from both ends, differ in a
  run of whole tables (hoststate.changed_tables), and only those are split and matched;
* at most MAX_CHANGED tables were added, edited or removed there (moved ones are kept),
  and those parse and validate on their own (the part before the hosts plus them), with
  no name, MAC or IP another host keeps;
* the changed hosts' files need no new directory, are not taken by another file, and
  the manifest keeps its number of shards.

It then renders only the changed hosts (and the removed ones, to know their files),
writes their files and removes the removed ones' through the same pending-manifest
protocol as apply.py (pending manifest first; entry files written to a temporary name,
fsynced, renamed; removals; only then the shards of the buckets that changed, the
generation and the live manifest), puts the server snippets together from the kept
hosts' parts and the new ones', and writes the state and the quick record again.
Generations and shards no longer kept are removed as apply.py's garbage collection
would; content-store objects only they used stay until the next full publish that
makes a generation, whose collection removes every object no kept generation names.
The result equals the full publish's, file for file, entry for entry, snippet for
snippet (tests/publish/test_delta.py), but for the stamps of files the last publish
wrote too recently to trust (the full publish records them once they are old enough;
these stay unstamped and are read instead).
"""
from __future__ import annotations

import bisect
import contextlib
import errno
import hashlib
import itertools
import json
import os
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbuild.errors import UserError
from kbuild.publish import hoststate, quick
from kbuild.publish.manifest import (
    FORMAT,
    MANIFEST_NAME,
    SHARDS,
    _read_shard,
    bucket_of,
    generations,
    keep_generations,
    now,
    render_compact,
    render_manifest,
    render_shard,
    shard_bits,
    stamp,
    store_dir,
    sweep_shards,
)
from kbuild.publish.oserrors import os_errors
from kbuild.publish.plan import PublishReport, TreeFile, Want
from kbuild.publish.safetree import SafeTree
from kbuild.publish.writes import fsync_dir, open_dir, replace_file, sync_dirs, write_manifest, write_shards
from kbuild.site.model import HostRow, Site
from kbuild.util.files import exclusive_lock

# More changed tables than this: the full publish (it does not depend on how many changed)
MAX_CHANGED = 256
_RACY_NS = 100_000_000
_RACY_COARSE_NS = 2_000_000_000

Verify = Callable[[Site, list[str]], None]


@dataclass
class _Plan:
    """Everything the short path changes, decided before the first change."""

    site: Site                                  # the head plus the added and edited tables
    data: bytes                                 # the site file as read
    rows: list[HostRow]                         # every host, in file order ("" for None)
    columns: hoststate.Columns                  # the same by field
    segments: dict[str, list[str]]              # the per-host snippets' parts, joined by newlines
    lengths: dict[str, list[int]]               # the length of each host's part
    top: dict[str, Any]                         # the live manifest (format 2, no files)
    parts: dict[str, tuple[dict[str, Any], dict[str, Any] | None]]   # affected buckets
    writes: list[Want]
    removes: list[str]
    added: list[str]                            # paths new to the tree
    stamped: bool                               # the manifest records stamps


def publish_short(site_path: Path, target: Path | None, *, need_verified: bool = False,
                  verify: Verify | None = None) -> tuple[PublishReport, list[str]] | None:
    """Publish the site at ``site_path`` to ``target`` (default: its tftp_root) without
    loading the whole site: the report and warnings when nothing changed since the last
    publish (quick.py) or only some hosts did (this module's docstring); None when the
    caller must publish in full. ``need_verified``: the last publish verified its
    profiles; ``verify``: called with the site of the changed hosts and the names of
    their profiles before anything changes (kbuild publish verifies their entries against
    each profile's .config; it raises to refuse)."""
    from kbuild.site.load import tftp_root_at_sight

    site_path = Path(site_path)
    dest = Path(target) if target else tftp_root_at_sight(site_path)
    if dest is None:
        return None
    doc = quick.read_record(site_path, dest, need_verified=need_verified)
    if doc is None:
        return None
    with os_errors(dest), exclusive_lock(store_dir(dest) / "lock", f"publishing to {dest}"):
        with SafeTree.open(dest) as tree:
            stamps: list[array[int]] = []
            stale = quick.stale_inputs(doc, dest, tree, stamps)
            if stale == []:
                try:
                    return quick.unchanged_report(doc, dest)
                except (KeyError, TypeError, ValueError, AttributeError):
                    return None
            if not stale or not isinstance(doc.get("hosts"), str) \
                    or any(Path(p).resolve() != site_path.resolve() for p in stale):
                return None
            try:
                plan = _plan(site_path, dest, doc, tree, verify)
            except (KeyError, TypeError, ValueError, IndexError, AttributeError):
                return None         # a record or state this kbuild does not understand
            if plan is None:
                return None
            fresh: dict[str, os.stat_result] = {}
            report = _apply(plan, dest, tree, fresh)
        warnings = _finish(plan, dest, site_path, doc, report, stamps, fresh, verify is not None)
    return report, warnings


def _plan(site_path: Path, dest: Path, doc: dict[str, Any], tree: SafeTree,
          verify: Verify | None) -> _Plan | None:
    from kbuild.site.load import MAX_SITE_BYTES

    state = hoststate.load_state(dest, doc["hosts"])
    if state is None:
        return None
    old_text, columns, lengths = state
    try:
        with open(site_path, "rb") as f:
            data = f.read(MAX_SITE_BYTES + 1)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if len(data) > MAX_SITE_BYTES:
        return None
    changed = hoststate.changed_tables(old_text, text)
    if changed is None or len(columns[0]) != changed.count_old:
        return None
    region = _kept(changed.old, changed.new)
    if region is None:
        return None                 # a table twice: the full load reports the duplicate
    at = changed.first
    after = changed.count_old - at - len(changed.old)
    kept = [*range(at), *(None if i is None else at + i for i in region),
            *range(changed.count_old - after, changed.count_old)]
    added = [j for j, i in enumerate(region) if i is None]
    gone = sorted(set(range(len(changed.old))) - {i for i in region if i is not None})
    if len(added) + len(gone) > MAX_CHANGED:
        return None
    head = changed.head
    new_site = _part_site(hoststate.join_tables(head, [changed.new[j] for j in added]), site_path)
    old_site = _part_site(hoststate.join_tables(head, [changed.old[i] for i in gone]), site_path)
    gone = [at + i for i in gone]
    if new_site is None or old_site is None or len(new_site.hosts) != len(added) \
            or len(old_site.hosts) != len(gone):
        return None
    if _taken(columns, gone, new_site):
        return None                 # the full load names both hosts and their lines
    if verify is not None and new_site.hosts:
        verify(new_site, sorted({h.profile for h in new_site.hosts}))

    new_files = _host_files(new_site, dest)
    old_files = _host_files(old_site, dest)
    if new_files is None or old_files is None:
        return None
    top = _live_top(dest)
    if top is None:
        return None
    bits = top["shard_bits"]
    count = sum(len(ns) for _d, ns in quick.record_dirs(doc))
    gone_rels = sorted(old_files.keys() - new_files.keys())
    new_rels = sorted(new_files.keys() - old_files.keys())
    if shard_bits(count + len(new_rels) - len(gone_rels), bits) != bits:
        return None
    parts: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {}
    sdir = store_dir(dest) / SHARDS
    for key in sorted({bucket_of(r, bits) for r in [*new_files, *old_files]}):
        digest = top["shards"].get(key)
        if digest is None:
            parts[key] = ({}, None)
            continue
        try:
            parts[key] = _read_shard(sdir / f"{digest}.json", digest, _bad)
        except UserError:
            return None             # the full publish reports the shard
    live: dict[str, Any] = {}
    for files, _stamps in parts.values():
        live.update(files)
    if any(r not in live or live[r].get("role") != "entry" for r in old_files):
        return None
    writes: list[Want] = []
    for rel in sorted(new_files):
        w = Want.from_tree_file(new_files[rel])
        if rel not in old_files:
            try:
                if rel in live or tree.lstat(w.parts) is not None or tree.dir_fd(w.parts[:-1]) is None:
                    return None     # another's file, a foreign one, or a new directory
            except UserError:
                return None
        w.digest()
        if live.get(rel) != w.entry():
            writes.append(w)
    stamped = any(s is not None for _f, s in parts.values())
    runs = _runs(kept)
    new_columns = _columns(kept, runs, columns, new_site)
    spliced = _segments(new_site, lengths, kept, runs)
    if spliced is None:
        return None
    return _Plan(new_site, data, list(map(HostRow, *new_columns)), new_columns, spliced[0],
                 spliced[1], top, parts, writes, gone_rels, new_rels, stamped)


def _kept(old: list[str], new: list[str]) -> list[int | None] | None:
    """For each new table, the position of the same old one (None: added or edited); None
    when a table is there twice. Tables in the same place are found first, one by one,
    from both ends: an edit, an append or a removal hashes only what lies between."""
    n_old, n_new = len(old), len(new)
    lim = min(n_old, n_new)
    p = 0
    while p < lim and old[p] == new[p]:
        p += 1
    q = 0
    while q < lim - p and old[n_old - 1 - q] == new[n_new - 1 - q]:
        q += 1
    if n_old == n_new:
        # as many tables: those that differ in place (two hosts edited far apart leave
        # every table between them where it was) are matched among themselves
        differ = [i for i in range(p, n_old - q) if old[i] != new[i]]
        index = {old[i]: i for i in differ}
        out: list[int | None] = list(range(n_old))
        for i in differ:
            out[i] = index.get(new[i])
        found = [out[i] for i in differ if out[i] is not None]
        return out if len(set(found)) == len(found) else None
    index = {old[i]: i for i in range(p, n_old - q)}
    middle = [index.get(new[j]) for j in range(p, n_new - q)]
    found = [i for i in middle if i is not None]
    if len(set(found)) != len(found):
        return None
    return [*range(p), *middle, *range(n_old - q, n_old)]


def _taken(columns: hoststate.Columns, gone: list[int], site: Site) -> bool:
    """Whether a host of ``site`` has a name, MAC or IP of a host that stays."""
    gone_set = set(gone)
    for field, values in ((0, [h.name for h in site.hosts]), (2, [h.mac for h in site.hosts]),
                          (3, [h.ip for h in site.hosts])):
        column = columns[field]
        wanted = [v for v in values if v]
        if len(wanted) <= 8:        # a few: count them in the column (in C), hash nothing
            if any(column.count(v) > sum(1 for i in gone if column[i] == v) for v in wanted):
                return True
            continue
        staying = set(column) if not gone else {v for i, v in enumerate(column) if i not in gone_set}
        if any(v in staying for v in wanted):
            return True
    return False


def _bad(why: str) -> UserError:
    return UserError(f"is not a kbuild manifest: {why}")


def _part_site(text: str, site_path: Path) -> Site | None:
    """The site of ``text`` (a part of the file at ``site_path``), or None if not valid."""
    from kbuild.site.load import parse_site

    try:
        return parse_site(text, site_path)
    except UserError:
        return None


def _host_files(site: Site, dest: Path) -> dict[str, TreeFile] | None:
    """The files of the site's hosts, as the full publish renders them."""
    from kbuild.publish.stage import plan_tree

    try:
        files = plan_tree(site, dest).files
    except UserError:
        return None
    return {f.relpath: f for f in files if f.role == "entry" and "host" in f.meta}


def _live_top(dest: Path) -> dict[str, Any] | None:
    """The live manifest's own document (its files stay in their shards): format 2 and
    nothing pending, else None."""
    try:
        top = json.loads((dest / MANIFEST_NAME).read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(top, dict) or top.get("format") != FORMAT or "pending" in top \
            or type(top.get("generation")) is not int or type(top.get("shard_bits")) is not int \
            or not isinstance(top.get("shards"), dict) or not isinstance(top.get("dirs"), list):
        return None
    return top


def _runs(kept: list[int | None]) -> list[tuple[int, int]]:
    """Runs of positions (first, last): kept hosts still in their order, or one new host."""
    cuts = [j for j, (a, b) in enumerate(zip(kept, kept[1:], strict=False), 1)
            if a is None or b is None or b != a + 1]
    return list(zip([0, *cuts], [c - 1 for c in cuts] + [len(kept) - 1], strict=True)) \
        if kept else []


def _columns(kept: list[int | None], runs: list[tuple[int, int]], columns: hoststate.Columns,
             site: Site) -> hoststate.Columns:
    """The hosts' columns after the change: runs of kept hosts sliced from the old ones,
    the added hosts' rows put in between."""
    added = iter(site.hosts)
    out: hoststate.Columns = [[] for _c in columns]
    for j, k in runs:
        i = kept[j]
        if i is None:
            for col, v in zip(out, next(added).row(), strict=True):
                col.append(v or "")
        else:
            for col, old in zip(out, columns, strict=True):
                col += old[i:i + k - j + 1]
    return out


def _segments(site: Site, lengths: dict[str, list[int]], kept: list[int | None],
              runs: list[tuple[int, int]]) -> tuple[dict[str, list[str]], dict[str, list[int]]] | None:
    """The per-host snippets' parts and each host's part's length after the change: each
    run of kept hosts is one cut of the file the last publish wrote (unchanged since: it
    is an input of the quick record), the other hosts' parts are made now."""
    from kbuild.boot import server
    from kbuild.site import layout

    if set(lengths) != set(server.PER_HOST):
        return None
    made = server.host_segments(site, [h.row() for h in site.hosts])
    pieces: dict[str, list[str]] = {}
    sizes: dict[str, list[int]] = {}
    for name in server.PER_HOST:
        try:
            text = (layout.server_dir(site) / name).read_text()
        except (OSError, UnicodeDecodeError):
            return None
        old = lengths[name]
        # the file is "header\npart\n...part\n": the parts are at its end
        body = len(text) - sum(old) - len(old)
        if body < 1 or not text.endswith("\n") or text[body - 1] != "\n":
            return None
        starts = list(itertools.accumulate((n + 1 for n in old), initial=body))
        out: list[str] = []
        size: list[int] = []
        fresh = iter(made[name])
        for j, k in runs:
            i = kept[j]
            if i is None:
                part = next(fresh)
                out.append(part)
                size.append(len(part))
                continue
            last = i + k - j
            end = starts[last] + old[last]
            if text[end] != "\n":
                return None
            out.append(text[starts[i]:end])
            size += old[i:last + 1]
        pieces[name] = out
        sizes[name] = size
    return pieces, sizes


def _apply(plan: _Plan, dest: Path, tree: SafeTree, fresh: dict[str, os.stat_result]) -> PublishReport:
    """Make the planned change, as apply.py's ordered, pending-first path does (``fresh``:
    given each written file's lstat)."""
    top = plan.top
    live_gen = top["generation"]
    report = PublishReport(dest, live_gen, [], [], [], False, previous_generation=live_gen)
    if not plan.writes and not plan.removes:
        return _stamped(report, dest)
    gen = max([live_gen, *generations(dest)]) + 1
    pending = dict(top)
    pending["pending"] = {
        "generation": gen, "started": now(),
        "write": {w.relpath: {"sha256": w.sha, "role": w.role} for w in plan.writes},
        "remove": {rel: "entry" for rel in plan.removes}, "dirs": []}
    write_manifest(dest / MANIFEST_NAME, render_compact(pending), tree)

    with open_dir(store_dir(dest) / "objects") as objects_fd:
        tree.objects_fd = objects_fd
        for w in plan.writes:       # a few entries: each synced before its rename
            replace_file(tree, w, dest, True)
        sync_dirs(tree, {w.parts[:-1] for w in plan.writes})
        owned = set(top["dirs"])
        touched: set[tuple[str, ...]] = set()
        for rel in plan.removes:
            parts = tuple(rel.split("/"))
            fd = tree.dir_fd(parts[:-1])
            if fd is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(parts[-1], dir_fd=fd)
                touched.add(parts[:-1])
        # owned directories left empty go, as apply.py's remove_unwanted does
        empty = {"/".join(rel.split("/")[:i])
                 for rel in plan.removes for i in range(1, rel.count("/") + 1)} & owned
        for d in sorted(empty, key=lambda d: (-d.count("/"), d)):
            parts = tuple(d.split("/"))
            fd = tree.dir_fd(parts[:-1])
            if fd is None:
                continue
            try:
                os.rmdir(parts[-1], dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    continue
                raise
            tree.forget(parts)
            owned.discard(d)
            touched.add(parts[:-1])
        sync_dirs(tree, touched)
        os.fsync(objects_fd)

    taken = time.time_ns()
    stamps: dict[str, str] = {}
    for w in plan.writes:
        st = tree.lstat(w.parts)
        assert st is not None
        fresh[w.relpath] = st
        window = _RACY_COARSE_NS if st.st_ctime_ns % 1_000_000 == 0 else _RACY_NS
        if st.st_ctime_ns + window < taken:
            stamps[w.relpath] = stamp(st)

    bits = top["shard_bits"]
    shards = dict(top["shards"])
    new: dict[str, bytes] = {}
    sdir = store_dir(dest) / SHARDS
    by_key: dict[str, list[str]] = {}
    for rel in [*plan.removes, *(w.relpath for w in plan.writes)]:
        by_key.setdefault(bucket_of(rel, bits), []).append(rel)
    entries = {w.relpath: w.entry() for w in plan.writes}
    for key, rels in by_key.items():
        old_files, old_stamps = plan.parts[key]
        files = dict(old_files)
        sb: dict[str, Any] | None = None
        if old_stamps is not None or (not old_files and plan.stamped):
            sb = dict(old_stamps or {})
        for rel in rels:
            if rel in entries:
                files[rel] = entries[rel]
            else:
                files.pop(rel, None)
            if sb is not None:
                sb.pop(rel, None)
                if rel in stamps:
                    sb[rel] = stamps[rel]
        if not files:
            shards.pop(key, None)
            continue
        raw = render_shard(files, sb)
        digest = hashlib.sha256(raw).hexdigest()
        if not (sdir / f"{digest}.json").is_file():
            new[digest] = raw
        shards[key] = digest
    write_shards(sdir, new)
    doc: dict[str, Any] = {"format": FORMAT, "generation": gen,
                           "previous": live_gen if live_gen > 0 else None, "created": now(),
                           "keep": plan.site.keep_generations, "dirs": sorted(owned),
                           "shard_bits": bits, "shards": dict(sorted(shards.items()))}
    text = render_manifest(doc)
    gdir = store_dir(dest) / "generations"
    write_manifest(gdir / f"{gen}.json", text, None)
    fsync_dir(gdir)
    write_manifest(dest / MANIFEST_NAME, text, tree)
    _collect(dest, doc, plan.site.keep_generations)
    report = PublishReport(dest, gen, [w.relpath for w in plan.writes], [], list(plan.removes),
                           False, previous_generation=live_gen)
    return _stamped(report, dest)


def _stamped(report: PublishReport, dest: Path) -> PublishReport:
    with contextlib.suppress(FileNotFoundError):
        report.manifest_stamp = stamp(os.stat(dest / MANIFEST_NAME))
    return report


class _Unreadable(Exception):
    pass


def _collect(dest: Path, doc: dict[str, Any], keep: int) -> None:
    """Remove the generations and shards apply.py's collection would; leave objects to
    the next full publish (finding the unused ones means reading every kept shard)."""
    def top_only(path: Path, _generation: int) -> dict[str, Any]:
        try:
            pdoc = json.loads(path.read_bytes())
        except (OSError, ValueError, RecursionError):
            raise _Unreadable from None
        if not isinstance(pdoc, dict):
            raise _Unreadable
        return pdoc

    try:
        chain = keep_generations(dest, doc, keep, top_only)
    except _Unreadable:
        return                      # the next full publish collects (and reports) it
    used: set[str] = set()
    for d in chain.values():
        shards = d.get("shards")
        if isinstance(shards, dict):
            used.update(v for v in shards.values() if isinstance(v, str))
    sweep_shards(dest, used)


def _finish(plan: _Plan, dest: Path, site_path: Path, doc: dict[str, Any], report: PublishReport,
            stamps: list[array[int]], fresh: dict[str, os.stat_result], verified: bool) -> list[str]:
    """Write the server snippets, the hosts state and the quick record; the warnings.
    ``stamps``: the published files' stamps as the check found them (quick._tree_stamps),
    ``fresh``: the lstat of each file written since."""
    from kbuild.boot import server
    from kbuild.publish.stage import built_profiles, not_built
    from kbuild.site import layout
    from kbuild.util.files import write_text_if_changed

    site = plan.site
    snip = server.snippets(site, plan.rows, plan.segments)
    for name, text in snip.files.items():
        write_text_if_changed(layout.server_dir(site) / name, text)
    built = {b.profile.name for b in built_profiles(site)}
    warnings = [not_built(r.name, r.profile) for r in plan.rows if r.profile not in built]
    warnings += snip.warnings
    digest = hoststate.write_state(dest, plan.data, hashlib.sha256(plan.data).hexdigest(),
                                   plan.columns, plan.lengths)
    listed, stamp_digest = _changed_stamps(doc, stamps, plan.removes, fresh)
    names = quick.record_names(listed)
    changed = {*report.written, *report.removed}
    report.unchanged = [n for n in names if n not in changed] if changed else names
    # the files that may be too recent to trust by stamp: those the last record found so,
    # and the ones written now (with no array of stamps kept, every file is taken again)
    recent = [r for r in doc["racy"] if r not in changed] + list(report.written)
    quick.record_locked(dest, site_path, list(doc["inputs"]), recent if stamp_digest else names,
                        report, bool(doc.get("verified")) and verified, warnings, hosts=digest,
                        done=(listed, stamp_digest) if stamp_digest else None)
    return warnings


def _changed_stamps(doc: dict[str, Any], stamps: list[array[int]], removes: list[str],
                    fresh: dict[str, os.stat_result]) -> tuple[list[tuple[str, list[str]]], str]:
    """The record's files by directory after the change, and the digest of their stamps:
    the check's array with the slots of the removed files taken out and those of the
    written ones put in (an empty digest when the check kept no array)."""
    dirs = {d: list(ns) for d, ns in quick.record_dirs(doc)}
    if not stamps:
        for rel in removes:
            d, _, n = rel.rpartition("/")
            dirs[d].remove(n)
        for rel in fresh:
            d, _, n = rel.rpartition("/")
            if n not in dirs.setdefault(d, []):
                bisect.insort(dirs[d], n)
        return sorted((d, ns) for d, ns in dirs.items() if ns), ""
    ints = stamps[0]
    width = quick.STAMP_FIELDS

    def slot(d: str, n: str) -> tuple[int, bool]:
        names = dirs[d]
        i = bisect.bisect_left(names, n)
        return sum(len(dirs[x]) for x in dirs if x < d) + i, i < len(names) and names[i] == n

    for rel in removes:
        d, _, n = rel.rpartition("/")
        at, found = slot(d, n)
        assert found, rel
        del ints[at * width:(at + 1) * width]
        dirs[d].remove(n)
    for rel, st in fresh.items():
        d, _, n = rel.rpartition("/")
        dirs.setdefault(d, [])
        at, found = slot(d, n)
        packed = array("q", quick.stamp_ints(st))
        if found:
            ints[at * width:(at + 1) * width] = packed
        else:
            ints[at * width:at * width] = packed
            bisect.insort(dirs[d], n)
    return sorted((d, ns) for d, ns in dirs.items() if ns), quick.stamps_digest(ints)
