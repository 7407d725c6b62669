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
  with :func:`kbuild.util.files.atomic_write_bytes`.
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
import errno
import hashlib
import json
import os
import re
import secrets
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kbuild.errors import InfraError, KbuildError, UserError
from kbuild.publish.safetree import SafeTree, in_the_way
from kbuild.util.files import atomic_write_bytes, exclusive_lock, sha256_file

MANIFEST_NAME = "kbuild-manifest.json"
STORE_NAME = ".kbuild"
FORMAT = 1
ROLES = ("payload", "entry")

_CHUNK = 1 << 20
_MAX_NAME = 255
# Temp names embed a truncated final name so that cleanup only ever deletes temp
# files of names kbuild was writing; the stem is cut to keep the name under NAME_MAX.
_TMP_STEM_BYTES = 200
_TMP_RE = re.compile(r"^\.(?P<stem>.+)\.kbuild-[0-9a-f]{8}\.tmp$", re.DOTALL)
# fsutil.atomic_write_bytes names its temp files through tempfile.mkstemp.
_MANIFEST_TMP_RE = re.compile(r"^\.kbuild-manifest\.json\.[a-z0-9_]{8}\.tmp$")
_LINK_UNSUPPORTED = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP, errno.ENOSYS}


@dataclass(frozen=True)
class TreeFile:
    """One file kbuild wants at ``relpath`` inside the published tree."""

    relpath: str
    source: Path | None = None
    data: bytes | None = None
    mode: int = 0o644
    role: str = "entry"
    meta: Mapping[str, str] = field(default_factory=dict)


@dataclass
class PublishReport:
    """What a publish or rollback changed (or, for a dry run, would change)."""

    target: Path
    generation: int
    written: list[str]
    unchanged: list[str]
    removed: list[str]
    dry_run: bool
    previous_generation: int = 0       # live before the call; equal to generation if nothing changed
    restored_from: int | None = None   # for a rollback: the generation whose files are live again

    def summary(self) -> str:
        if self.generation == self.previous_generation:
            return (f"{self.target} is already up to date at generation {self.generation} "
                    f"({len(self.unchanged)} files unchanged); nothing to do.")
        if self.dry_run:
            head = (f"dry run: publishing to {self.target} would make generation {self.generation}"
                    f" (now {self.previous_generation}): {len(self.written)} to write, "
                    f"{len(self.unchanged)} unchanged, {len(self.removed)} to remove")
        elif self.restored_from is not None:
            head = (f"rolled {self.target} back to the files of generation {self.restored_from}, "
                    f"live as generation {self.generation}: {len(self.written)} written, "
                    f"{len(self.unchanged)} unchanged, {len(self.removed)} removed")
        else:
            head = (f"published generation {self.generation} to {self.target} "
                    f"(was {self.previous_generation}): {len(self.written)} written, "
                    f"{len(self.unchanged)} unchanged, {len(self.removed)} removed")
        for label, names in (("written", self.written), ("removed", self.removed)):
            if names:
                more = f" (+{len(names) - 5} more)" if len(names) > 5 else ""
                head += f"; {label}: {', '.join(names[:5])}{more}"
        return head + "."


Durability = bool | str   # True / False, or "payloads": fsync payload files only


def publish(files: Sequence[TreeFile], target: Path, keep: int = 3, dry_run: bool = False,
            *, durable: Durability = "payloads") -> PublishReport:
    """Make ``target`` hold exactly ``files`` (among kbuild's own files) as a new generation."""
    target = Path(target)
    _check_keep(keep)
    wanted = [_Want.from_tree_file(f) for f in _checked(files)]
    with _os_errors(target):
        if dry_run:
            with SafeTree.open(target, missing_ok=True) as tree:
                live = read_manifest(target) if tree.root_fd is not None else None
                plan = _plan(wanted, tree, live, target)
                return plan.report(target, dry_run=True)
        with _locked(target):
            live = read_manifest(target)
            previous = live["generation"] if live and live["generation"] > 0 else None
            return _publish_locked(wanted, target, live, keep, durable, previous, None)


