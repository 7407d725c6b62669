"""Will this kernel mount its root over NFS on that machine? Check a .config.

:func:`verify_config` reads any kernel configuration (a full ``.config``, a
distro's, a savedefconfig or fragment, gzip/xz compressed too), works out the
facts of the boot entry it will be booted with (``ip=``, ``nfsroot=``,
console, NICs, Xen dom0, UML) and evaluates the rules of
:mod:`kbuild.rules` that apply to that kernel version. With a source tree it
resolves the config as ``make olddefconfig`` would, explains every failure
with the blocking Kconfig dependency chain, and can search a fix fragment
that is verified by resolving it again (:mod:`kbuild.verify.fix`). The library
returns a :class:`~kbuild.verify.report.VerifyReport`; :mod:`kbuild.verify.render`
shows it; nothing here prints.

The steps are separate so a profile's hosts can be checked against one reading (and
one resolution) of the config: :func:`read_config_under_test`, :func:`plan_entry`,
:meth:`ConfigUnderTest.resolve`, :func:`report_for`, :func:`explain_checks`.
"""
from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

from kbuild.boot.spec import BootSpec, entry_from_cmdline
from kbuild.errors import UserError
from kbuild.kconfig.configfile import ConfigValues, read_values
from kbuild.rules.load import load_rules
from kbuild.rules.model import RuleSet
from kbuild.util.record import field, record
from kbuild.util.versions import KernelRelease, kernel_release, read_kernel_version
from kbuild.verify.facts import EntryFacts, entry_facts, tree_kind
from kbuild.verify.report import BadConfigError, EntryInfo, VerifyReport
from kbuild.verify.verdicts import SymbolValues, evaluate, stale_symbols

TYPE_CHECKING = False   # typing is not imported on `kbuild verify`'s path (issue 13)
if TYPE_CHECKING:
    from kbuild.kconfig.tree import KconfigTree

# The version kbuild is developed and tested against; used, and said, when nothing tells.
DEFAULT_KERNEL = "6.1"
# kbuild's own boot entries look like this; checked when no entry is given.
ASSUMED_CMDLINE = "root=/dev/nfs ip=dhcp"

_ARCH_BY_HEADER = {"x86_64": "x86_64", "amd64": "x86_64", "i386": "i386", "um": "um",
                   "arm64": "arm64", "arm": "arm", "riscv": "riscv", "powerpc": "powerpc",
                   "s390": "s390", "mips": "mips", "loongarch": "loongarch"}


def detect_arch(cfg: ConfigValues) -> tuple[str, str]:
    """The kernel's arch from its symbols (UML, X86_64, X86_32), else the header."""
    v = cfg.value
    if v("UML") == "y":
        return "um", "config"
    if v("X86_64") == "y":
        return "x86_64", "config"
    if v("X86_32") == "y" or (v("X86") == "y" and v("64BIT") in ("n", None)):
        return "i386", "config"
    if cfg.header_arch:
        arch = _ARCH_BY_HEADER.get(cfg.header_arch)
        if arch:
            return arch, "header"
    return "x86_64", "assumed"


@record
class ConfigUnderTest:
    """One config read for checking: its values (resolved against a source tree once
    :meth:`resolve` ran), the kernel version and arch the rules are chosen for, and the
    notes saying how they were chosen."""

    config: Path
    shown: str
    cfg: ConfigValues
    arch: str
    arch_source: str
    version_text: str
    version_source: str
    version: KernelRelease
    complete: bool                  # a full .config: not a savedefconfig or fragment
    notes: list[str]
    srctree: str | None = None
    tree: KconfigTree | None = None
    resolved: dict[str, str] | None = None
    known: frozenset[str] = frozenset()      # the symbols the source tree defines
    resolution_notes: list[str] = field(default_factory=list)
    tree_hint: str | None = None    # "debian" / "upstream" when the caller knows the source

    def values(self) -> SymbolValues:
        return SymbolValues(self.cfg, self.complete, self.resolved, self.known)

    def resolve(self, workdir: str | Path | None, scratch: contextlib.ExitStack) -> None:
        """With a source tree: resolve the config as ``make olddefconfig`` would (the tree
        lives until ``scratch`` closes). Without: say what a minimal config cannot tell."""
        if self.srctree is not None:
            self.tree, self.resolved = _resolve(Path(self.srctree), self.arch, self.config, workdir,
                                                scratch)
            self.known = frozenset(s.name for s in self.tree.kconf.unique_defined_syms)
            if not self.complete:
                self.resolution_notes.append("minimal config (savedefconfig or fragment): defaults "
                                             "resolved against the source tree")
            self.complete = True
        elif not self.complete:
            self.resolution_notes.append(
                "minimal config (no '# Linux/... Kernel Configuration' header: a savedefconfig "
                "or fragment): symbols it does not set have their Kconfig defaults, which are "
                "unknown without --srctree, so those verdicts are 'unknown'")


