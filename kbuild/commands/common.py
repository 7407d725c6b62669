"""Arguments several subcommands share."""
from __future__ import annotations

import argparse
from pathlib import Path

from kbuild.site.model import Site


def add_site_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--site", type=Path,
                   help="site file (default: $KBUILD_SITE, else kbuild.toml found upwards)")


def add_target_arguments(p: argparse.ArgumentParser) -> None:
    """--site and --to: a published tree (publish, rollback)."""
    add_site_argument(p)
    p.add_argument("--to", type=Path, metavar="DIR",
                   help="target directory (default: site.tftp_root, e.g. /srv/tftp)")


def target_dir(site: Site, to: Path | None) -> Path:
    return (to or site.tftp_root).resolve()