def rollback(target: Path, *, durable: Durability = "payloads") -> PublishReport:
    """Make the generation before the live one live again, byte for byte."""
    target = Path(target)
    with _os_errors(target), _locked(target):
        live = read_manifest(target)
        if live is None or live["generation"] < 1:
            raise UserError("nothing has been published here, so there is nothing to roll back",
                            path=target, hint="run publish first")
        gen, prev = live["generation"], live.get("previous")
        if prev is None:
            raise UserError(f"generation {gen} is the oldest one; there is no previous generation "
                            "to roll back to", path=target,
                            hint="publish the files you want instead")
        doc_path = _store(target) / "generations" / f"{prev}.json"
        if not doc_path.exists():
            raise UserError(f"generation {prev} is no longer kept, so it cannot be restored",
                            path=doc_path, hint="publish with a larger keep to be able to roll "
                            "back further; for now publish the files you want")
        doc = _load_doc(doc_path)
        objects = _store(target) / "objects"
        wanted = []
        for rel, e in doc["files"].items():
            src = objects / e["sha256"]
            if not src.is_file():
                raise InfraError(f"the content store has lost {rel} of generation {prev}",
                                 path=src, hint="publish the files you want instead")
            wanted.append(_Want(rel, tuple(rel.split("/")), int(e["mode"], 8), e["role"],
                                dict(e["meta"]), source=src, expected_sha=e["sha256"]))
        return _publish_locked(wanted, target, live, int(live.get("keep", 3)), durable,
                               doc.get("previous"), prev)


def read_manifest(target: Path) -> dict[str, Any] | None:
    """The live manifest of ``target``, or None if nothing was ever published there.

    A manifest with a ``pending`` key describes an interrupted publish (see the
    module docstring for what that promises).
    """
    path = Path(target) / MANIFEST_NAME
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise UserError("is not a regular file; kbuild will not read or replace it", path=path,
                        hint="move it away (kbuild then treats every file in the tree as foreign)")
    return _load_doc(path)


def generations(target: Path) -> list[int]:
    """Numbers of the generations kept in ``target``'s content store, oldest first."""
    gdir = _store(Path(target)) / "generations"
    try:
        names = os.listdir(gdir)
    except FileNotFoundError:
        return []
    return sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit())


# --- input checking -------------------------------------------------------------------

def _check_keep(keep: int) -> None:
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise UserError(f"keep must be a whole number of generations >= 1, not {keep!r}",
                        hint="set site.keep_generations to 1 or more (2 or more to roll back)")


def _check_relpath(rel: object) -> tuple[str, ...]:
    def bad(why: str) -> UserError:
        return UserError(f"bad relpath {rel!r}: {why}",
                         hint="use a relative POSIX path like 'pxelinux.cfg/default'")
    if not isinstance(rel, str) or not rel:
        raise bad("it must be a non-empty string")
    if rel.startswith("/"):
        raise bad("it is absolute")
    if "\0" in rel:
        raise bad("it contains a NUL byte")
    parts = tuple(rel.split("/"))
    for part in parts:
        if part in ("", ".", ".."):
            raise bad("empty, '.' and '..' components are not allowed")
        if len(part) > _MAX_NAME // 4 and len(os.fsencode(part)) > _MAX_NAME:
            raise bad(f"component {part[:20]!r}... is longer than {_MAX_NAME} bytes")
        if _TMP_RE.match(part):
            raise bad("the name looks like a kbuild temporary file")
    if parts[0] == STORE_NAME or rel == MANIFEST_NAME:
        raise bad(f"{STORE_NAME}/ and {MANIFEST_NAME} are kbuild's own bookkeeping")
    return parts


def _checked(files: Sequence[TreeFile]) -> list[TreeFile]:
    seen: set[str] = set()
    dups: list[str] = []
    for f in files:
        _check_relpath(f.relpath)
        if (f.source is None) == (f.data is None):
            raise UserError(f"{f.relpath}: give exactly one of source= and data=",
                            hint="pass the built file as source=Path(...) or its bytes as data=...")
        if f.data is not None and not isinstance(f.data, bytes | bytearray):
            raise UserError(f"{f.relpath}: data must be bytes, not {type(f.data).__name__}",
                            hint="encode text first, e.g. text.encode()")
        if f.role not in ROLES:
            raise UserError(f"{f.relpath}: unknown role {f.role!r}",
                            hint="use 'payload' for kernels and binaries, 'entry' for configs")
        if not isinstance(f.mode, int) or not 0 <= f.mode <= 0o7777:
            raise UserError(f"{f.relpath}: mode {f.mode!r} is not a permission mode",
                            hint="use an octal mode such as 0o644")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in f.meta.items()):
            raise UserError(f"{f.relpath}: meta keys and values must be strings",
                            hint="convert numbers with str() before publishing")
        if f.relpath in seen:
            dups.append(f.relpath)
        seen.add(f.relpath)
    if dups:
        raise UserError(f"relpath listed more than once: {', '.join(sorted(set(dups)))}",
                        hint="each file in the tree must come from exactly one TreeFile")
    return list(files)


