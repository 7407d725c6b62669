"""``kbuild pin``: move a deb source's entry in kbuild.lock (from the signed index), or
re-pin a ``file://`` source to its content."""
from __future__ import annotations

import argparse
import re
import sys
import urllib.parse
from pathlib import Path

from kbuild.commands.common import add_site_argument
from kbuild.errors import UserError
from kbuild.site.load import find_site_file, load_site
from kbuild.site.model import Site, Source
from kbuild.util.files import atomic_write_text, sha256_file


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_site_argument(p)
    p.add_argument("source", help="name of a [sources.NAME] table: a deb source (moves its entry in "
                                  "kbuild.lock) or a file:// URL (recomputes its sha256)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--latest", action="store_true",
                       help="deb source: lock the newest version in its upstream range (the default)")
    which.add_argument("--version", metavar="V", help="deb source: lock exactly Debian version V")
    p.add_argument("--dry-run", action="store_true", help="print the new pin, change nothing")


def run(args: argparse.Namespace) -> int:
    path = Path(args.site) if args.site else find_site_file()
    site = load_site(path)
    src = site.sources.get(args.source)
    if src is None:
        raise UserError(f"no source named {args.source!r}", path=path,
                        hint=f"sources: {', '.join(sorted(site.sources))}")
    if src.is_deb:
        return _pin_deb(site, src, args)
    if args.latest or args.version:
        raise UserError(f"--latest and --version apply to deb sources; {src.name!r} is a URL source",
                        path=path, line=src.line)
    parts = urllib.parse.urlsplit(src.url)
    if parts.scheme != "file":
        raise UserError(f"source {src.name!r} is {parts.scheme}://: take its pin from the "
                        "publisher's checksum list (kernel.org: sha256sums.asc, checked with gpg), "
                        "not from the download itself", path=path, line=src.line)
    local = Path(urllib.parse.unquote(parts.path))
    if not local.is_file():
        raise UserError(f"{local} does not exist", path=path, line=src.line,
                        hint="install the package that provides it (scripts/setup)")
    digest = sha256_file(local)
    new_text, line = replace_pin(path.read_text(), site, src.name, digest)
    if digest == src.sha256:
        print(f"{path.name}:{line}: {src.name} already pinned to {digest}")
        return 0
    if args.dry_run:
        print(f"{path.name}:{line}: would pin {src.name} to {digest} (was {src.sha256})")
        return 0
    atomic_write_text(path, new_text)
    print(f"{path.name}:{line}: pinned {src.name} to {digest} (was {src.sha256})", file=sys.stderr)
    return 0


def replace_pin(text: str, site: Site, name: str, digest: str) -> tuple[str, int]:
    line = site.line_of("sources", name, "sha256")
    lines = text.splitlines(keepends=True)
    if line is None or not re.match(r"^\s*sha256\s*=", lines[line - 1]):
        raise UserError(f"cannot find the sha256 line of source {name!r}", path=site.path,
                        hint="edit the pin by hand")
    old = lines[line - 1]
    lines[line - 1] = re.sub(r'=\s*"[^"]*"', f'= "{digest}"', old, count=1)
    return "".join(lines), line


def _pin_deb(site: Site, src: Source, args: argparse.Namespace) -> int:
    from kbuild.source import deb as debsource

    lock = site.lock_file.name
    if args.dry_run:
        cands = debsource.offered(site, src)
        want = args.version or (cands[0].version if cands else None)
        now = src.locked.version if src.locked else "nothing"
        offered = ", ".join(c.version for c in cands) or "none"
        print(f"{lock}: {src.name} is locked to {now}; would lock {want} (offered: {offered})")
        return 0
    old, new = debsource.pin_to(site, src, args.version)
    if old == new:
        print(f"{lock}: {src.name} already locked to {new.describe()}")
    else:
        was = old.describe() if old else "not locked"
        print(f"{lock}: locked {src.name} to {new.describe()} (was {was})", file=sys.stderr)
    return 0
