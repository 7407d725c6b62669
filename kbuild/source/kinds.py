"""The two kinds of source behind one fetch: ``deb`` (the signed package index and
kbuild.lock) and ``url`` (a pinned download, optionally signature-checked).

A site's source, whatever its kind, ends up as one file in the sha256-keyed cache;
:func:`source_provenance` says what identifies it beyond that digest.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kbuild.site import layout
from kbuild.site.model import Site, Source
from kbuild.source import download

Progress = Callable[[str], None]


def fetch_source(site: Site, src: Source, progress: Progress | None = None,
                 offline: bool = False, locked: bool = False) -> Path:
    """The source's file in the cache, fetched and verified when it is not there yet."""
    if src.is_deb:
        from kbuild.source import deb as debsource

        return debsource.fetch(site, src, progress, locked=locked)
    policy = download.FetchPolicy(offline=offline)
    dest = layout.cached_file(site, src)
    check = None
    if src.signature and src.keyring:
        from kbuild.source import signature

        def check(part: Path) -> None:
            sig = download.fetch_small(src.signature or "", dest.parent / (dest.name + ".sig"), policy)
            signature.check_signature(part, sig, Path(src.keyring or ""), signed=src.signed,
                                      shown=src.filename)
    return download.fetch(src.urls, src.sha256, dest, policy, progress, check)


def source_provenance(src: Source) -> dict[str, str]:
    """What identifies a deb source beyond its file's sha256 (build record, manifest)."""
    if not src.locked:
        return {}
    e = src.locked
    return {"source_package": e.package, "source_version": e.version, "source_upstream": e.upstream,
            "source_deb_sha256": e.deb_sha256}