def read_config_under_test(config: str | Path, *, display: str | None = None,
                           kernel_version: str | None = None, arch: str | None = None,
                           arch_source: str = "option", srctree: str | Path | None = None,
                           fix: str | Path | None = None, rules: RuleSet | None = None,
                           values: ConfigValues | None = None) -> tuple[ConfigUnderTest, RuleSet]:
    """Read and check the config; choose the version and arch. Raises UserError (or
    BadConfigError) for input that is not a usable config, in this order: unreadable, no
    assignment, malformed lines, --fix without --srctree, bad rule files, a bad version."""
    shown = display or str(config)
    cfg = values if values is not None else read_values(config, shown)
    if cfg.assignment_count == 0:
        first = cfg.errors[0] if cfg.errors else None
        raise UserError(f"not a kernel config: no CONFIG_ assignment in {cfg.line_count} line(s)"
                        + (f" (line {first.line}: {first.message})" if first else ""), path=shown,
                        hint="pass a .config, a savedefconfig output or a fragment "
                             "(gzip/xz/bzip2 compressed ones too)")
    if cfg.errors:
        raise BadConfigError(cfg.errors)
    if fix is not None and srctree is None:
        raise UserError("--fix needs --srctree: a fragment is offered only after the kernel's "
                        "Kconfig has confirmed it", hint="add --srctree DIR (an unpacked kernel source)")
    ruleset = rules or load_rules()
    notes: list[str] = []
    if arch is None:
        arch, arch_source = detect_arch(cfg)
        if arch_source == "assumed":
            notes.append("arch unknown (no header, no UML/X86_64 symbols): assuming x86_64; "
                         "pass --arch")
    complete = cfg.generated or cfg.header_version is not None

    version_text, version_source = kernel_version, "option"
    tree_version = None
    if srctree is not None:
        tree_version = read_kernel_version(Path(srctree))
    if version_text is None:
        if cfg.header_version:
            version_text, version_source = cfg.header_version, "header"
        elif tree_version:
            version_text, version_source = tree_version, "srctree"
        else:
            version_text, version_source = DEFAULT_KERNEL, "assumed"
            notes.append(f"kernel version unknown (no '# Linux/... Kernel Configuration' header): "
                         f"assuming {DEFAULT_KERNEL}; pass --kernel-version")
    version = kernel_release(version_text)
    if version is None:
        raise UserError(f"kernel version {_shorten(version_text)!r} is not X.Y or X.Y.Z "
                        "(ASCII digits, at most 9 per part)",
                        path=shown if version_source == "header" else None,
                        hint="pass --kernel-version 6.1 (or 6.1.192)")
    if tree_version and kernel_release(tree_version) != version:
        notes.append(f"the config says Linux {version_text}, the source tree is {tree_version}: "
                     "values are resolved against the tree")
    subject = ConfigUnderTest(Path(config), shown, cfg, arch, arch_source, version_text,
                              version_source, version, complete, notes,
                              srctree=str(srctree) if srctree is not None else None)
    return subject, ruleset


@record
class EntryUnderTest:
    """A boot entry with the facts the rules test and the notes about it."""

    spec: BootSpec
    facts: EntryFacts
    assumed: bool                   # no entry was given: kbuild's own default is checked
    dom0: bool
    notes: list[str]


def plan_entry(subject: ConfigUnderTest, ruleset: RuleSet, entry: BootSpec | None,
               nics: Sequence[str], dom0: bool | None,
               traits: Sequence[str] = ()) -> EntryUnderTest:
    """The entry's facts (kbuild's default entry when ``entry`` is None); an unknown NIC
    raises UserError."""
    nic_specs = [ruleset.nic(n) for n in dict.fromkeys(nics)]
    assumed = entry is None
    spec = entry or entry_from_cmdline(ASSUMED_CMDLINE, "assumed")
    is_dom0 = bool(spec.hypervisor) if dom0 is None else dom0
    tree = tree_kind(subject.cfg.values, Path(subject.srctree) if subject.srctree else None,
                     subject.tree_hint)
    facts = entry_facts(spec, arch=subject.arch, nics=nic_specs, rules=ruleset, dom0=is_dom0,
                        assumed=assumed, traits=frozenset(traits), tree=tree)
    notes = list(facts.notes)
    if "secure-boot" in traits and tree == "unknown":
        notes.append("source tree unknown (pass --srctree or --profile): the lockdown rule for "
                     "kernel.org's options is checked, not Debian's LOCK_DOWN_IN_EFI_SECURE_BOOT")
    if assumed:
        notes.append(f"no boot entry given: checking kbuild's default entry \"{ASSUMED_CMDLINE}\" "
                     "(pass --cmdline, --entry or --profile)")
    if "none" in facts.facts.get("nic", ()) and subject.arch != "um":
        notes.append("no NIC given: the boot NIC's driver must be built in; name it with --nic")
    return EntryUnderTest(spec, facts, assumed, is_dom0, notes)


