"""``kbuild root prepare DIR``: make a root tree shareable read-only (docs/root.md).

Moves the declared writable paths under /flash (``ro-shared``), installs the early-boot
program, and keeps a journal so that a killed run is completed by running it again or
undone by ``--undo``. ``--dry-run`` lists every change and makes none.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kbuild.root.prepare import DEFAULT_PATHS, MODES, prepare, undo


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="root_command", metavar="ACTION")
    sub.required = True
    prep = sub.add_parser("prepare", help="install the early-boot program and move the "
                          "writable paths of a root tree under /flash")
    prep.add_argument("dir", metavar="DIR", help="the root tree (as exported over NFS)")
    prep.add_argument("--mode", choices=MODES, default="ro-shared",
                      help="ro-shared (default): writable paths in a tmpfs on /flash; "
                           "overlay: the whole / in RAM over the read-only root")
    prep.add_argument("--path", dest="paths", action="append", metavar="/PATH",
                      help="a writable directory (repeatable; default: "
                           + " ".join(DEFAULT_PATHS) + ")")
    prep.add_argument("--dry-run", action="store_true", help="list every change, make none")
    prep.add_argument("--undo", action="store_true",
                      help="put back what the journal says an earlier prepare did")


def run(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    if args.undo:
        out = undo(root, dry_run=args.dry_run)
    else:
        out = prepare(root, tuple(args.paths or DEFAULT_PATHS), args.mode, dry_run=args.dry_run)
    lines = out.done if (out.done and not out.dry_run) else out.lines()
    if args.undo and out.dry_run:
        lines = [f"would undo: {s.describe()}" for s in out.steps] or ["nothing to undo"]
    for line in lines:
        print(line, file=sys.stderr)
    return 0
