"""``deb`` sources: resolve against the signed index, lock, fetch into the cache.

The rules (README "Sources and pins"):
- the locked version is used while the index offers it with the same .deb sha256;
- when it is gone (or was re-published with other content), the default is to
  re-resolve within the declared ``upstream`` range, say so in one line and update
  kbuild.lock; in locked mode (``--locked``, ``KBUILD_LOCKED=1`` or ``[site]
  locked = true``) that is an error naming the versions offered;
- ``kbuild pin SOURCE --latest | --version V`` moves the lock on purpose.
Every value in the lock comes from the signed index or from the verified .deb,
never from a file that happens to be on the machine.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

from kbuild.errors import InfraError, UserError
from kbuild.site import layout
from kbuild.site.lock import LockEntry, read_lock, write_entry
from kbuild.site.model import Site, Source
from kbuild.source.apt import AptState, Candidate, extract_member
from kbuild.util import versions as debversion
from kbuild.util.files import exclusive_lock, sha256_file
from kbuild.util.progress import Progress

_STATES: dict[Path, AptState] = {}


def locked_mode(site: Site, explicit: bool = False) -> bool:
    env = os.environ.get("KBUILD_LOCKED", "").strip().lower()
    return explicit or site.locked or env in ("1", "yes", "true")


def apt_state(site: Site) -> AptState:
    if site.apt is None:
        raise UserError("the site has deb sources but no [apt] table", path=site.path)
    root = site.artifacts / "apt"
    key = root / site.apt.digest()
    if key not in _STATES:
        _STATES[key] = AptState(site.apt, root)
    return _STATES[key]


def cache_path(site: Site, entry: LockEntry) -> Path:
    return layout.cached_payload(site, entry.sha256, entry.filename)


def offered(site: Site, src: Source) -> list[Candidate]:
    """Versions of the source's package in its upstream range, newest first."""
    assert src.package and src.upstream
    every = apt_state(site).candidates(src.package)
    return [c for c in every if debversion.in_range(c.version, src.upstream)]


def _offers_text(cands: list[Candidate]) -> str:
    return ", ".join(c.version for c in cands) or "none"


def needs_network(site: Site, src: Source) -> bool:
    """True when fetching this deb source cannot be done from the cache alone."""
    return src.locked is None or not cache_path(site, src.locked).is_file()


def resolve(site: Site, src: Source, *, locked: bool = False, say: Progress | None = None,
            progress: Progress | None = None) -> Source:
    """Make sure the source is locked to a version the index offers; returns the locked Source.

    A locked version still offered (same .deb sha256) is kept. Otherwise: re-resolve
    to the newest version in range (one line through ``say``), or in locked mode fail.
    """
    say = say or (lambda line: print(line, file=sys.stderr))
    entry = src.locked
    if entry is not None and cache_path(site, entry).is_file():
        return src
    cands = offered(site, src)
    if entry is not None:
        same = [c for c in cands if c.version == entry.version]
        if any(c.sha256 == entry.deb_sha256 for c in same):
            return src
        if same:
            why = (f"{entry.describe()} was re-published with different content (.deb sha256 "
                   f"{entry.deb_sha256[:12]}… -> {same[0].sha256[:12]}…)")
        else:
            why = f"{entry.describe()} is no longer offered by the package index"
    else:
        why = ""
    if locked and entry is not None:
        raise UserError(f"source {src.name!r}: {why}", path=site.lock_file,
                        hint=f"versions offered in {src.upstream}: {_offers_text(cands)}; "
                             f"move the lock on purpose with: kbuild pin {src.name} --latest")
    if locked:
        raise UserError(f"source {src.name!r} is not in {site.lock_file.name} and locked mode "
                        "forbids resolving it", path=site.lock_file,
                        hint=f"versions offered: {_offers_text(cands)}; lock one with: "
                             f"kbuild pin {src.name} --latest")
    if not cands:
        raise UserError(f"no version of {src.package} in the range {src.upstream!r} is offered by "
                        "the package index", path=site.path, line=src.line,
                        hint="widen upstream in the source, or check [apt] repositories")
    new = pin(site, src, cands[0], progress=progress)
    if entry is None:
        say(f"{site.lock_file.name}: locked {src.name} to {new.describe()}")
    else:
        say(f"{site.lock_file.name}: {src.name}: {why}; moved {entry.version} -> {new.version} "
            f"(upstream {entry.upstream} -> {new.upstream})")
    return dataclasses.replace(src, sha256=new.sha256, locked=new)


