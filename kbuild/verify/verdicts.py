"""Rules evaluated against a config's values and an entry's facts: one Check each.

A symbol rule passes when a wanted value is found; ``=m`` where only ``y`` will do has
its own message (modules live on the root). A config without its header is minimal:
symbols it does not set are ``unknown``, never guessed. Forbid and limit rules depend
on the entry alone.
"""
from __future__ import annotations

from kbuild.kconfig.configfile import ConfigValues, assignment
from kbuild.rules.model import Rule, RuleSet
from kbuild.util.versions import KernelRelease
from kbuild.verify.facts import EntryFacts
from kbuild.verify.report import Check


class SymbolValues:
    """Symbol values to check: the file's, or the tree's resolution of it."""

    def __init__(self, cfg: ConfigValues, complete: bool, resolved: dict[str, str] | None,
                 known: frozenset[str] = frozenset()) -> None:
        self.cfg = cfg
        self.complete = complete or resolved is not None
        self.resolved = resolved
        self.known = known      # symbols the source tree defines

    def found(self, name: str) -> str:
        if self.resolved is not None:
            value = self.resolved.get(name)
            if value is not None:
                return value
            # not written: its dependencies are not met, so it is n
            return "n" if name in self.known else "absent"
        value = self.cfg.values.get(name)
        if value is not None:
            return value
        return "absent" if self.complete else "unknown"

    def file_value(self, name: str) -> str | None:
        return self.cfg.value(name)


def _matches(found: str, want: tuple[str, ...]) -> bool:
    if found == "absent":
        return "n" in want
    return found in want


def _module_message(rule: Rule, name: str) -> str:
    return rule.module or (f"{name}=m: a module lives on the root filesystem, which is not "
                           f"mounted yet when it is needed; {rule.reason}")


def evaluate(rules: RuleSet, version: KernelRelease, facts: EntryFacts,
             values: SymbolValues) -> tuple[list[Check], int]:
    """Every applicable rule as a :class:`Check`; also how many rules applied."""
    checks = []
    for rule in rules.rules:
        if not rule.applies_to(version) or not rule.condition_holds(facts.facts):
            continue
        if rule.kind == "limit":
            assert rule.measure is not None and rule.limit is not None
            measured = facts.measures.get(rule.measure)
            if measured is None:
                continue
            ok = measured <= rule.limit
            checks.append(_check(rule, subject=rule.measure, symbols=[], wanted=f"<= {rule.limit} bytes",
                                 found=f"{measured} bytes", ok=ok, reason=rule.reason, fix=rule.fix,
                                 fixable=False))
        elif rule.kind == "forbid":
            conditions = " ".join(str(c) for c in rule.when)
            checks.append(_check(rule, subject="entry", symbols=[], wanted="-", found=conditions,
                                 ok=False, reason=rule.reason, fix=rule.fix, fixable=False))
        else:
            checks.append(_symbol_check(rule, values))
    return checks, len(checks)


def _check(rule: Rule, *, subject: str, symbols: list[str], wanted: str, found: str, ok: bool,
           reason: str, fix: str | None, fixable: bool, unknown: bool = False) -> Check:
    if ok:
        verdict = "pass"
    elif unknown:
        verdict = "unknown"
    else:
        verdict = "fail" if rule.severity == "error" else "warn"
    return Check(rule=rule.id, kind=rule.kind, subject=subject, symbols=symbols, wanted=wanted,
                 found=found, verdict=verdict, severity=rule.severity, reason=reason,
                 source=rule.source, fix=None if ok else fix, rule_where=rule.where,
                 fixable=fixable)


def _symbol_check(rule: Rule, values: SymbolValues) -> Check:
    found = {name: values.found(name) for name in rule.symbols}
    ok = any(_matches(v, rule.want_for(n)) for n, v in found.items())
    unknown = not ok and any(v == "unknown" for v in found.values())
    first = rule.symbols[0]
    reason = rule.reason
    if not ok and rule.kind == "symbol" and found[first] == "m" and "y" in rule.want \
            and "m" not in rule.want:
        reason = _module_message(rule, first)
    if rule.kind == "symbol":
        subject, found_text = first, found[first]
        wanted = rule.want_text
        fix = rule.fix or assignment(first, rule.want[0])
    else:
        subject = "any of " + ",".join(rule.symbols) if len(rule.symbols) <= 4 \
            else f"any of {len(rule.symbols)} NIC drivers" if rule.id == "some-nic" \
            else f"any of {len(rule.symbols)} symbols"
        found_text = _any_of_found(found, rule, unknown)
        wanted = rule.want_text
        fix = rule.fix or (assignment(first, rule.want[0])
                           + (f" (or another of {', '.join(rule.symbols[1:])})"
                              if len(rule.symbols) > 1 else ""))
    check = _check(rule, subject=subject, symbols=list(rule.symbols), wanted=wanted,
                   found=found_text, ok=ok, reason=reason, fix=fix,
                   fixable=rule.kind == "symbol" or rule.fix is None, unknown=unknown)
    check.values = found
    for name in rule.symbols:
        line = values.cfg.line(name)
        if line is not None:
            check.lines[name] = line
        if values.resolved is not None:
            fv = values.file_value(name)
            if fv is not None and fv != found[name] and not (fv == "n" and found[name] == "absent"):
                check.file_values[name] = fv
    return check


def _any_of_found(found: dict[str, str], rule: Rule, unknown: bool) -> str:
    good = [f"{n}={v}" for n, v in found.items() if _matches(v, rule.want_for(n))]
    if good:
        return ", ".join(good)
    if len(found) <= 4:
        set_ = [f"{n}={v}" for n, v in found.items() if v not in ("absent", "n", "unknown")]
        return ", ".join(set_) if set_ else ("unknown" if unknown else "none set")
    counts: dict[str, int] = {}
    for v in found.values():
        counts[v] = counts.get(v, 0) + 1
    return "none: " + ", ".join(f"{k} {v}" for v, k in sorted(counts.items(), key=lambda i: -i[1]))


def stale_symbols(rules: RuleSet, version: KernelRelease, cfg: ConfigValues) -> list[Check]:
    """Warnings for symbols the config sets that this kernel no longer has."""
    out = []
    for name, r in rules.renamed.items():
        value = cfg.value(name)
        if value is None or value == "n" or version < r.since:
            continue
        fix = f"drop the line; set CONFIG_{r.use} instead" if r.use else "drop the line"
        check = Check(rule=f"renamed:{name}", kind="stale", subject=name, symbols=[name],
                      wanted="-", found=value, verdict="warn", severity="warning",
                      reason=f"CONFIG_{name}: {r.what} (Linux {r.since}); this kernel ignores "
                             "the line", source=r.source, fix=fix, rule_where=r.where,
                      fixable=False)
        check.values = {name: value}
        line = cfg.line(name)
        if line is not None:
            check.lines[name] = line
        out.append(check)
    return out
