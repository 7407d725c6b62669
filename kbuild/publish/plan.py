"""What a publish will do, decided before anything changes: the files wanted (checked),
which are already right, which to write (payloads before entries) and which to remove,
and every path checked against links and foreign files. Reads only.
"""
from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbuild.errors import InfraError, UserError
from kbuild.publish.manifest import ROLES, check_relpath, generations, stamp, trusted_stamps
from kbuild.publish.oserrors import os_error
from kbuild.publish.safetree import SafeTree, in_the_way
from kbuild.util.files import sha256_file


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
    manifest_stamp: str = ""           # the live manifest's stamp when the call ended (quick.py)
    # each published file's lstat as the publish last saw it, after its content was on
    # disk (None: not taken); quick.record digests these instead of an lstat per file again
    file_stats: dict[str, os.stat_result] | None = None

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


def check_keep(keep: int) -> None:
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise UserError(f"keep must be a whole number of generations >= 1, not {keep!r}",
                        hint="set site.keep_generations to 1 or more (2 or more to roll back)")


def checked_files(files: Sequence[TreeFile]) -> list[TreeFile]:
    seen: set[str] = set()
    dups: list[str] = []
    for f in files:
        check_relpath(f.relpath)
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
        if not _str_map(f.meta):
            raise UserError(f"{f.relpath}: meta keys and values must be strings",
                            hint="convert numbers with str() before publishing")
        if f.relpath in seen:
            dups.append(f.relpath)
        seen.add(f.relpath)
    if dups:
        raise UserError(f"relpath listed more than once: {', '.join(sorted(set(dups)))}",
                        hint="each file in the tree must come from exactly one TreeFile")
    return list(files)


def _str_map(meta: Mapping[str, str]) -> bool:
    # a loop, not all() over a generator: 100,000 files' meta are checked on every publish
    for k, v in meta.items():
        if not (isinstance(k, str) and isinstance(v, str)):
            return False
    return True


@dataclass
class Want:
    """A file to publish, with its digest and size once :meth:`digest` ran."""

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
    stat: os.stat_result | None = None   # as found while planning (kept files)
    trusted: bool = False                # kept on the live manifest's stamp (so on disk)

    @classmethod
    def from_tree_file(cls, f: TreeFile) -> Want:
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
class Plan:
    """Every change one publish makes, decided before any: writes (payloads first), files
    kept, removals, directories, the new manifest's files and generation."""

    live: dict[str, Any] | None
    generation: int
    writes: list[Want]                        # payloads first, then entries
    keeps: list[Want]
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


def make_plan(wanted: list[Want], tree: SafeTree, live: dict[str, Any] | None, target: Path) -> Plan:
    """Decide every change and check every path before anything is modified."""
    owned: dict[str, str] = {rel: e["role"] for rel, e in (live or {}).get("files", {}).items()}
    owned_dirs = {tuple(d.split("/")) for d in (live or {}).get("dirs", [])}
    pending = (live or {}).get("pending")
    if pending:
        # Files the interrupted run wrote or was removing are ours if they are there.
        for rel, role in [*((r, e["role"]) for r, e in pending["write"].items()),
                          *pending["remove"].items()]:
            if rel not in owned and exists(tree, tuple(rel.split("/"))):
                owned[rel] = role
        owned_dirs |= {p for d in pending["dirs"] if exists(tree, p := tuple(d.split("/")))}

    needed_dirs = {w.parts[:i] for w in wanted for i in range(1, len(w.parts))}
    for w in wanted:
        if w.parts in needed_dirs:
            raise UserError(f"{w.relpath} is wanted both as a file and as a directory",
                            hint="rename one of them")
    order = {role: i for i, role in enumerate(ROLES)}
    writes: list[Want] = []
    keeps: list[Want] = []
    live_files = (live or {}).get("files", {})
    stamps = trusted_stamps(live)
    for w in sorted(wanted, key=lambda w: (order[w.role], w.relpath)):
        try:
            (keeps if _up_to_date(w, tree, owned, live_files, stamps) else writes).append(w)
        except OSError as exc:
            from_source = w.source is not None and os.fsdecode(exc.filename or "") == str(w.source)
            where = w.source if from_source and w.source else tree.path(w.parts)
            raise os_error(exc, where, "reading", target) from exc

    wanted_rels = {w.relpath for w in wanted}
    removes = []
    for rel in sorted(owned.keys() - wanted_rels, key=lambda r: (-order[owned[r]], r)):
        parts = tuple(rel.split("/"))
        st = tree.lstat(parts)
        # Anything but a regular file here was put by someone else: forget it, leave it.
        removes.append((parts, owned[rel], st is not None and stat.S_ISREG(st.st_mode)))

    new_dirs = sorted((d for d in needed_dirs if tree.dir_fd(d) is None), key=lambda d: (len(d), d))
    files = {w.relpath: w.entry() for w in wanted}
    changed = bool(writes or removes or pending or files != live_files)
    generation = 0
    if live:
        generation = max(int(live["generation"]), int((pending or {}).get("generation", 0)))
    if changed:
        generation = max([generation, *generations(target)]) + 1
    return Plan(live, generation, writes, keeps, removes, owned_dirs, new_dirs, needed_dirs,
                 files, changed)


def _up_to_date(w: Want, tree: SafeTree, owned: Mapping[str, str], live_files: Mapping[str, Any],
                stamps: Mapping[str, str]) -> bool:
    """True if ``w`` is already on disk with the right content and mode; refuses foreign files.

    The content is read and compared unless the live manifest vouches for it: the file
    still has the stamp (inode, size, times) it had when that manifest was written,
    after the file system was synced, and the manifest's digest is the one wanted."""
    w.digest()
    st = w.stat = tree.lstat(w.parts)
    if st is None:
        return False
    if not stat.S_ISREG(st.st_mode):
        raise in_the_way(tree.path(w.parts), st, "a regular file")
    if w.relpath not in owned:
        raise UserError(f"{w.relpath} already exists and kbuild did not write it, so it will "
                        "not overwrite it", path=tree.path(w.parts),
                        hint="move the file away (or stop publishing it) and run again")
    if st.st_size != w.size or stat.S_IMODE(st.st_mode) != w.mode:
        return False
    known = stamps.get(w.relpath)
    entry = live_files.get(w.relpath)
    if known is not None and known == stamp(st) and isinstance(entry, dict) and entry.get("sha256") == w.sha:
        w.trusted = True
        return True
    return tree.sha256(w.parts) == w.sha


def exists(tree: SafeTree, parts: tuple[str, ...]) -> bool:
    try:
        return tree.lstat(parts) is not None
    except UserError:
        return False