# --- planning (reads only) --------------------------------------------------------------

@dataclass
class _Want:
    relpath: str
    parts: tuple[str, ...]
    mode: int
    role: str
    meta: dict[str, str]
    source: Path | None = None
    data: bytes | None = None
    expected_sha: str | None = None
    sha: str = ""
    size: int = 0

    @classmethod
    def from_tree_file(cls, f: TreeFile) -> _Want:
        return cls(f.relpath, tuple(f.relpath.split("/")), f.mode, f.role, dict(f.meta),
                   source=Path(f.source) if f.source is not None else None,
                   data=bytes(f.data) if f.data is not None else None)

    def digest(self) -> None:
        if self.data is not None:
            self.sha, self.size = hashlib.sha256(self.data).hexdigest(), len(self.data)
            return
        assert self.source is not None
        try:
            self.sha, self.size = sha256_file(self.source), self.source.stat().st_size
        except FileNotFoundError:
            raise UserError(f"source of {self.relpath} does not exist", path=self.source,
                            hint="build it first (or fix the path)") from None
        except IsADirectoryError:
            raise UserError(f"source of {self.relpath} is a directory", path=self.source,
                            hint="give one TreeFile per file") from None
        if self.expected_sha is not None and self.sha != self.expected_sha:
            raise InfraError(f"stored content of {self.relpath} is corrupt (sha256 {self.sha}, "
                             f"expected {self.expected_sha})", path=self.source,
                             hint="publish the files you want instead of rolling back")

    def entry(self) -> dict[str, Any]:
        return {"sha256": self.sha, "size": self.size, "mode": f"{self.mode:04o}",
                "role": self.role, "meta": self.meta}


@dataclass
class _Plan:
    live: dict[str, Any] | None
    generation: int
    writes: list[_Want]                        # payloads first, then entries
    keeps: list[_Want]
    removes: list[tuple[tuple[str, ...], str, bool]]   # (parts, role, unlink?) entries first
    owned_dirs: set[tuple[str, ...]]
    new_dirs: list[tuple[str, ...]]
    needed_dirs: set[tuple[str, ...]]
    files: dict[str, dict[str, Any]]
    changed: bool

    @property
    def live_generation(self) -> int:
        return int(self.live["generation"]) if self.live else 0

    def report(self, target: Path, dry_run: bool, restored_from: int | None = None) -> PublishReport:
        return PublishReport(target, self.generation, [w.relpath for w in self.writes],
                             sorted(w.relpath for w in self.keeps),
                             ["/".join(p) for p, _, _ in self.removes], dry_run,
                             previous_generation=self.live_generation, restored_from=restored_from)


