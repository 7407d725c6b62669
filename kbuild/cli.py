"""The ``kbuild`` command (and ``python -m kbuild``): a thin dispatcher over the library.

Each subcommand lives in ``kbuild/commands/<name>.py`` with ``add_arguments`` and
``run`` (and, where an error must also be reported on stdout, ``on_error``). This
module is the only place that turns kbuild errors into messages and exit codes:
0 success, 1 failed requirements or a failed operation, 2 bad input, 3 a bug.
"""
from __future__ import annotations

import importlib
import os
import sys

from kbuild import __version__
from kbuild.errors import KbuildError, describe

TYPE_CHECKING = False   # neither typing nor argparse is imported on `kbuild verify`'s path
if TYPE_CHECKING:
    import argparse
    from types import ModuleType

COMMANDS = {
    "verify": "check a kernel .config against the root-over-NFS requirements",
    "publish": "write the TFTP tree (boot loaders, kernels, entries) atomically",
    "rollback": "restore the previous published generation",
    "explain-boot": "show which PXELINUX file a client loads and what it boots",
    "fetch": "fetch sources into the cache (deb sources from the signed index, locked)",
    "pin": "move a deb source's entry in kbuild.lock, or re-pin a file:// source",
    "check-site": "validate kbuild.toml and print a summary",
    "keys": "generate (init) or check the site's Secure Boot signing key",
    "root": "prepare a root tree to be shared read-only by many clients (docs/root.md)",
    "verify-build": "rebuild a profile uncached in a scratch dir: is the image bit-identical?",
}


def command_module(name: str) -> ModuleType:
    """kbuild/commands/<name>.py (``-`` becomes ``_``)."""
    return importlib.import_module(f"kbuild.commands.{name.replace('-', '_')}")


def _chosen(argv: list[str]) -> str | None:
    """The subcommand argv names (its first word that is not an option), if any: only that
    command's module is imported, so ``kbuild verify`` does not pay for publish's imports."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def _help_formatter() -> type[argparse.HelpFormatter]:
    """argparse's formatter, sized as shutil.get_terminal_size() would (argparse imports
    shutil, and shutil bz2 and lzma, only to ask that: a few ms of every command)."""
    import argparse

    class HelpFormatter(argparse.HelpFormatter):
        def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                     width: int | None = None) -> None:
            if width is None:
                width = _terminal_columns() - 2
            super().__init__(prog, indent_increment, max_help_position, width)

    return HelpFormatter


def _terminal_columns() -> int:
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 80
    return columns or 80


def _quick_args(argv: list[str]) -> argparse.Namespace | None:
    """What argparse would make of ``argv`` when the command's ``quick_args`` can tell without
    it (``kbuild verify FILE``: argparse, with gettext and locale, is ~5 ms of a 50 ms run);
    None otherwise, and argparse parses it, with its help and its error messages."""
    if not argv or argv[0] not in COMMANDS:
        return None
    quick = getattr(command_module(argv[0]), "quick_args", None)
    if quick is None:
        return None
    args: argparse.Namespace | None = quick(argv[1:])
    if args is not None:
        args.command = argv[0]
    return args


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the subcommand it names gets its arguments (the
    others keep their name and help line, which is all top-level help and errors show)."""
    import argparse

    chosen = _chosen(argv) if argv is not None else None
    formatter = _help_formatter()
    parser = argparse.ArgumentParser(
        prog="kbuild", formatter_class=formatter,
        description="Build kernels and boot chains for diskless machines with root over NFS. "
                    "Pipeline tasks run through doit: `doit list`.")
    parser.add_argument("--version", action="version", version=f"kbuild {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text,
                           formatter_class=formatter)
        if argv is None or name == chosen:
            command_module(name).add_arguments(p)
    return parser


# Commands that hold nothing to clean up once run() returned (no temporary files left to
# finalizers, no threads, every file closed): the process may end without tearing the
# interpreter down. Freeing every object of a verify run (the config's maps, the rule
# set, the modules) cost ~3-7 ms of each `kbuild verify` here (issue 13).
_QUICK_EXIT = frozenset({"verify"})
_ran: list[str] = []


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    args = _quick_args(argv)
    if args is None:
        args = build_parser(argv).parse_args(argv)
    _ran.append(args.command)
    mod = command_module(args.command)
    try:
        code: int = mod.run(args)
        return code
    except KbuildError as e:
        on_error = getattr(mod, "on_error", None)
        if on_error is not None:
            try:
                on_error(args, e)   # verify --json: the error as one JSON document on stdout
            except BrokenPipeError:     # `kbuild verify --json X | head`: the message still goes
                pass
        print(describe(e), file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:     # the reader of stdout went away before the report was whole:
        return 141              # as a command killed by SIGPIPE (docs/verify.md)
    except Exception as e:  # a bug in kbuild: say so in one line, details on request
        if os.environ.get("KBUILD_DEBUG"):
            import traceback

            traceback.print_exc()
        print(f"error: internal error: {type(e).__name__}: {e}\n"
              "  fix: this is a bug in kbuild; rerun with KBUILD_DEBUG=1 and report the output",
              file=sys.stderr)
        return 3


def entry() -> None:
    """The ``kbuild`` script and ``python -m kbuild``: :func:`main`, then exit with its
    status; after a command of :data:`_QUICK_EXIT`, without the interpreter's teardown
    (stdout and stderr are flushed first; a reader that went away is not an error)."""
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:     # `kbuild verify | head`: the reader went away, not an error;
        # nothing more can go to it, and the interpreter's own flush at exit must not fail
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except ValueError:          # stdout closed
        pass
    if _ran and _ran[-1] in _QUICK_EXIT:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
