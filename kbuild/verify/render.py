"""How a :class:`~kbuild.verify.report.VerifyReport` is shown: the table, the short
summary of the doit task, the RequirementError, and the JSON document
(docs/verify-schema.json). Rendering only; :mod:`kbuild.verify` decides.
"""
from __future__ import annotations

from kbuild.errors import Diagnostic, KbuildError, RequirementError
from kbuild.kconfig.configfile import assignment
from kbuild.verify.report import Check, FixInfo, VerifyReport

JSON_SCHEMA_ID = "https://kbuild.invalid/schemas/verify-1.json"
REPORT_VERSION = 1

TYPE_CHECKING = False   # typing is not imported on `kbuild verify`'s path (issue 13)
if TYPE_CHECKING:
    from typing import Any


def _short(check: Check) -> str:
    if check.kind in ("symbol", "any_of"):
        return f"{check.subject} (wanted {check.wanted}, found {check.found})"
    return f"{check.subject}: {check.found}" if check.kind == "limit" else check.rule


def render_summary(report: VerifyReport) -> str:
    """A few lines for the doit task: the verdict and what failed."""
    who = f"profile {report.profile}" if report.profile else report.config
    head = (f"verify {who}: Linux {report.kernel_version} {report.arch}, "
            f"{len(report.checks)} checks")
    warns = report.count("warn")
    if report.passed:
        text = f"{head}: PASS" + (f" ({warns} warning(s))" if warns else "")
    else:
        text = f"{head}: FAIL, {len(report.failures)} failed: " + "; ".join(
            _short(c) for c in report.failures)
    for c in report.checks:
        if c.verdict == "warn":
            text += f"\n  warning: {_short(c)}: {c.reason}"
    return text


def failed_error(report: VerifyReport) -> KbuildError:
    """A RequirementError naming every failed rule with its reason and fix."""
    who = f"profile {report.profile!r}" if report.profile else report.config
    lines = [f"{who}: {len(report.failures)} root-over-NFS requirement(s) not met "
             f"(Linux {report.kernel_version} {report.arch}, entry: {report.entry.cmdline}):"]
    for c in report.failures:
        where = "".join(f" [{report.config}:{line}]" for line in c.lines.values())
        lines.append(f"  {_short(c)}{where}: {c.reason}")
        if c.fix:
            lines.append(f"    fix: {c.fix}")
    return RequirementError("\n".join(lines), hint=f"see why with: kbuild verify {report.config} "
                            "--srctree SRC (add --fix FRAGMENT for a verified fragment)")


_VERDICT = {"pass": "pass", "fail": "FAIL", "warn": "warn", "unknown": "unknown"}
# Table cells are cut at these widths; the details below the table and --json keep all.
_WIDTHS = (32, 16, 24, 7, 60, 40)
_DETAIL_LINES = 4


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def render_table(report: VerifyReport, only_problems: bool = False) -> str:
    """The human report: a header, the table, details of every problem, the result."""
    out = [f"kbuild verify {report.config}"]
    if report.resolved:
        shape = f"resolved against {report.srctree} (as make olddefconfig)"
    else:
        shape = "full .config" if report.complete else "minimal config"
    out.append(f"  Linux {report.kernel_version} ({report.version_source}), {report.arch} "
               f"({report.arch_source}), {shape}, {report.line_count} lines")
    entry = report.entry
    what = "assumed" if entry.assumed else f"{entry.source} ({entry.format}" + (
        f", label {entry.label}" if entry.label else "") + ")"
    out.append(f"  boot entry: {what}: {entry.cmdline}")
    if entry.hypervisor:
        out.append(f"  booted by Xen ({entry.hypervisor}) as dom0")
    out.append(f"  {report.rules_applied} of {report.rules_total} rules apply")
    out.append("")
    rows = [c for c in report.checks if not only_problems or c.verdict != "pass"]
    table = [("SYMBOL", "WANT", "FOUND", "VERDICT", "WHY", "FIX")]
    table += [(c.subject, c.wanted, c.found + ("*" if c.file_values else ""), _VERDICT[c.verdict],
               c.reason, c.fix or "") for c in rows]
    cells = [[_cut(r[i], _WIDTHS[i]) for i in range(6)] for r in table]
    widths = [max(len(r[i]) for r in cells) for i in range(6)]
    if rows:
        for r in cells:
            out.append("  ".join(r[i].ljust(widths[i]) for i in range(6)).rstrip())
    else:
        out.append(f"(all {len(report.checks)} checks passed)")
    if any(c.file_values for c in rows):
        out.append("* the file says otherwise; resolving it against the source tree gives this value")
    problems = [c for c in report.checks if c.verdict != "pass"]
    if problems:
        out.append("")
    for c in problems:
        out.extend(_details(report, c))
    if report.notes:
        out.append("")
        out.extend(f"note: {n}" for n in report.notes)
    if report.fix is not None:
        out.append("")
        out.extend(_render_fix(report.fix))
    out.append("")
    out.append(_result_line(report))
    return "\n".join(out) + "\n"


