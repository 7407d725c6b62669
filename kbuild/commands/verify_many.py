"""``kbuild verify A B C ...`` or ``kbuild verify DIR``: many configs in one process.

One verdict line per file on stdout (``PATH: PASS: ...``, ``PATH: FAIL: ...``), the
message of a file that is not a readable config on stderr (``PATH[:LINE]: error: ...``),
then a count on stdout. Rules and the boot entry are read once. The exit
status is the worst of the files': 2 if any input was bad, else 1 if any requirement
failed, else 0. ``--json``: one document, ``{"configs": [...], "exit_code": N}``, each
item a verify report or error document with the file's ``path``.
"""
from __future__ import annotations

import os
import sys

from kbuild.errors import KbuildError, UserError, describe
from kbuild.util.record import record

TYPE_CHECKING = False   # typing is not imported on `kbuild verify`'s path (issue 13)

if TYPE_CHECKING:
    import argparse
    from typing import Any

    from kbuild.boot.spec import BootSpec
    from kbuild.rules.model import RuleSet


@record(frozen=True)
class Options:
    """What every config of one call is checked against."""

    entry: BootSpec | None
    nics: list[str]
    rules: RuleSet
    dom0: bool | None


def config_files(names: list[str]) -> list[str]:
    """The files named, a directory standing for every regular file below it (sorted, hidden
    names skipped), in the order given."""
    out: list[str] = []
    for name in names:
        if not os.path.isdir(name):
            out.append(name)
            continue
        found = []
        for root, dirs, files in os.walk(name):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found += [os.path.join(root, f) for f in files if not f.startswith(".")
                      and os.path.isfile(os.path.join(root, f))]
        if not found:
            raise UserError("no config files in this directory", path=name,
                            hint="name the files, or a directory that holds them")
        out += sorted(found)
    return out


def run_many(args: argparse.Namespace, options: Options) -> int:
    from kbuild.verify.check import verify_config
    from kbuild.verify.render import error_json, report_json, verdict_line

    for flag, given in (("--profile", args.profile), ("--fix", args.fix)):
        if given is not None:
            raise UserError(f"{flag} checks one config", hint="name one CONFIG with " + flag)
    files = config_files(args.config)
    worst = 0
    counts = {"PASS": 0, "FAIL": 0, "error": 0}
    documents: list[dict[str, Any]] = []
    lines: list[str] = []
    for path in files:
        try:
            report = verify_config(path, kernel_version=args.kernel_version, arch=args.arch,
                                   entry=options.entry, nics=options.nics, dom0=options.dom0,
                                   rules=options.rules, srctree=args.srctree,
                                   traits=getattr(args, "trait", ()))
        except KbuildError as e:
            code = e.exit_code
            counts["error"] += 1
            if args.json:
                documents.append({"path": path, **error_json(e)})
            else:
                sys.stdout.write("".join(line + "\n" for line in lines))
                lines.clear()
                sys.stdout.flush()
                print(describe(e), file=sys.stderr)
        else:
            code = report.exit_code
            counts["PASS" if report.passed else "FAIL"] += 1
            if args.json:
                documents.append({"path": path, **report_json(report)})
            elif not (args.problems and report.passed and not report.count("warn")):
                lines.append(f"{path}: {verdict_line(report)}")
        worst = max(worst, code)
        if len(lines) >= 64:
            sys.stdout.write("\n".join(lines) + "\n")
            lines.clear()
    if args.json:
        import json

        print(json.dumps({"configs": documents, "exit_code": worst}, indent=2))
        return worst
    lines.append(f"{len(files)} configs: {counts['PASS']} pass, {counts['FAIL']} fail, "
                 f"{counts['error']} bad input")
    sys.stdout.write("\n".join(lines) + "\n")
    return worst

