"""``kbuild root prepare``: make a root tree shareable read-only by many clients.

For ``ro-shared`` each declared writable path (``/var/log``) moves to the same place
under ``/flash`` and is replaced by a symlink to it (``/var/log -> /flash/var/log``): the
administrator's chroot still writes through the links into the tree's /flash, and each
client's early-boot program mounts a tmpfs on /flash seeded from that copy. For
``overlay`` nothing moves. Both install the early-boot program (:data:`PROGRAM`).

Safety (docs/root.md):

* Everything is checked before anything is written; a refused prepare changes nothing.
* Every move is one atomic ``renameat2(RENAME_EXCHANGE)``: the symlink is first staged
  at ``/flash/P``, then it and the directory ``P`` swap names. Each state in between
  is a usable tree (the old layout, or the old layout plus an unused staged link).
* A journal (``.kbuild-root.journal`` in DIR, one fsynced JSON line per step) names the
  paths kbuild moved and the directories it created: a killed prepare is completed by
  running it again and undone by ``--undo``, which swaps each move back.
"""
from __future__ import annotations

import ctypes
import errno
import json
import os
import stat
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

from kbuild.errors import InfraError, UserError
from kbuild.site.model import ROOT_PROGRAM

JOURNAL = ".kbuild-root.journal"
FLASH = "flash"
DEFAULT_PATHS = ("/var/log", "/var/tmp", "/tmp")
MODES = ("ro-shared", "overlay")
# mounted by the kernel or the early-boot program, or the RAM side itself
_KERNEL_OWNED = ("proc", "sys", "dev", "flash", "flash.hosts")
# the early-boot program runs from these before /flash exists
_NEEDED_EARLY = ("bin", "sbin", "usr", "lib", "lib64", "lib32")
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def program_text() -> bytes:
    """The early-boot program (package data, POSIX sh)."""
    return resources.files("kbuild.root").joinpath("kbuild-root.sh").read_bytes()


@dataclass(frozen=True)
class Step:
    """One change of a prepare: ``move`` (P to /flash/P, link left), ``create`` (an empty
    writable P under /flash, link left), ``mkdir`` (a directory the mode needs) or
    ``install`` (the early-boot program)."""

    kind: str
    path: str           # relative to DIR, no leading '/'

    def describe(self) -> str:
        if self.kind == "move":
            return f"move /{self.path} -> /{FLASH}/{self.path}, link /{self.path} -> /{FLASH}/{self.path}"
        if self.kind == "create":
            return f"create /{FLASH}/{self.path}, link /{self.path} -> /{FLASH}/{self.path}"
        if self.kind == "mkdir":
            return f"create directory /{self.path}"
        return f"install the early-boot program as /{self.path}"


@dataclass
class Outcome:
    """What a prepare (or undo) did or, for a dry run, would do."""

    steps: list[Step]
    done: list[str]
    dry_run: bool

    def lines(self) -> list[str]:
        if not self.steps:
            return ["nothing to do: the tree is prepared"]
        head = "would " if self.dry_run else ""
        return [head + s.describe() for s in self.steps]


def _clean(path: str, root: Path) -> str:
    """A declared path, relative to the tree and normalized, or a UserError."""
    if not path.startswith("/"):
        raise UserError(f"writable path {path!r} must be absolute (as the clients see it)",
                        hint="write it as /var/log")
    parts = PurePosixPath(path).parts[1:]
    if not parts or ".." in path.split("/") or "." in path.split("/") or "//" in path:
        raise UserError(f"writable path {path!r} is not a plain path inside the tree {root}",
                        hint="name a directory like /var/log (no '..', not '/')")
    if parts[0] in _KERNEL_OWNED or (len(parts) == 1 and parts[0] in _NEEDED_EARLY):
        raise UserError(f"writable path {path!r} cannot be moved to /{FLASH}",
                        hint="the kernel or the early-boot program needs it in place; "
                        "name a directory below it")
    return "/".join(parts)


def _lstat(p: Path) -> os.stat_result | None:
    try:
        return os.lstat(p)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise UserError(f"cannot inspect {p}: {e.strerror}") from None