def _plan(wanted: list[_Want], tree: SafeTree, live: dict[str, Any] | None, target: Path) -> _Plan:
    """Decide every change and check every path before anything is modified."""
    owned: dict[str, str] = {rel: e["role"] for rel, e in (live or {}).get("files", {}).items()}
    owned_dirs = {tuple(d.split("/")) for d in (live or {}).get("dirs", [])}
    pending = (live or {}).get("pending")
    if pending:
        # Files the interrupted run wrote or was removing are ours if they are there.
        for rel, role in [*((r, e["role"]) for r, e in pending["write"].items()),
                          *pending["remove"].items()]:
            if rel not in owned and _exists(tree, tuple(rel.split("/"))):
                owned[rel] = role
        owned_dirs |= {p for d in pending["dirs"] if _exists(tree, p := tuple(d.split("/")))}

    needed_dirs = {w.parts[:i] for w in wanted for i in range(1, len(w.parts))}
    for w in wanted:
        if w.parts in needed_dirs:
            raise UserError(f"{w.relpath} is wanted both as a file and as a directory",
                            hint="rename one of them")
    order = {role: i for i, role in enumerate(ROLES)}
    writes: list[_Want] = []
    keeps: list[_Want] = []
    for w in sorted(wanted, key=lambda w: (order[w.role], w.relpath)):
        try:
            (keeps if _up_to_date(w, tree, owned) else writes).append(w)
        except OSError as exc:
            from_source = w.source is not None and os.fsdecode(exc.filename or "") == str(w.source)
            where = w.source if from_source and w.source else tree.path(w.parts)
            raise _os_error(exc, where, "reading", target) from exc

    wanted_rels = {w.relpath for w in wanted}
    removes = []
    for rel in sorted(owned.keys() - wanted_rels, key=lambda r: (-order[owned[r]], r)):
        parts = tuple(rel.split("/"))
        st = tree.lstat(parts)
        # Anything but a regular file here was put by someone else: forget it, leave it.
        removes.append((parts, owned[rel], st is not None and stat.S_ISREG(st.st_mode)))

    new_dirs = sorted((d for d in needed_dirs if tree.dir_fd(d) is None), key=lambda d: (len(d), d))
    files = {w.relpath: w.entry() for w in wanted}
    live_files = (live or {}).get("files", {})
    changed = bool(writes or removes or pending or files != live_files)
    generation = 0
    if live:
        generation = max(int(live["generation"]), int((pending or {}).get("generation", 0)))
    if changed:
        generation = max([generation, *generations(target)]) + 1
    return _Plan(live, generation, writes, keeps, removes, owned_dirs, new_dirs, needed_dirs,
                 files, changed)


def _up_to_date(w: _Want, tree: SafeTree, owned: Mapping[str, str]) -> bool:
    """True if ``w`` is already on disk with the right content and mode; refuses foreign files."""
    w.digest()
    st = tree.lstat(w.parts)
    if st is None:
        return False
    if not stat.S_ISREG(st.st_mode):
        raise in_the_way(tree.path(w.parts), st, "a regular file")
    if w.relpath not in owned:
        raise UserError(f"{w.relpath} already exists and kbuild did not write it, so it will "
                        "not overwrite it", path=tree.path(w.parts),
                        hint="move the file away (or stop publishing it) and run again")
    return (st.st_size == w.size and stat.S_IMODE(st.st_mode) == w.mode
            and tree.sha256(w.parts) == w.sha)


def _exists(tree: SafeTree, parts: tuple[str, ...]) -> bool:
    try:
        return tree.lstat(parts) is not None
    except UserError:
        return False


# --- doing it ----------------------------------------------------------------------------

def _store(target: Path) -> Path:
    return target / STORE_NAME


@contextlib.contextmanager
def _locked(target: Path) -> Iterator[None]:
    target.mkdir(parents=True, exist_ok=True)
    store = _store(target)
    if store.is_symlink() or (store.exists() and not store.is_dir()):
        raise UserError("is not kbuild's store directory (a link or a file)", path=store,
                        hint="move it away; kbuild keeps its generations there")
    with exclusive_lock(store / "lock", f"publishing to {target}"):
        for sub in ("objects", "generations", "tmp"):
            (store / sub).mkdir(exist_ok=True)
        yield


