"""``kbuild publish`` and ``kbuild rollback``: the TFTP tree on a real server."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kbuild.publish import apply as publish
from kbuild.publish import stage
from kbuild.site.load import load_site
from kbuild.site.model import Site


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--site", type=Path,
                   help="site file (default: $KBUILD_SITE, else kbuild.toml found upwards)")
    p.add_argument("--to", type=Path, metavar="DIR",
                   help="target directory (default: site.tftp_root, e.g. /srv/tftp)")


def add_publish_arguments(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")


def add_rollback_arguments(p: argparse.ArgumentParser) -> None:
    _common(p)


def _target(site: Site, to: Path | None) -> Path:
    return (to or site.tftp_root).resolve()


def run_publish(args: argparse.Namespace) -> int:
    from kbuild.verify.profile import verify_profile
    from kbuild.verify.render import failed_error

    site = load_site(args.site)
    target = _target(site, args.to)
    # Never publish an entry whose kernel cannot boot it (profile or host entries).
    for built in stage.built_profiles(site):
        checked = verify_profile(site, built.profile)
        if not checked.passed:
            raise failed_error(checked)
    report, plan = stage.stage_with_plan(site, target, dry_run=args.dry_run)
    for w in plan.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if args.dry_run:
        for rel in report.written:
            print(f"would write  {rel}")
        for rel in report.removed:
            print(f"would remove {rel}")
    print(report.summary(), file=sys.stderr)
    return 0


def run_rollback(args: argparse.Namespace) -> int:
    site = load_site(args.site)
    report = publish.rollback(_target(site, args.to))
    print(report.summary(), file=sys.stderr)
    return 0