def _link_target(rel: str) -> str:
    return f"/{FLASH}/{rel}"


def _ours(root: Path, rel: str) -> bool:
    """P is the link prepare leaves and /flash/P is the moved directory."""
    st = _lstat(root / rel)
    if st is None or not stat.S_ISLNK(st.st_mode):
        return False
    flash = _lstat(root / FLASH / rel)
    return os.readlink(root / rel) == _link_target(rel) and flash is not None and stat.S_ISDIR(flash.st_mode)


def _escapes(root: Path, link: Path) -> str | None:
    """The target of a symlink inside the tree when it climbs out of the tree. Absolute
    targets are resolved inside the tree by every client and chroot: they stay in."""
    target = os.readlink(link)
    if target.startswith("/"):
        return None
    depth = len(link.relative_to(root).parts) - 1
    for part in PurePosixPath(target).parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            return target
    return None


def _check_subtree(root: Path, top: Path) -> None:
    """Every directory under a path to move must be readable (the seed copies it) and no
    symlink in it may point out of the tree."""
    stack = [top]
    while stack:
        d = stack.pop()
        st = os.lstat(d)
        owner_rx = st.st_mode & stat.S_IRUSR and st.st_mode & stat.S_IXUSR
        if not owner_rx or not os.access(d, os.R_OK | os.X_OK):
            raise UserError(f"directory {d} is unreadable (mode {stat.S_IMODE(st.st_mode):03o})",
                            path=d, hint="the clients' early-boot program copies it into RAM: "
                            "make it readable (chmod u+rx) or leave it out of the writable paths")
        try:
            entries = list(os.scandir(d))
        except OSError as e:
            raise UserError(f"cannot read directory {d}: {e.strerror}", path=d) from None
        for ent in entries:
            p = Path(ent.path)
            if ent.is_symlink():
                out = _escapes(root, p)
                if out is not None:
                    raise UserError(f"symlink {p} -> {out} points out of the tree {root}", path=p,
                                    hint="clients would follow it to a path outside the shared "
                                    "root: make it absolute (resolved inside the root) or remove it")
            elif ent.is_dir(follow_symlinks=False):
                stack.append(p)


def plan(root: Path, paths: tuple[str, ...] = DEFAULT_PATHS, mode: str = "ro-shared") -> list[Step]:
    """The steps that would make ``root`` prepared; raises UserError (and writes nothing)
    for anything unsafe."""
    if mode not in MODES:
        raise UserError(f"root mode {mode!r} needs no prepare" if mode == "rw"
                        else f"unknown root mode {mode!r}", hint=f"modes: {', '.join(MODES)}")
    st = _lstat(root)
    if st is None or not stat.S_ISDIR(st.st_mode):
        raise UserError(f"{root} is not a directory", hint="name the root tree to prepare")
    root = root.resolve()
    steps: list[Step] = []
    if mode == "ro-shared":
        rels = list(dict.fromkeys(_clean(p, root) for p in paths))
        for a in rels:
            for b in rels:
                if a != b and b.startswith(a + "/"):
                    raise UserError(f"writable paths /{a} and /{b} overlap", hint=f"keep /{a} only")
        flash = _lstat(root / FLASH)
        if flash is not None and not stat.S_ISDIR(flash.st_mode):
            raise UserError(f"{root / FLASH} exists and is not a directory", path=root / FLASH,
                            hint="/flash is where prepare moves the writable paths: remove or rename it")
        for rel in rels:
            steps += _plan_path(root, rel)
    if mode == "overlay":
        run = _lstat(root / "run")
        if run is None:
            steps.append(Step("mkdir", "run"))
        elif not stat.S_ISDIR(run.st_mode):
            raise UserError(f"{root / 'run'} is not a directory", path=root / "run",
                            hint="the overlay's upper is a tmpfs mounted on /run")
    prog = _program_path(root)
    if not prog.is_file() or prog.read_bytes() != program_text():
        steps.append(Step("install", str(prog.relative_to(root))))
    return steps


