"""``kbuild fetch``: sources into the cache (deb sources from the signed index, as locked)."""
from __future__ import annotations

import argparse

from kbuild.commands.common import add_site_argument
from kbuild.errors import UserError
from kbuild.site.load import load_site


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_site_argument(p)
    p.add_argument("sources", nargs="*", metavar="SOURCE", help="sources to fetch (default: all)")
    p.add_argument("--locked", action="store_true",
                   help="fail instead of moving kbuild.lock when a locked version is gone "
                        "(also KBUILD_LOCKED=1, or [site] locked = true)")


def run(args: argparse.Namespace) -> int:
    from kbuild.source.kinds import fetch_source

    site = load_site(args.site)
    names = args.sources or sorted(site.sources)
    for name in names:
        if name not in site.sources:
            raise UserError(f"no source named {name!r}", path=site.path,
                            hint=f"sources: {', '.join(sorted(site.sources))}")
    for name in names:
        src = site.sources[name]
        path = fetch_source(site, src, locked=args.locked)
        site = load_site(site.path)  # the lock may have moved
        print(f"{name}: {site.sources[name].describe()} -> {path}")
    return 0
