"""``kbuild verify``: will this kernel mount its root over NFS? (docs/verify.md)

The report is the command's result, so the table goes to stdout; errors go to
stderr as ``path:line: error: ...``. With ``--json`` stdout carries exactly
one JSON document (a report, or an error document for bad input), valid
against docs/verify-schema.json. Exit status: 0 every requirement met,
1 a requirement failed or could not be decided, 2 bad input.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from kbuild.errors import KbuildError, UserError

TYPE_CHECKING = False   # typing is not imported on `kbuild verify`'s path (issue 13)

if TYPE_CHECKING:
    import argparse
    from typing import Any

    from kbuild.commands.verify_many import Options
    from kbuild.verify.report import VerifyReport


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="*", metavar="CONFIG",
                        help="the .config to check (plain, .gz, .xz or .bz2; a savedefconfig or "
                             "fragment too); with --profile, default: the profile's built config. "
                             "Several files or a directory: one verdict line per file")
    parser.add_argument("--kernel-version", metavar="X.Y[.Z]",
                        help="kernel version the rules are chosen for (default: the config header)")
    parser.add_argument("--arch", metavar="ARCH",
                        help="x86_64, um, i386, ... (default: from the config)")
    parser.add_argument("--profile", metavar="NAME",
                        help="check against profile NAME of kbuild.toml: its boot entry, NICs "
                             "(and its hosts'), arch, Xen dom0, UML transport")
    parser.add_argument("--site", metavar="FILE",
                        help="site file for --profile (default: $KBUILD_SITE, else kbuild.toml "
                             "here or above)")
    parser.add_argument("--rules", metavar="FILE", action="append", default=[],
                        help="an extra rule file (TOML, see docs/verify.md); a rule with the "
                             "id of a built-in one replaces it. Repeatable")
    parser.add_argument("--no-builtin-rules", action="store_true",
                        help="use only the --rules files, not kbuild's own")
    entry = parser.add_mutually_exclusive_group()
    entry.add_argument("--cmdline", metavar="ARGS",
                       help="the kernel command line the kernel boots with")
    entry.add_argument("--entry", metavar="FILE",
                       help="a PXELINUX, GRUB 2, GRUB legacy or iPXE entry (Xen multiboot "
                            "entries too), or a file holding a command line")
    parser.add_argument("--label", metavar="NAME",
                        help="the entry of --entry FILE to check (default: the file's default)")
    parser.add_argument("--nic", metavar="NAME", action="append", default=[],
                        help="boot NIC driver: e1000, e1000e, virtio_net, r8169, ... "
                             "(repeatable, or comma-separated)")
    parser.add_argument("--dom0", action="store_true",
                        help="the kernel boots as Xen dom0 (implied by a hypervisor in --entry)")
    parser.add_argument("--trait", metavar="TRAIT", action="append", default=[],
                        choices=["efi", "secure-boot"],
                        help="how the machine boots it: efi (a UEFI loader starts it), "
                             "secure-boot (UEFI Secure Boot; implies efi). Repeatable; "
                             "--profile adds the profile's own")
    parser.add_argument("--srctree", metavar="DIR",
                        help="the kernel source: resolve the config as make olddefconfig does "
                             "and explain each failure with its Kconfig dependency chain")
    parser.add_argument("--fix", metavar="FILE",
                        help="with --srctree: write the smallest fragment of extra assignments "
                             "that makes the requirements pass, verified by resolving it")
    parser.add_argument("--json", action="store_true",
                        help="write one JSON document to stdout (docs/verify-schema.json)")
    parser.add_argument("-q", "--problems", action="store_true",
                        help="list only the checks that did not pass")


# What add_arguments' options default to, for quick_args (tests/test_cli.py holds the two
# together), and the options quick_args reads itself: flags that take no value.
_DEFAULTS: dict[str, object] = {
    "kernel_version": None, "arch": None, "profile": None, "site": None, "rules": [],
    "no_builtin_rules": False, "cmdline": None, "entry": None, "label": None, "nic": [],
    "dom0": False, "trait": [], "srctree": None, "fix": None, "json": False, "problems": False}
_FLAGS = {"--json": "json", "-q": "problems", "--problems": "problems"}


def quick_args(words: list[str]) -> argparse.Namespace | None:
    """The arguments add_arguments' parser makes of ``words`` when they are only files and
    ``--json``/``-q``/``--problems`` (files in one run, as argparse wants them), without
    importing argparse; None for anything else (argparse parses it)."""
    from types import SimpleNamespace

    flags = [w for w in words if w in _FLAGS]
    configs = [w for w in words if w not in _FLAGS]
    if not configs or any(w.startswith("-") for w in configs):
        return None
    first = words.index(configs[0])
    if words[first:first + len(configs)] != configs:    # a flag between files: argparse's error
        return None
    args: Any = SimpleNamespace(**{k: (list(v) if isinstance(v, list) else v)
                                   for k, v in _DEFAULTS.items()})
    args.config = configs
    for flag in flags:
        setattr(args, _FLAGS[flag], True)
    return args  # type: ignore[no-any-return]


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status. Errors go to :func:`on_error` (via cli.main)."""
    configs: list[str] = args.config
    if len(configs) > 1 or (len(configs) == 1 and Path(configs[0]).is_dir()):
        from kbuild.commands.verify_many import run_many

        return run_many(args, _options(args))
    args.config = configs[0] if configs else None
    from kbuild.verify.render import render_table, report_json

    report = _verify(args)
    if args.json:
        import json

        print(json.dumps(report_json(report), indent=2))
    else:
        sys.stdout.write(render_table(report, only_problems=args.problems))
    return report.exit_code