def _plan_path(root: Path, rel: str) -> list[Step]:
    # every parent must be a real directory inside the tree: a symlinked parent could
    # lead the move (and the clients' link) anywhere
    cur = root
    for part in rel.split("/")[:-1]:
        cur = cur / part
        st = _lstat(cur)
        if st is None:
            break
        if stat.S_ISLNK(st.st_mode):
            raise UserError(f"/{rel}: its parent {cur} is a symlink (-> {os.readlink(cur)})", path=cur,
                            hint="declare the path the link points to instead")
        if not stat.S_ISDIR(st.st_mode):
            raise UserError(f"/{rel}: its parent {cur} is not a directory", path=cur)
    p = root / rel
    st = _lstat(p)
    if _ours(root, rel):
        return []
    if st is None:
        return [Step("create", rel)]
    if stat.S_ISLNK(st.st_mode):
        target = os.readlink(p)
        out = _escapes(root, p)
        raise UserError(f"/{rel} is a symlink to {target}" + (" (out of the tree)" if out else ""),
                        path=p, hint="declare the directory it points to instead"
                        + ("" if not out else ", inside the tree"))
    if not stat.S_ISDIR(st.st_mode):
        raise UserError(f"/{rel} is a file, not a directory", path=p,
                        hint="declare the directory holding it: a writable path is moved "
                        f"whole to /{FLASH} and replaced by a symlink")
    _check_subtree(root, p)
    dest = _lstat(root / FLASH / rel)
    if dest is not None and not stat.S_ISLNK(dest.st_mode):
        raise UserError(f"/{FLASH}/{rel} already exists while /{rel} is still a directory",
                        path=root / FLASH / rel,
                        hint="merge or remove one of them by hand (kbuild does not merge trees)")
    return [Step("move", rel)]


def _program_path(root: Path) -> Path:
    """Where the program goes, with /sbin resolved inside the tree (Debian's merged /usr
    makes it a link to usr/sbin)."""
    top, rest = ROOT_PROGRAM.lstrip("/").split("/", 1)
    sbin = root / top
    st = _lstat(sbin)
    if st is not None and stat.S_ISLNK(st.st_mode):
        target = os.readlink(sbin)
        if _escapes(root, sbin) is not None:
            raise UserError(f"{sbin} -> {target} points out of the tree", path=sbin)
        return root / target.lstrip("/") / rest
    return root / top / rest


class _Journal:
    def __init__(self, root: Path) -> None:
        self.path = root / JOURNAL

    def records(self) -> list[dict[str, str]]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue          # a torn last line of a killed run
            if isinstance(rec, dict):
                out.append(rec)
        return out

    def add(self, **rec: str) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(rec, sort_keys=True) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)


def _exchange(a: Path, b: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise InfraError(f"cannot swap {a} and {b}: {os.strerror(err)}",
                         hint="the tree must be on one local file system that supports "
                         "RENAME_EXCHANGE (ext4, xfs, btrfs, tmpfs)")


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mkdirs(root: Path, rel: str, journal: _Journal) -> None:
    cur = root
    for part in rel.split("/"):
        cur = cur / part
        if _lstat(cur) is None:
            journal.add(op="mkdir", path=str(cur.relative_to(root)))
            os.mkdir(cur, 0o755)


def _stage_link(root: Path, rel: str, at: Path) -> None:
    """A symlink ``at`` -> /flash/rel, made atomically (an old staged link is replaced)."""
    tmp = at.with_name(at.name + ".kbuild-tmp")
    if _lstat(tmp) is not None:
        os.unlink(tmp)
    os.symlink(_link_target(rel), tmp)
    os.replace(tmp, at)


def _program_tmp(prog: Path) -> Path:
    return prog.with_name("." + prog.name + ".kbuild-tmp")


def _write_program(prog: Path) -> None:
    """Write the program atomically through a fixed temp name (so that a killed run's
    temp is found and removed by the next run or by undo)."""
    tmp = _program_tmp(prog)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o755)
    try:
        os.write(fd, program_text())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o755)
    os.replace(tmp, prog)


