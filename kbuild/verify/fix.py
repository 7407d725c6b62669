"""``kbuild verify --srctree --fix``: the smallest fragment that makes every config
requirement pass, written only when resolving the config with it proves it."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kbuild.kconfig.configfile import assignment
from kbuild.rules.model import RuleSet
from kbuild.util.files import atomic_write_text
from kbuild.util.versions import KernelRelease
from kbuild.verify.facts import EntryFacts
from kbuild.verify.report import FixInfo, VerifyReport
from kbuild.verify.verdicts import SymbolValues, evaluate

TYPE_CHECKING = False   # typing is not imported on `kbuild verify`'s path (issue 13)
if TYPE_CHECKING:
    from kbuild.kconfig.tree import KconfigTree


def search_fix(tree: KconfigTree, config: Path, out: Path, report: VerifyReport, ruleset: RuleSet,
               version: KernelRelease, facts: Sequence[EntryFacts], base: SymbolValues) -> FixInfo:
    """Search the fragment for the report's fixable failures; every entry of ``facts``
    (the profile's and its hosts' entries) must pass with it. Writes ``out`` only when
    the fragment is verified; the rest (entry problems) is listed as left out."""
    from kbuild.kconfig import fixsearch

    required: dict[str, tuple[str, str]] = {}
    left_out = []
    for c in report.failures:
        if c.kind in ("symbol", "any_of") and c.fixable:
            name, value = c.symbols[0], c.wanted.split("|")[0]
            required.setdefault(name, (value, f"rule {c.rule}: {c.reason}"))
        else:
            left_out.append(f"{c.rule}: {c.fix or c.reason}")

    def still_failing(values: dict[str, str]) -> list[str]:
        resolved = SymbolValues(base.cfg, True, values, base.known)
        failing: list[str] = []
        for entry_facts in facts:
            checks, _ = evaluate(ruleset, version, entry_facts, resolved)
            failing += [c.rule for c in checks if c.failed and c.kind in ("symbol", "any_of")
                        and c.fixable and c.rule not in failing]
        return failing

    search = fixsearch.find_fix(tree, config, required, still_failing)
    verified = not search.remaining
    if verified:
        atomic_write_text(out, fix_fragment_text(report, search.assignments, search.why))
    return FixInfo(path=str(out) if verified else None, assignments=search.assignments,
                   why=search.why, verified=verified, remaining=search.remaining, left_out=left_out,
                   resolutions=search.resolutions)


def fix_fragment_text(report: VerifyReport, assignments: dict[str, str], why: dict[str, str]) -> str:
    lines = [f"# kbuild verify --fix for {report.config}",
             f"# Linux {report.kernel_version} {report.arch}; entry: {report.entry.cmdline}",
             "# Verified: the config with these lines merged resolves (as make olddefconfig) "
             "to one that meets every config requirement."]
    if not assignments:
        lines.append("# Nothing to add.")
    for name, value in assignments.items():
        lines.append(f"# {why.get(name, '')}".rstrip())
        lines.append(assignment(name, value))
    return "\n".join(lines) + "\n"