def on_error(args: argparse.Namespace, error: KbuildError) -> None:
    """With --json, stdout carries one JSON document for bad input too (cli.main then
    prints the message to stderr and returns the error's exit code)."""
    from kbuild.verify.render import error_json

    if args.json:
        import json

        print(json.dumps(error_json(error), indent=2))


def _options(args: argparse.Namespace) -> Options:
    from kbuild.commands.verify_many import Options
    from kbuild.rules.load import load_rules

    nics = [n for item in args.nic for n in item.split(",") if n.strip()]
    if args.label is not None and args.entry is None:
        raise UserError("--label needs --entry FILE")
    entry = None
    if args.cmdline is not None:
        from kbuild.boot.entry import entry_from_cmdline

        entry = entry_from_cmdline(args.cmdline, "--cmdline", dom0=args.dom0)
    elif args.entry is not None:
        from kbuild.boot.read import read_entry

        entry = read_entry(args.entry, args.label)
    rules = load_rules(args.rules, builtin=not args.no_builtin_rules)
    if args.arch is not None and not re.fullmatch(r"[A-Za-z0-9_]{1,32}", args.arch):
        raise UserError(f"--arch {args.arch!r} is not an architecture name")
    dom0: bool | None = True if args.dom0 else None
    return Options(entry, nics, rules, dom0)


def _verify(args: argparse.Namespace) -> VerifyReport:
    from kbuild.verify.check import verify_config

    options = _options(args)
    entry, nics, rules, dom0 = options.entry, options.nics, options.rules, options.dom0
    if args.profile is not None:
        # the same check as `doit verify:NAME` (hosts included), with these overrides
        from kbuild.site.load import load_site
        from kbuild.verify.profile import verify_profile

        site = load_site(Path(args.site) if args.site else None)
        return verify_profile(site, site.profile(args.profile), rules, config=args.config,
                              entry=entry, nics=nics, arch=args.arch, dom0=dom0,
                              kernel_version=args.kernel_version, srctree=args.srctree,
                              fix=args.fix, traits=args.trait)
    if args.site is not None:
        raise UserError("--site is only used with --profile")
    if args.config is None:
        raise UserError("no config to check", hint="kbuild verify PATH/TO/.config "
                        "(or --profile NAME for a profile's built config)")
    return verify_config(args.config, kernel_version=args.kernel_version, arch=args.arch,
                         entry=entry, nics=nics, dom0=dom0, rules=rules, srctree=args.srctree,
                         fix=args.fix, traits=args.trait)
