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
    from collections.abc import Iterable
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


# A result: exit status, "PASS" | "FAIL" | "error", the verdict line (or None), the
# message for stderr (or None), the JSON document (or None).
Result = tuple[int, str, "str | None", "str | None", "dict[str, Any] | None"]
# Below this many files the checks run in this process only (a fork costs ~1-3 ms).
PARALLEL_FROM = 8


def run_many(args: argparse.Namespace, options: Options) -> int:
    for flag, given in (("--profile", args.profile), ("--fix", args.fix)):
        if given is not None:
            raise UserError(f"{flag} checks one config", hint="name one CONFIG with " + flag)
    files = config_files(args.config)
    jobs = min(verify_jobs(), len(files))
    if jobs > 1 and len(files) >= PARALLEL_FROM:
        results: Iterable[Result] = _parallel(files, jobs, args, options)
    else:
        results = (_check(path, args, options) for path in files)
    worst = 0
    counts = {"PASS": 0, "FAIL": 0, "error": 0}
    documents: list[dict[str, Any]] = []
    lines: list[str] = []
    for code, kind, line, message, document in results:
        counts[kind] += 1
        worst = max(worst, code)
        if document is not None:
            documents.append(document)
        if line is not None:
            lines.append(line)
        if message is not None:
            sys.stdout.write("".join(line + "\n" for line in lines))
            lines.clear()
            sys.stdout.flush()
            print(message, file=sys.stderr)
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


def verify_jobs() -> int:
    """How many processes check the files: ``$KBUILD_VERIFY_JOBS``, else one per CPU."""
    given = os.environ.get("KBUILD_VERIFY_JOBS")
    if given is None or given == "":
        return len(os.sched_getaffinity(0)) or 1
    if not given.isascii() or not given.isdigit() or not 1 <= int(given) <= 1024:
        raise UserError(f"KBUILD_VERIFY_JOBS={given!r} is not a number of processes",
                        hint="set it to 1 (no parallel checks) up to the number of CPUs, or unset it")
    return int(given)


def _check(path: str, args: argparse.Namespace, options: Options) -> Result:
    """One file's result; bad input is a result too, any other error propagates."""
    from kbuild.verify.check import verify_config
    from kbuild.verify.render import error_json, report_json, verdict_line

    try:
        report = verify_config(path, kernel_version=args.kernel_version, arch=args.arch,
                               entry=options.entry, nics=options.nics, dom0=options.dom0,
                               rules=options.rules, srctree=args.srctree,
                               traits=getattr(args, "trait", ()))
    except KbuildError as e:
        if args.json:
            return e.exit_code, "error", None, None, {"path": path, **error_json(e)}
        return e.exit_code, "error", None, describe(e), None
    kind = "PASS" if report.passed else "FAIL"
    if args.json:
        return report.exit_code, kind, None, None, {"path": path, **report_json(report)}
    quiet = args.problems and report.passed and not report.count("warn")
    return report.exit_code, kind, None if quiet else f"{path}: {verdict_line(report)}", None, None


def _parallel(files: list[str], jobs: int, args: argparse.Namespace, options: Options) -> list[Result]:
    """Every file's result, in order, checked by ``jobs`` processes: this one and ``jobs - 1``
    forked children, each given about the same number of bytes (largest file first to the
    process with the fewest; a directory may alternate big and small files). A child
    sends its results through a pipe (marshal: plain data only) and ends without teardown.
    A child that fails in any way (a bug, a signal, torn data) is not trusted: its files
    are checked here again, so an internal error surfaces exactly as without children."""
    import marshal

    parts = _shares(files, jobs)
    children: list[tuple[int, int, int]] = []      # (share, pid, read end)
    try:
        for share in range(1, jobs):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:                            # the child: check, send, leave
                status = 1
                try:
                    os.close(r)
                    data = marshal.dumps([_check(files[i], args, options) for i in parts[share]])
                    with os.fdopen(w, "wb") as sink:
                        sink.write(data)
                    status = 0
                finally:
                    os._exit(status)
            os.close(w)
            children.append((share, pid, r))
        mine = [_check(files[i], args, options) for i in parts[0]]
        shares: dict[int, list[Result]] = {0: mine}
        for share, pid, r in children:
            with os.fdopen(r, "rb") as pipe:
                data = pipe.read()
            _, status = os.waitpid(pid, 0)
            got: list[Result] | None = None
            if status == 0:
                try:
                    got = [tuple(item) for item in marshal.loads(data)]  # type: ignore[misc]
                except (EOFError, ValueError, TypeError):
                    got = None
            shares[share] = got if got is not None and len(got) == len(parts[share]) else \
                [_check(files[i], args, options) for i in parts[share]]
        children.clear()
    finally:
        for _share, pid, r in children:             # interrupted: no child outlives us
            try:
                os.close(r)
                os.kill(pid, 15)
                os.waitpid(pid, 0)
            except OSError:
                pass
    out: list[Result | None] = [None] * len(files)
    for share, indices in enumerate(parts):
        for i, result in zip(indices, shares[share], strict=True):
            out[i] = result
    return out  # type: ignore[return-value]    # every index is in exactly one share


def _shares(files: list[str], jobs: int) -> list[list[int]]:
    """The file indices each process checks, in file order: largest first to the process
    with the fewest bytes so far (an unreadable file counts as small: its error is quick)."""
    def size(path: str) -> int:
        try:
            return os.stat(path).st_size
        except OSError:
            return 0

    sizes = [size(f) + 1 for f in files]
    loads = [0] * jobs
    parts: list[list[int]] = [[] for _ in range(jobs)]
    for i in sorted(range(len(files)), key=lambda i: -sizes[i]):
        least = loads.index(min(loads))
        parts[least].append(i)
        loads[least] += sizes[i]
    for p in parts:
        p.sort()
    return parts