def report_for(subject: ConfigUnderTest, ruleset: RuleSet, entry: EntryUnderTest,
               profile: str | None = None) -> VerifyReport:
    """Every applicable rule evaluated for the config and the entry."""
    checks, applied = evaluate(ruleset, subject.version, entry.facts, subject.values())
    checks += stale_symbols(ruleset, subject.version, subject.cfg)
    spec = entry.spec
    return VerifyReport(
        config=subject.shown, kernel_version=subject.version_text,
        version_source=subject.version_source, arch=subject.arch, arch_source=subject.arch_source,
        complete=subject.complete, resolved=subject.resolved is not None,
        line_count=subject.cfg.line_count, assignment_count=subject.cfg.assignment_count,
        entry=EntryInfo(source=spec.source, format="assumed" if entry.assumed else spec.format,
                        cmdline=spec.cmdline.text, label=spec.label, initrd=spec.initrd,
                        hypervisor=spec.hypervisor or ("xen" if entry.dom0 else None),
                        assumed=entry.assumed),
        facts={k: sorted(v) for k, v in sorted(entry.facts.facts.items())},
        checks=checks, rules_applied=applied, rules_total=len(ruleset.rules),
        notes=subject.notes + entry.notes + subject.resolution_notes,
        srctree=subject.srctree, profile=profile)


def verify_config(config: str | Path, *, display: str | None = None,
                  kernel_version: str | None = None, arch: str | None = None,
                  arch_source: str = "option", entry: BootSpec | None = None,
                  nics: Sequence[str] = (), dom0: bool | None = None,
                  rules: RuleSet | None = None, srctree: str | Path | None = None,
                  fix: str | Path | None = None, profile: str | None = None,
                  workdir: str | Path | None = None,
                  values: ConfigValues | None = None, traits: Sequence[str] = ()) -> VerifyReport:
    """Check one config file against the rules for one boot entry; see the module doc.

    ``values`` is the file already read (to check many entries against one config).
    ``traits`` (``efi``, ``secure-boot``) say how the machine boots it (docs/verify.md).
    Raises :class:`UserError` (exit 2) for unreadable or malformed input, never
    for requirements that fail: those are in the returned report.
    """
    subject, ruleset = read_config_under_test(
        config, display=display, kernel_version=kernel_version, arch=arch, arch_source=arch_source,
        srctree=srctree, fix=fix, rules=rules, values=values)
    planned = plan_entry(subject, ruleset, entry, nics, dom0, traits)
    with contextlib.ExitStack() as scratch:
        subject.resolve(workdir, scratch)
        report = report_for(subject, ruleset, planned, profile)
        explain_and_fix(subject, ruleset, report, fix, [planned.facts])
    return report


def explain_and_fix(subject: ConfigUnderTest, ruleset: RuleSet, report: VerifyReport,
                    fix: str | Path | None, facts: Sequence[EntryFacts]) -> None:
    """With a source tree: explain every failure, and with ``fix`` search the fragment that
    makes every entry of ``facts`` pass (written to ``fix`` only when verified)."""
    if subject.tree is None:
        return
    explain_checks(subject.tree, report)
    if fix is not None:
        from kbuild.verify.fix import search_fix  # --fix only

        report.fix = search_fix(subject.tree, subject.config, Path(fix), report, ruleset,
                                subject.version, facts,
                                SymbolValues(subject.cfg, True, None, subject.known))


def _resolve(srctree: Path, arch: str, config: Path, workdir: str | Path | None,
             scratch: contextlib.ExitStack) -> tuple[KconfigTree, dict[str, str]]:
    import tempfile

    from kbuild.kconfig import environment as toolchain
    from kbuild.kconfig import fixsearch as kconfig_fixsearch
    from kbuild.kconfig import tree as kconfig
    from kbuild.site import arches as toolchain_arches

    if arch not in toolchain_arches.known_arches():
        raise UserError(f"--srctree supports the arches {', '.join(toolchain_arches.known_arches())}, "
                        f"not {arch!r}", hint="pass --arch")
    srctree = srctree.resolve()
    env = toolchain.kconfig_environment(srctree, arch, toolchain.detect_toolchain())
    # $(cc-option) probes write scratch files; without a workdir they go to a temp dir
    # that lives until the caller's ExitStack closes
    work = Path(workdir) if workdir is not None else Path(
        scratch.enter_context(tempfile.TemporaryDirectory(prefix="kbuild-verify-")))
    tree = kconfig.load_tree(srctree, arch, env, work)
    return tree, kconfig_fixsearch.resolve_config(tree, config)


def explain_checks(tree: KconfigTree, report: VerifyReport) -> None:
    """Each failed symbol check gets its Kconfig dependency chain and what would fix it."""
    from kbuild.kconfig import whynot as kconfig

    for check in report.checks:
        if check.verdict == "pass" or check.kind not in ("symbol", "any_of"):
            continue
        rule_want = check.wanted.split("|")[0]
        # an any_of with its own value per symbol: "MODULES=n|MODULE_SIG=y"
        own = dict(w.split("=", 1) for w in check.wanted.split("|") if "=" in w)
        names = check.symbols[:1] if check.kind == "symbol" or len(check.symbols) > 4 \
            else check.symbols
        for name in names:
            exp = kconfig.explain_value(tree, name, own.get(name, rule_want).split("/")[0])
            check.explanation.extend(exp.reasons + exp.effects)
            if name == check.symbols[0]:
                check.needs = exp.needs




def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