def _publish_locked(wanted: list[_Want], target: Path, live: dict[str, Any] | None, keep: int,
                    durable: Durability, previous: int | None,
                    restored_from: int | None) -> PublishReport:
    with SafeTree.open(target) as tree, _open_dir(_store(target) / "objects") as objects_fd:
        tree.objects_fd = objects_fd
        _clean_stale_temps(tree, live, target)
        plan = _plan(wanted, tree, live, target)
        if not plan.changed:
            _ensure_objects(tree, plan.keeps, target, durable is True)
            return plan.report(target, dry_run=False)
        base = dict(live) if live else {"format": FORMAT, "generation": 0, "previous": None,
                                        "files": {}, "dirs": []}
        base["pending"] = {
            "generation": plan.generation, "started": _now(),
            "write": {w.relpath: {"sha256": w.sha, "role": w.role} for w in plan.writes},
            "remove": {"/".join(p): role for p, role, _ in plan.removes},
            # Directories only the interrupted run knew about stay on record too.
            "dirs": sorted({"/".join(d) for d in plan.new_dirs}
                           | ({"/".join(d) for d in plan.owned_dirs} - set(base["dirs"]))),
        }
        _write_doc(target / MANIFEST_NAME, _render(base), tree)

        created: list[tuple[str, ...]] = []
        for role in ROLES:
            touched: set[tuple[str, ...]] = set()
            for w in plan.writes:
                if w.role == role:
                    new = tree.make_dirs(w.parts[:-1])
                    created += new
                    touched |= {d[:-1] for d in new} | {w.parts[:-1]}
                    _replace(tree, w, target, _fsync_file(durable, w.role))
            _sync_dirs(tree, touched)
        dirs = _remove(tree, plan, created)

        _ensure_objects(tree, plan.keeps, target, durable is True)
        os.fsync(objects_fd)
        doc = {"format": FORMAT, "generation": plan.generation, "previous": previous,
               "created": _now(), "keep": keep, "files": plan.files,
               "dirs": sorted("/".join(d) for d in dirs)}
        if restored_from is not None:
            doc["restored_from"] = restored_from
        text = _render(doc)
        _write_doc(_store(target) / "generations" / f"{plan.generation}.json", text, None)
        _fsync_dir(_store(target) / "generations")
        _write_doc(target / MANIFEST_NAME, text, tree)
        _collect_garbage(target, doc, keep)
        return plan.report(target, dry_run=False, restored_from=restored_from)


def _fsync_file(durable: Durability, role: str) -> bool:
    """Kernels and boot loaders are few and large: fsync them ("payloads", the default).
    Entries are many and small; a torn one after a power cut is rewritten by the
    next publish, which compares content."""
    return durable is True or (durable == "payloads" and role == "payload")


def _replace(tree: SafeTree, w: _Want, target: Path, durable: bool) -> None:
    fd = tree.dir_fd(w.parts[:-1])
    assert fd is not None
    name = w.parts[-1]
    with _errors_at(tree.path(w.parts), "writing", target):
        tmp = _write_temp(fd, name, w, durable)
        try:
            _store_object(tree, fd, tmp, w.sha, durable)
            os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=fd)
            raise


def _tmp_stem(name: str) -> str:
    return os.fsdecode(os.fsencode(name)[:_TMP_STEM_BYTES])


def _write_temp(dir_fd: int, name: str, w: _Want, durable: bool) -> str:
    while True:
        tmp = f".{_tmp_stem(name)}.kbuild-{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600, dir_fd=dir_fd)
            break
        except FileExistsError:
            continue
    try:
        try:
            h = hashlib.sha256()
            if w.data is not None:
                _write_all(fd, w.data)
                h.update(w.data)
            else:
                assert w.source is not None
                with open(w.source, "rb", buffering=0) as src:
                    while block := src.read(_CHUNK):
                        _write_all(fd, block)
                        h.update(block)
            os.fchmod(fd, w.mode)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if h.hexdigest() != w.sha:
            # The manifest must describe what is on disk, not what was there a moment ago.
            raise InfraError(f"{w.relpath} changed while it was being published", path=w.source,
                             hint="wait for the build writing it to finish and publish again")
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    return tmp


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _store_object(tree: SafeTree, dir_fd: int, name: str, sha: str, durable: bool) -> None:
    """Keep the content of ``name`` under objects/<sha> (a hard link, else a copy)."""
    try:
        os.link(name, sha, src_dir_fd=dir_fd, dst_dir_fd=tree.objects_fd, follow_symlinks=False)
        return
    except FileExistsError:
        return
    except OSError as exc:
        if exc.errno not in _LINK_UNSUPPORTED:
            raise
    src_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    tmp = _store(tree.target) / "tmp" / f"{sha}.{secrets.token_hex(4)}"
    try:
        with os.fdopen(src_fd, "rb") as src, open(tmp, "xb") as out:
            while block := src.read(_CHUNK):
                out.write(block)
            out.flush()
            if durable:
                os.fsync(out.fileno())
        os.replace(tmp, sha, dst_dir_fd=tree.objects_fd)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _ensure_objects(tree: SafeTree, keeps: list[_Want], target: Path, durable: bool) -> None:
    # Normally already stored; this refills a store someone deleted so rollback works.
    stored = set(os.listdir(tree.objects_fd))
    for w in keeps:
        if w.sha not in stored:
            fd = tree.dir_fd(w.parts[:-1])
            assert fd is not None
            with _errors_at(tree.path(w.parts), "storing", target):
                _store_object(tree, fd, w.parts[-1], w.sha, durable)
            stored.add(w.sha)


