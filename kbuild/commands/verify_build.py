"""``kbuild verify-build PROFILE``: rebuild from the same locked inputs in a scratch
directory with the compiler cache off and say whether the image is bit-identical to the
recorded build. Exit status: 0 identical, 1 different, 2 bad input."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kbuild.build.rebuild import verify_build
from kbuild.commands.common import add_site_argument
from kbuild.errors import UserError
from kbuild.site.load import load_site
from kbuild.util.progress import ProgressLine


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("profile", metavar="PROFILE", help="a built profile of kbuild.toml")
    add_site_argument(p)
    p.add_argument("--scratch", type=Path, metavar="DIR",
                   help="rebuild in DIR (kept; an existing one is rebuilt incrementally); "
                        "default: a fresh directory under artifacts/verify-build, removed "
                        "when the images are identical")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    p.add_argument("--manifest", type=Path, metavar="FILE",
                   help="compare with the image_sha256 a published kbuild-manifest.json (or "
                        "the tree holding it) records for PROFILE, not the build record's")
    p.add_argument("--json", action="store_true", help="print the result as one JSON document")


def run(args: argparse.Namespace) -> int:
    site = load_site(args.site)
    expected, expected_from = None, None
    if args.manifest is not None:
        expected, expected_from = _published_digest(args.manifest, args.profile)
    with ProgressLine() as progress:
        report = verify_build(site, site.profile(args.profile), args.scratch, args.keep, progress,
                              expected=expected, expected_from=expected_from)
    if args.json:
        print(json.dumps({"profile": report.profile, "identical": report.identical,
                          "expected_sha256": report.expected_sha256,
                          "expected_from": report.expected_from,
                          "rebuilt_sha256": report.rebuilt_sha256,
                          "difference": report.difference, "config_changed": report.config_changed,
                          "scratch": str(report.scratch) if report.kept else None,
                          "seconds": round(report.seconds, 1), "log": str(report.log)}, indent=2))
    print(report.summary(), file=sys.stderr)
    return 0 if report.identical else 1


def _published_digest(path: Path, profile: str) -> tuple[str, str]:
    """The image_sha256 that the manifest at ``path`` (a file, or a tree holding one)
    records for ``profile``, and how to name where it came from."""
    from kbuild.publish.manifest import MANIFEST_NAME, expected_image_digest, load_manifest

    file = path / MANIFEST_NAME if path.is_dir() else path
    if not file.is_file():
        raise UserError("no kbuild manifest here", path=file,
                        hint="name a published tree or its kbuild-manifest.json")
    digest = expected_image_digest(load_manifest(file, check_paths=False), profile)
    if digest is None or len(digest) != 64:
        raise UserError(f"the manifest records no image_sha256 for profile {profile!r}", path=file,
                        hint=f"publish the profile again (doit stage:{profile}) with this kbuild")
    return digest, str(file)
