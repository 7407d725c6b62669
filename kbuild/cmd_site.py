"""``kbuild check-site`` and ``kbuild pin``: the site file itself."""
from __future__ import annotations

import argparse
import re
import sys
import urllib.parse
from pathlib import Path

from kbuild.errors import UserError
from kbuild.fsutil import atomic_write_text, sha256_file
from kbuild.site import Site, find_site_file, load_site


def _site_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--site", type=Path, help="site file (default: kbuild.toml found upwards from here)")


def add_check_site_arguments(p: argparse.ArgumentParser) -> None:
    _site_arg(p)


def add_pin_arguments(p: argparse.ArgumentParser) -> None:
    _site_arg(p)
    p.add_argument("source", help="name of a [sources.NAME] table with a file:// URL")
    p.add_argument("--dry-run", action="store_true", help="print the new pin, change nothing")


def run_check_site(args: argparse.Namespace) -> int:
    site = load_site(args.site)
    print(summary(site))
    return 0


def summary(site: Site) -> str:
    lines = [f"{site.path}: ok"]
    lines.append(f"  sources: {', '.join(sorted(site.sources))}")
    for p in site.profiles.values():
        lines.append(f"  profile {p.name}: {p.arch} {p.image} from {p.source}, base {p.base}, "
                     f"{len(p.fragments)} fragments" + (f", patches {p.patches}" if p.patches else ""))
    lines.append(f"  hosts: {len(site.hosts)}; TFTP root: {site.tftp_root}")
    return "\n".join(lines)


def run_pin(args: argparse.Namespace) -> int:
    path = Path(args.site) if args.site else find_site_file()
    site = load_site(path)
    src = site.sources.get(args.source)
    if src is None:
        raise UserError(f"no source named {args.source!r}", path=path,
                        hint=f"sources: {', '.join(sorted(site.sources))}")
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