def _remove(tree: SafeTree, plan: _Plan, created: list[tuple[str, ...]]) -> set[tuple[str, ...]]:
    """Remove unwanted owned files, then owned directories left empty; return owned dirs."""
    touched: set[tuple[str, ...]] = set()
    for parts, _role, unlink in plan.removes:
        fd = tree.dir_fd(parts[:-1])
        if unlink and fd is not None:
            with _errors_at(tree.path(parts), "removing", tree.target), \
                    contextlib.suppress(FileNotFoundError):
                os.unlink(parts[-1], dir_fd=fd)
            touched.add(parts[:-1])
    owned = plan.owned_dirs | set(created)
    for d in sorted(owned - plan.needed_dirs, key=lambda d: (-len(d), d)):
        try:
            fd = tree.dir_fd(d[:-1])
            if fd is None:
                owned.discard(d)
                continue
            # rmdir refuses a non-empty directory, so a foreign file keeps its directory.
            os.rmdir(d[-1], dir_fd=fd)
            tree.forget(d)
            owned.discard(d)
            touched.add(d[:-1])
        except (UserError, NotADirectoryError, FileNotFoundError):
            owned.discard(d)    # it became a link or vanished: no longer ours
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise _os_error(exc, tree.path(d), "removing", tree.target) from exc
    _sync_dirs(tree, touched)
    return {d for d in owned if _exists(tree, d)}


def _sync_dirs(tree: SafeTree, dirs: set[tuple[str, ...]]) -> None:
    # Directory fsyncs are cheap and order the phases on disk even with durable=False.
    for d in sorted(dirs):
        fd = tree.dir_fd(d)
        if fd is not None:
            os.fsync(fd)


@contextlib.contextmanager
def _open_dir(path: Path) -> Iterator[int]:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with _open_dir(path) as fd:
        os.fsync(fd)


def _clean_stale_temps(tree: SafeTree, live: dict[str, Any] | None, target: Path) -> None:
    """Delete temp files a killed publish left; only names kbuild itself would make."""
    if tree.root_fd is None:
        return
    pending = (live or {}).get("pending") or {}
    stems: dict[tuple[str, ...], set[str]] = {}
    for rel in pending.get("write", {}):
        parts = tuple(rel.split("/"))
        stems.setdefault(parts[:-1], set()).add(_tmp_stem(parts[-1]))
    for d, names in stems.items():
        try:
            fd = tree.dir_fd(d)
        except UserError:
            continue    # the plan reports the link properly
        if fd is None:
            continue
        for entry in os.listdir(fd):
            m = _TMP_RE.match(entry)
            if m and m["stem"] in names:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry, dir_fd=fd)
    for entry in os.listdir(tree.root_fd):
        if _MANIFEST_TMP_RE.match(entry):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry, dir_fd=tree.root_fd)
    for sub in ("tmp", "generations"):
        for p in (_store(target) / sub).iterdir():
            if sub == "tmp" or p.name.endswith(".tmp"):
                p.unlink(missing_ok=True)


def _collect_garbage(target: Path, doc: dict[str, Any], keep: int) -> None:
    """Keep the live generation and its keep-1 predecessors, and the objects they use."""
    gdir = _store(target) / "generations"
    chain = {doc["generation"]: doc}
    prev = doc.get("previous")
    while prev is not None and len(chain) < keep and (gdir / f"{prev}.json").exists():
        pdoc = _load_doc(gdir / f"{prev}.json", check_paths=False)
        chain[prev] = pdoc
        prev = pdoc.get("previous")
    for g in generations(target):
        if g not in chain:
            (gdir / f"{g}.json").unlink(missing_ok=True)
    used = {e["sha256"] for d in chain.values() for e in d["files"].values()}
    objects = _store(target) / "objects"
    for name in os.listdir(objects):
        if name not in used:
            (objects / name).unlink(missing_ok=True)


