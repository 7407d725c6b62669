"""``kbuild rollback``: make the previous published generation live again."""
from __future__ import annotations

import argparse
import sys

from kbuild.commands.common import add_target_arguments, target_dir
from kbuild.publish.apply import rollback
from kbuild.site.load import load_site


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_target_arguments(p)


def run(args: argparse.Namespace) -> int:
    site = load_site(args.site)
    report = rollback(target_dir(site, args.to))
    print(report.summary(), file=sys.stderr)
    return 0
