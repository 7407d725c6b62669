"""Publish a set of files into a TFTP root: atomic per file, ordered, with generations.

``publish(files, target)`` makes ``target`` hold exactly ``files`` among the files
kbuild owns, leaves every other ("foreign") file alone, and records the result in
``<target>/kbuild-manifest.json``.  ``<target>/.kbuild/`` keeps a content store
(``objects/<sha256>``, hard links to the published files where the file system
allows, copies otherwise), one manifest per kept generation
(``generations/<N>.json``) and the ``lock`` that serializes publishers.

Guarantees
----------
* **Per file.** Every file is written to ``.<name>.kbuild-XXXXXXXX.tmp`` in its
  final directory, fsynced (``durable=True``), and renamed over the final name.  A
  reader (the TFTP server) sees the whole old or the whole new content, never a
  partial file.  Nothing is written through a symbolic link: directories are opened
  one component at a time with ``O_NOFOLLOW``, so a link anywhere inside the target
  is refused, even one that appears after the checks.
* **Order.** Payloads (kernels, hypervisors, bootloaders) are replaced first, then
  entries (configs that name payloads), then files that are no longer wanted are
  removed (old entries before old payloads), then empty directories kbuild created
  are removed.  The directories touched by each phase are fsynced before the next
  phase starts, so the order also holds after a power cut.  An entry therefore
  never names a payload that is missing.  Give payloads versioned names
  (``vmlinuz-6.1.0-kb1``) if an old entry must never boot a new payload: the old
  payload then stays in place until the new entries are live.
* **Ownership.** kbuild owns exactly the files listed in the manifest.  A wanted
  path that is already taken by a foreign file is refused before anything changes.
* **The manifest never lies.** Before the first change, the manifest is rewritten
  with a ``pending`` section: the generation being made, every file about to be
  written (with its new digest), every file about to be removed and every
  directory about to be created.  Its ``files`` section still describes the last
  completed generation.  While ``pending`` is present, each path in ``files`` or
  ``pending`` holds either its ``files`` content or its ``pending`` content (or is
  absent, if it was being added or removed), and the order above still holds.
  After the last change the manifest is rewritten without ``pending``.  So when
  ``publish`` returns, ``files`` is exactly what is on disk; when it raises (a full
  disk, a permission problem) or the process is killed, the manifest honestly
  describes an interrupted publish, and the next ``publish`` or ``rollback``
  finishes the job: it takes ownership of the files listed as pending, deletes the
  temporary files of the interrupted run, and compares every wanted file with the
  disk by content, so no manual cleanup is needed.  The manifest itself is written
  with :func:`kbuild.util.files.atomic_write_bytes`; its entries are in shards
  (manifest.py), each on disk under its final name before any manifest names it, so
  the pending manifest names the live generation's shards and adds only ``pending``.
* **Incremental.** A file whose content and mode are already right is not touched
  (same inode, same mtime).  A publish that changes nothing makes no generation.
* **Generations.** Each publish that changes something makes generation N+1 whose
  ``previous`` is N.  ``rollback`` makes the previous generation's files live again,
  byte for byte, through the same ordered path, as a new generation N+1 whose
  ``previous`` is the restored generation's own ``previous``; numbers never repeat,
  and repeated rollbacks walk further back.  The live generation and its
  ``keep - 1`` predecessors are kept; other generation manifests and unreferenced
  objects are deleted.
* **Durability.** The default ``durable="payloads"`` fsyncs payload files only (a
  torn entry after a power cut is rewritten by the next publish); ``durable=True``
  fsyncs every file. ``durable=False`` skips the per-file fsync (directories are still
  synced between phases): every guarantee above holds when the process is killed,
  but after a power cut a file may be torn.  The next publish compares content, so
  it rewrites any torn file.
* **Dry run.** ``dry_run=True`` only reads; it does not even create ``.kbuild`` or
  take the lock, so it may race with a concurrent publisher.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from kbuild.errors import InfraError, UserError
from kbuild.publish.manifest import (
    FORMAT,
    MANIFEST_NAME,
    ROLES,
    SHARDS,
    Manifest,
    ShardCache,
    collect_garbage,
    load_manifest,
    now,
    read_manifest,
    render_compact,
    render_manifest,
    stamp,
    store_dir,
)
from kbuild.publish.oserrors import os_errors
from kbuild.publish.plan import (
    Durability,
    PublishReport,
    TreeFile,
    Want,
    check_keep,
    checked_files,
    make_plan,
)
from kbuild.publish.safetree import SafeTree
from kbuild.publish.writes import (
    clean_stale_temps,
    ensure_objects,
    fsync_dir,
    fsync_file,
    open_dir,
    remove_unwanted,
    replace_file,
    stamps_after_sync,
    store_shards,
    sync_dirs,
    write_manifest,
)
from kbuild.util.files import exclusive_lock
from kbuild.util.progress import CountProgress, Progress

_FSYNC_EACH_UP_TO = 64
# Progress only for long loops (a large site): small publishes stay as quiet as before.
PROGRESS_FROM = 1000
PROGRESS_EVERY = 5000


def publish(files: Sequence[TreeFile], target: Path, keep: int = 3, dry_run: bool = False,
            *, durable: Durability = "payloads", progress: Progress | None = None) -> PublishReport:
    """Make ``target`` hold exactly ``files`` (among kbuild's own files) as a new generation
    (``progress``: told ``publish: written/total`` while many files are written)."""
    target = Path(target)
    check_keep(keep)
    wanted = [Want.from_tree_file(f) for f in checked_files(files)]
    with os_errors(target):
        if dry_run:
            with SafeTree.open(target, missing_ok=True) as tree:
                live = read_manifest(target) if tree.root_fd is not None else None
                plan = make_plan(wanted, tree, live, target)
                return plan.report(target, dry_run=True)
        with _locked(target):
            cache: ShardCache = {}
            live = read_manifest(target, cache)
            previous = live["generation"] if live and live["generation"] > 0 else None
            return _publish_locked(wanted, target, live, keep, durable, previous, None,
                                   cache, progress)


def rollback(target: Path, *, durable: Durability = "payloads") -> PublishReport:
    """Make the generation before the live one live again, byte for byte."""
    target = Path(target)
    with os_errors(target), _locked(target):
        cache: ShardCache = {}
        live = read_manifest(target, cache)
        if live is None or live["generation"] < 1:
            raise UserError("nothing has been published here, so there is nothing to roll back",
                            path=target, hint="run publish first")
        gen, prev = live["generation"], live.get("previous")
        if prev is None:
            raise UserError(f"generation {gen} is the oldest one; there is no previous generation "
                            "to roll back to", path=target,
                            hint="publish the files you want instead")
        doc_path = store_dir(target) / "generations" / f"{prev}.json"
        if not doc_path.exists():
            raise UserError(f"generation {prev} is no longer kept, so it cannot be restored",
                            path=doc_path, hint="publish with a larger keep to be able to roll "
                            "back further; for now publish the files you want")
        doc = load_manifest(doc_path, cache=cache)
        objects = store_dir(target) / "objects"
        wanted = []
        for rel, e in doc["files"].items():
            src = objects / e["sha256"]
            if not src.is_file():
                raise InfraError(f"the content store has lost {rel} of generation {prev}",
                                 path=src, hint="publish the files you want instead")
            wanted.append(Want(rel, tuple(rel.split("/")), int(e["mode"], 8), e["role"],
                                dict(e["meta"]), source=src, expected_sha=e["sha256"]))
        return _publish_locked(wanted, target, live, int(live.get("keep", 3)), durable,
                               doc.get("previous"), prev, cache, reuse=doc)


@contextlib.contextmanager
def _locked(target: Path) -> Iterator[None]:
    target.mkdir(parents=True, exist_ok=True)
    store = store_dir(target)
    if store.is_symlink() or (store.exists() and not store.is_dir()):
        raise UserError("is not kbuild's store directory (a link or a file)", path=store,
                        hint="move it away; kbuild keeps its generations there")
    with exclusive_lock(store / "lock", f"publishing to {target}"):
        for sub in ("objects", "generations", "tmp", SHARDS):
            (store / sub).mkdir(exist_ok=True)
        yield


def _publish_locked(wanted: list[Want], target: Path, live: Manifest | None, keep: int,
                    durable: Durability, previous: int | None,
                    restored_from: int | None, cache: ShardCache,
                    progress: Progress | None = None, reuse: Manifest | None = None) -> PublishReport:
    with SafeTree.open(target) as tree, open_dir(store_dir(target) / "objects") as objects_fd:
        tree.objects_fd = objects_fd
        clean_stale_temps(tree, live, target)
        plan = make_plan(wanted, tree, live, target)
        if not plan.changed:
            ensure_objects(tree, plan.keeps, target, durable is True)
            report = plan.report(target, dry_run=False)
            if all(w.stat is not None for w in plan.keeps):
                report.file_stats = {w.relpath: w.stat for w in plan.keeps if w.stat is not None}
            return _stamped(report, target)
        base, converted = _live_top(target, live, cache)
        base["pending"] = {
            "generation": plan.generation, "started": now(),
            "write": {w.relpath: {"sha256": w.sha, "role": w.role} for w in plan.writes},
            "remove": {"/".join(p): role for p, role, _ in plan.removes},
            # Directories only the interrupted run knew about stay on record too.
            "dirs": sorted({"/".join(d) for d in plan.new_dirs}
                           | ({"/".join(d) for d in plan.owned_dirs} - set(base["dirs"]))),
        }
        # The live generation's files stay in their shards: the pending manifest is small
        write_manifest(target / MANIFEST_NAME, render_compact(base), tree)

        # Stamps need every file on disk: a few entries are fsynced one by one when every
        # kept file is already on disk (trusted by its stamp); otherwise one syncfs at the end.
        unsynced = sum(1 for w in plan.writes if not fsync_file(durable, w.role))
        fsync_each = durable is not False and unsynced <= _FSYNC_EACH_UP_TO \
            and all(w.trusted for w in plan.keeps)
        created: list[tuple[str, ...]] = []
        count = CountProgress(progress if len(plan.writes) >= PROGRESS_FROM else None, "publish",
                              len(plan.writes), every=PROGRESS_EVERY)
        for role in ROLES:
            touched: set[tuple[str, ...]] = set()
            for w in plan.writes:
                if w.role == role:
                    new = tree.make_dirs(w.parts[:-1])
                    created += new
                    touched |= {d[:-1] for d in new} | {w.parts[:-1]}
                    replace_file(tree, w, target, fsync_each or fsync_file(durable, w.role))
                    count()
            sync_dirs(tree, touched)
        dirs = remove_unwanted(tree, plan, created)

        ensure_objects(tree, plan.keeps, target, durable is True)
        os.fsync(objects_fd)
        stamps: dict[str, str] | None = None
        seen: dict[str, os.stat_result] | None = None
        if durable is not False:
            seen = {}
            stamps = stamps_after_sync(tree, plan, sync=not fsync_each, seen=seen)
        shared = [m for m in (live if converted is None else converted, reuse) if m is not None]
        doc = store_shards(target, plan.files, stamps, shared, cache)
        top: dict[str, Any] = {"format": FORMAT, "generation": plan.generation, "previous": previous,
                               "created": now(), "keep": keep,
                               "dirs": sorted("/".join(d) for d in dirs),
                               "shard_bits": doc["shard_bits"], "shards": doc["shards"]}
        if restored_from is not None:
            top["restored_from"] = restored_from
        doc.update(top)
        text = render_manifest(top)
        write_manifest(store_dir(target) / "generations" / f"{plan.generation}.json", text, None)
        fsync_dir(store_dir(target) / "generations")
        write_manifest(target / MANIFEST_NAME, text, tree)
        # the live manifest's files are its generation's (a pending section aside)
        collect_garbage(target, doc, keep, known=live if live and restored_from is None else None,
                        cache=cache)
        report = plan.report(target, dry_run=False, restored_from=restored_from)
        if seen is not None and len(seen) == len(plan.keeps) + len(plan.writes):
            report.file_stats = seen
        return _stamped(report, target)


def _live_top(target: Path, live: Manifest | None,
              cache: ShardCache) -> tuple[dict[str, Any], Manifest | None]:
    """The live manifest as format 2 without its files (they stay in their shards): what
    the pending manifest says is live. A format 1 manifest's files are put into shards
    first; that sharded copy is returned too, so the final manifest reuses its shards."""
    if live is None:
        return {"format": FORMAT, "generation": 0, "previous": None, "dirs": [],
                "shard_bits": 0, "shards": {}}, None
    top = {k: v for k, v in live.items() if k not in ("files", "stamps")}
    if live.parts is not None:
        return top, None
    converted = store_shards(target, live["files"], live.get("stamps"), [], cache)   # format 1
    top.update({"format": FORMAT, "shard_bits": converted["shard_bits"], "shards": converted["shards"]})
    return top, converted


def _stamped(report: PublishReport, target: Path) -> PublishReport:
    try:
        report.manifest_stamp = stamp(os.stat(target / MANIFEST_NAME))
    except FileNotFoundError:
        pass
    return report