# --- manifests -------------------------------------------------------------------------

_MULTILINE = {"files", "pending", "write", "remove"}


_ENCODE = json.JSONEncoder(sort_keys=True).encode


def _render(value: Any, depth: int = 0, key: str = "") -> str:
    """JSON with one file per line: readable and diffable, yet encoded by the C encoder."""
    if isinstance(value, dict) and value and (depth == 0 or key in _MULTILINE):
        pad = " " * (depth + 1)
        items = [f"{pad}{_ENCODE(k)}: {_render(v, depth + 1, k)}" for k, v in sorted(value.items())]
        return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}"
    return _ENCODE(value)


def _write_doc(path: Path, text: str, tree: SafeTree | None) -> None:
    with _errors_at(path, "writing", path.parent):
        atomic_write_bytes(path, (text + "\n").encode())
        if tree is not None and tree.root_fd is not None:
            os.fsync(tree.root_fd)   # fsutil syncs the file, not the rename


def _load_doc(path: Path, check_paths: bool = True) -> dict[str, Any]:
    def bad(why: str) -> UserError:
        return UserError(f"is not a kbuild manifest: {why}", path=path,
                         hint=f"restore it from {STORE_NAME}/generations/<N>.json, or move it "
                         "away (kbuild then treats every file in the tree as foreign)")
    try:
        doc = json.loads(path.read_bytes())
    except ValueError as exc:
        raise bad(f"invalid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise bad(f"no \"format\": {FORMAT}")
    if not isinstance(doc.get("generation"), int) or not isinstance(doc.get("files"), dict) \
            or not isinstance(doc.get("dirs"), list):
        raise bad("generation, files or dirs missing")
    pending = doc.get("pending")
    if pending is not None and not (isinstance(pending, dict)
                                    and {"generation", "write", "remove", "dirs"} <= pending.keys()):
        raise bad("incomplete pending section")
    if not check_paths:
        return doc
    keys = {"sha256", "size", "mode", "role", "meta"}
    for rel, e in doc["files"].items():
        if not isinstance(e, dict) or not keys <= e.keys():
            raise bad(f"incomplete entry for {rel!r}")
    # kbuild deletes what the manifest lists: a tampered path must not reach outside.
    for rel in [*doc["files"], *(pending or {}).get("write", ()), *(pending or {}).get("remove", ()),
                *doc["dirs"], *(pending or {}).get("dirs", ())]:
        try:
            _check_relpath(rel)
        except UserError as exc:
            raise bad(exc.message) from None
    return doc


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- OS errors -> kbuild errors ------------------------------------------------------------

def _os_error(exc: OSError, path: Path, doing: str, target: Path) -> KbuildError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InfraError(f"no space left on the device while {doing} this file", path=path,
                          hint=f"free space on the file system holding {target} (old generations "
                          f"in {STORE_NAME}/ use some: a smaller keep frees them) and publish again;"
                          " the manifest records the interrupted publish")
    if exc.errno in (errno.EACCES, errno.EPERM):
        need = (f"{path} readable" if doing in ("reading", "accessing")
                else f"{path.parent} writable")
        return UserError(f"permission denied while {doing} this file", path=path,
                         hint=f"make {need} for uid {os.geteuid()}, or publish as the owner "
                         f"of {target}")
    if exc.errno == errno.EROFS:
        return UserError(f"read-only file system while {doing} this file", path=path,
                         hint="remount it read-write or point site.tftp_root elsewhere")
    return InfraError(f"{doing} failed: {exc.strerror or exc}", path=path,
                      hint="check the disk and the file system, then publish again")


@contextlib.contextmanager
def _errors_at(path: Path, doing: str, target: Path) -> Iterator[None]:
    try:
        yield
    except KbuildError:
        raise
    except OSError as exc:
        raise _os_error(exc, path, doing, target) from exc


@contextlib.contextmanager
def _os_errors(target: Path) -> Iterator[None]:
    """Last resort for OS errors not mapped at the call site (planning, locking)."""
    try:
        yield
    except KbuildError:
        raise
    except OSError as exc:
        path = Path(os.fsdecode(exc.filename)) if exc.filename else target
        raise _os_error(exc, path, "accessing", target) from exc