def prepare(root: Path, paths: tuple[str, ...] = DEFAULT_PATHS, mode: str = "ro-shared",
            dry_run: bool = False) -> Outcome:
    """Prepare ``root`` (see the module docstring); completes a killed earlier run."""
    steps = plan(root, paths, mode)
    root = root.resolve()
    if dry_run or not steps:
        return Outcome(steps, [], dry_run)
    journal = _Journal(root)
    journal.add(op="plan", mode=mode, paths=" ".join("/" + s.path for s in steps))
    done = []
    for s in steps:
        if s.kind == "move":
            _mkdirs(root, str(PurePosixPath(FLASH, s.path).parent), journal)
            staged = root / FLASH / s.path
            journal.add(op="move", path=s.path)
            _stage_link(root, s.path, staged)
            _exchange(root / s.path, staged)      # the one step that changes the layout
            _fsync_dir(staged.parent)
            _fsync_dir((root / s.path).parent)
        elif s.kind == "create":
            _mkdirs(root, f"{FLASH}/{s.path}", journal)
            _mkdirs(root, str(PurePosixPath(s.path).parent), journal)
            journal.add(op="create", path=s.path)
            _stage_link(root, s.path, root / s.path)
        elif s.kind == "mkdir":
            _mkdirs(root, s.path, journal)
        else:
            prog = root / s.path
            _mkdirs(root, str(PurePosixPath(s.path).parent), journal)
            journal.add(op="install", path=s.path)
            _write_program(prog)
        done.append(s.describe())
    journal.add(op="complete")
    return Outcome(steps, done, False)


def undo(root: Path, dry_run: bool = False) -> Outcome:
    """Put back what the journal says prepare did, newest first; removes the journal."""
    st = _lstat(root)
    if st is None or not stat.S_ISDIR(st.st_mode):
        raise UserError(f"{root} is not a directory")
    root = root.resolve()
    journal = _Journal(root)
    records = journal.records()
    if not records:
        if _lstat(journal.path) is None:
            raise UserError(f"{root} has no {JOURNAL}: nothing kbuild did to undo",
                            hint="kbuild root prepare leaves the journal in the tree it prepared")
    steps: list[Step] = []
    for rec in reversed(records):
        op, rel = rec.get("op"), rec.get("path", "")
        if op in ("move", "create") and rel:
            steps.append(Step(op, rel))
        elif op == "install" and rel:
            steps.append(Step("install", rel))
        elif op == "mkdir" and rel:
            steps.append(Step("mkdir", rel))
    if dry_run:
        return Outcome(steps, [], True)
    done = []
    for s in steps:
        p = root / s.path
        if s.kind == "move":
            staged = root / FLASH / s.path
            tmp = staged.with_name(staged.name + ".kbuild-tmp")
            if _lstat(tmp) is not None:
                os.unlink(tmp)
            if _ours(root, s.path):
                _exchange(p, staged)              # the directory is back in place
                _fsync_dir(p.parent)
            sst = _lstat(staged)
            if sst is not None and stat.S_ISLNK(sst.st_mode):
                os.unlink(staged)
            done.append(f"moved /{FLASH}/{s.path} back to /{s.path}")
        elif s.kind == "create":
            pst = _lstat(p)
            if pst is not None and stat.S_ISLNK(pst.st_mode) and os.readlink(p) == _link_target(s.path):
                os.unlink(p)
            tmp = p.with_name(p.name + ".kbuild-tmp")
            if _lstat(tmp) is not None:
                os.unlink(tmp)
            done.append(f"removed the link /{s.path}")
        elif s.kind == "install":
            if _lstat(_program_tmp(p)) is not None:
                os.unlink(_program_tmp(p))
            if p.is_file() and not p.is_symlink() and p.read_bytes() == program_text():
                p.unlink()
            done.append(f"removed /{s.path}")
        else:
            try:
                os.rmdir(p)
                done.append(f"removed directory /{s.path}")
            except FileNotFoundError:
                pass
            except OSError as e:
                if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                done.append(f"kept /{s.path}: not empty")
    journal.path.unlink(missing_ok=True)
    return Outcome(steps, done, False)