def pin(site: Site, src: Source, cand: Candidate, progress: Progress | None = None) -> LockEntry:
    """Fetch ``cand``, take its file out, put it in the cache and write the lock entry."""
    payload, member, digest = _fetch_candidate(site, src, cand, progress)
    entry = LockEntry(package=cand.package, version=cand.version, upstream=cand.upstream,
                      architecture=cand.architecture, deb=cand.filename, deb_size=cand.size,
                      deb_sha256=cand.sha256, file=member, sha256=digest)
    final = cache_path(site, entry)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(payload, final)
    with exclusive_lock(site.artifacts / ".kbuild.lock.lock", "kbuild.lock"):
        write_entry(site.lock_file, src.name, entry)
    return entry


def _fetch_candidate(site: Site, src: Source, cand: Candidate,
                     progress: Progress | None) -> tuple[Path, str, str]:
    deb = apt_state(site).download(cand, layout.deb_cache_dir(site), progress)
    tmpdir = layout.cache_dir(site) / "tmp"
    tmp = tmpdir / f"{src.name}-{os.getpid()}"
    member, digest = extract_member(deb, src.member, tmp)
    return tmp, member, digest


def fetch(site: Site, src: Source, progress: Progress | None = None, locked: bool = False) -> Path:
    """The locked file of a deb source, in the cache (downloaded and verified if needed)."""
    src = resolve(site, src, locked=locked_mode(site, locked), progress=progress)
    entry = src.locked
    assert entry is not None
    final = cache_path(site, entry)
    if final.is_file():
        if sha256_file(final) == entry.sha256:
            return final
        final.unlink()  # damaged on disk: fetch again
    cand = _locked_candidate(site, src, entry)
    payload, member, digest = _fetch_candidate(site, src, cand, progress)
    if member != entry.file or digest != entry.sha256:
        payload.unlink()
        raise UserError(f"{entry.describe()}: {member} has sha256 {digest}, but {site.lock_file.name} "
                        f"says {entry.file} has {entry.sha256}", path=site.lock_file,
                        hint="the package differs from the locked one although its .deb matches: "
                             f"review, then move the lock with: kbuild pin {src.name} --latest")
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(payload, final)
    return final


def _locked_candidate(site: Site, src: Source, entry: LockEntry) -> Candidate:
    for c in offered(site, src):
        if c.version == entry.version and c.sha256 == entry.deb_sha256:
            return c
    raise InfraError(f"{entry.describe()} is not offered by the package index any more",
                     path=site.lock_file, hint=f"kbuild pin {src.name} --latest")


def relock_site(site: Site, say: Progress | None = None, needed: set[str] | None = None) -> Site:
    """Resolve every deb source whose file is not cached yet (before doit builds its tasks).

    Sources already in the cache cost nothing (no network). With ``needed`` (names of
    sources), a source that is locked but not cached is resolved only if it is needed;
    one without a lock entry always is (its files cannot be named otherwise). Returns the
    site with the lock entries it now has.
    """
    changed = False
    for src in list(site.sources.values()):
        if not src.is_deb or not needs_network(site, src):
            continue
        if needed is not None and src.locked is not None and src.name not in needed:
            continue
        new = resolve(site, src, locked=locked_mode(site), say=say)
        if new.locked != src.locked:
            changed = True
    if not changed:
        return site
    entries = read_lock(site.lock_file)
    sources = {n: (dataclasses.replace(s, sha256=entries[n].sha256, locked=entries[n])
                   if s.is_deb and n in entries else s) for n, s in site.sources.items()}
    return dataclasses.replace(site, sources=sources)


def pin_to(site: Site, src: Source, version: str | None) -> tuple[LockEntry | None, LockEntry]:
    """``kbuild pin``: lock ``src`` to the latest offered version in range, or to ``version``."""
    cands = offered(site, src)
    if version is None:
        if not cands:
            raise UserError(f"no version of {src.package} in {src.upstream!r} is offered",
                            path=site.path, line=src.line)
        choice = cands[0]
    else:
        every = apt_state(site).candidates(src.package or "")
        match = [c for c in every if c.version == version]
        if not match:
            raise UserError(f"{src.package} {version} is not offered by the package index",
                            hint=f"versions offered: {_offers_text(every)}")
        if not debversion.in_range(version, src.upstream or "*"):
            raise UserError(f"{src.package} {version} is outside the source's range {src.upstream!r}",
                            path=site.path, line=src.line, hint="widen upstream in kbuild.toml first")
        choice = match[0]
    old = src.locked
    if old is not None and old.version == choice.version and old.deb_sha256 == choice.sha256 \
            and cache_path(site, old).is_file():
        return old, old
    return old, pin(site, src, choice)
