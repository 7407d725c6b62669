"""``kbuild check-site``: validate kbuild.toml (and kbuild.lock) and print a summary,
with warnings about inputs nothing but their own content vouches for."""
from __future__ import annotations

import argparse
import sys

from kbuild.commands.common import add_site_argument
from kbuild.site.load import load_site
from kbuild.site.model import Site


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_site_argument(p)


def run(args: argparse.Namespace) -> int:
    site = load_site(args.site)
    for w in warnings(site):
        print(w, file=sys.stderr)
    print(summary(site))
    return 0


def warnings(site: Site) -> list[str]:
    """What is valid but weak: inputs nothing but their own content vouches for."""
    out = []
    for src in site.sources.values():
        if src.url.startswith("file://") and not src.signature:
            out.append(f"{site.path.name}:{src.line}: warning: source {src.name!r} is a local file "
                       "pinned by its own content: nothing vouches for it\n"
                       f"  fix: make it a deb source (package = ..., upstream = ...) resolved from the "
                       "signed package index, or give a signature and keyring")
        if src.is_deb and src.locked is None:
            out.append(f"{site.path.name}:{src.line}: warning: deb source {src.name!r} is not in "
                       f"{site.lock_file.name} yet: the first fetch locks it\n"
                       f"  fix: kbuild pin {src.name} --latest, then commit {site.lock_file.name}")
    return out


def summary(site: Site) -> str:
    lines = [f"{site.path}: ok"]
    lines.append(f"  sources: {', '.join(sorted(site.sources))}")
    for src in site.sources.values():
        if src.is_deb:
            lines.append(f"  source {src.name}: deb {src.package} {src.upstream!r}, locked: "
                         + (src.locked.describe() if src.locked else "no"))
    for p in site.profiles.values():
        lines.append(f"  profile {p.name}: {p.arch} {p.image} from {p.source}, base {p.base}, "
                     f"{len(p.fragments)} fragments" + (f", patches {p.patches}" if p.patches else ""))
    lines.append(f"  hosts: {len(site.hosts)}; TFTP root: {site.tftp_root}")
    return "\n".join(lines)