def _details(report: VerifyReport, c: Check) -> list[str]:
    out = [f"{_VERDICT[c.verdict]} {c.subject}: {c.reason}",
           f"  rule {c.rule} ({c.rule_where}); source: {c.source}"]
    shown = 0
    for name in c.symbols:
        if shown == _DETAIL_LINES:
            out.append(f"  ... {len(c.symbols) - shown} more symbols")
            break
        line = c.lines.get(name)
        value = c.values.get(name)
        if name in c.file_values:
            out.append(f"  {report.config}:{line}: {assignment(name, c.file_values[name])} in the "
                       f"file, but the kernel's Kconfig makes it {value}")
        elif line is not None:
            out.append(f"  {report.config}:{line}: {assignment(name, value or '?')}")
        elif value == "absent":
            out.append(f"  CONFIG_{name} is not in the config: its dependencies are not met, or this "
                       "kernel has no such symbol")
        elif value == "unknown":
            out.append(f"  CONFIG_{name} is not in this minimal config: its default decides "
                       "(pass --srctree to resolve it)")
        else:
            continue
        shown += 1
    for text in c.explanation:
        out.append(f"  {text}")
    if len(c.needs) > 1:
        out.append("  needs: " + ", ".join(c.needs))
    if c.fix:
        out.append(f"  fix: {c.fix}")
    return out


def _render_fix(fix: FixInfo) -> list[str]:
    if fix.verified:
        out = [f"fix: wrote {fix.path} ({len(fix.assignments)} line(s), verified by resolving "
               f"the config with it, {fix.resolutions} resolutions):"]
        out += [f"  {assignment(n, v)}    # {fix.why.get(n, '')}" for n, v in fix.assignments.items()]
    else:
        out = ["fix: no fragment found that passes; still failing: " + ", ".join(fix.remaining),
               "  tried: " + ", ".join(assignment(n, v) for n, v in fix.assignments.items())]
    for item in fix.left_out:
        out.append(f"  not a config matter: {item}")
    return out


def _result_line(report: VerifyReport) -> str:
    n = len(report.checks)
    fails = report.count("fail")
    warns = report.count("warn")
    unknown = report.count("unknown")
    extra = []
    if warns:
        extra.append(f"{warns} warning(s)")
    if unknown:
        extra.append(f"{unknown} unknown")
    tail = f" ({', '.join(extra)})" if extra else ""
    if report.passed:
        return f"result: PASS: {n - warns - unknown} of {n} checks passed{tail}"
    names = ", ".join(dict.fromkeys(c.subject for c in report.failures))
    undecided = sum(1 for c in report.failures if c.verdict == "unknown")
    what = "failed" if not undecided else "failed or undecided"
    return f"result: FAIL: {fails + undecided} of {n} checks {what} ({names}){tail}"


def verdict_line(report: VerifyReport) -> str:
    """The result in one line, ``PASS: ...`` or ``FAIL: ...`` (``kbuild verify A B C``)."""
    return _result_line(report).removeprefix("result: ")


def report_json(report: VerifyReport) -> dict[str, Any]:
    """The report as the JSON document described by docs/verify-schema.json."""
    return {
        "$schema": JSON_SCHEMA_ID,
        "version": REPORT_VERSION,
        "status": "pass" if report.passed else "fail",
        "exit_code": report.exit_code,
        "config": {"path": report.config, "lines": report.line_count,
                   "assignments": report.assignment_count, "complete": report.complete,
                   "resolved": report.resolved, "srctree": report.srctree},
        "kernel": {"version": report.kernel_version, "source": report.version_source},
        "arch": {"name": report.arch, "source": report.arch_source},
        "profile": report.profile,
        "entry": {"source": report.entry.source, "format": report.entry.format,
                  "cmdline": report.entry.cmdline, "label": report.entry.label,
                  "initrd": report.entry.initrd, "hypervisor": report.entry.hypervisor,
                  "assumed": report.entry.assumed},
        "facts": report.facts,
        "summary": {"checks": len(report.checks), "pass": report.count("pass"),
                    "fail": report.count("fail"), "warn": report.count("warn"),
                    "unknown": report.count("unknown"), "rules_applied": report.rules_applied,
                    "rules_total": report.rules_total},
        "checks": [{
            "rule": c.rule, "kind": c.kind, "subject": c.subject, "symbols": c.symbols,
            "wanted": c.wanted, "found": c.found, "verdict": c.verdict, "severity": c.severity,
            "reason": c.reason, "source": c.source, "fix": c.fix, "rule_location": c.rule_where,
            "values": c.values, "lines": c.lines, "file_values": c.file_values, "explanation": c.explanation,
            "needs": c.needs,
        } for c in report.checks],
        "notes": report.notes,
        "fix": None if report.fix is None else {
            "path": report.fix.path, "verified": report.fix.verified,
            "assignments": [{"symbol": n, "value": v, "line": assignment(n, v),
                             "why": report.fix.why.get(n, "")}
                            for n, v in report.fix.assignments.items()],
            "remaining": report.fix.remaining, "left_out": report.fix.left_out,
            "resolutions": report.fix.resolutions},
        "errors": [],
    }


def error_json(error: KbuildError) -> dict[str, Any]:
    """The JSON document for bad input (exit 2) or a failure of the machine."""
    diags = getattr(error, "diagnostics", None) or [
        Diagnostic(error.path, error.line, "error", error.message, error.hint)]
    return {"$schema": JSON_SCHEMA_ID, "version": REPORT_VERSION, "status": "error",
            "exit_code": error.exit_code, "errors": [d.as_dict() for d in diags]}
