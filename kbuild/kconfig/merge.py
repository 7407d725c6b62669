"""Fragments merged onto a base, and the check that every requested value stuck.

Merging reports (never raises) malformed lines, unknown symbols, values of the wrong
type and two fragments giving one symbol different values (both places named);
:func:`check_requested` compares the resolved state with every request and explains
each value that did not stick.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import kconfiglib

from kbuild.errors import Diagnostic
from kbuild.kconfig.configfile import Assignment, ConfigFile
from kbuild.kconfig.tree import KconfigTree
from kbuild.kconfig.whynot import current_value, explain


@dataclass
class MergeResult:
    """The fragments merged: every requested assignment (by symbol) and every diagnostic;
    values were applied only when there is no error."""

    requested: dict[str, Assignment] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


_TYPE_NAMES = {kconfiglib.BOOL: "bool", kconfiglib.TRISTATE: "tristate",
               kconfiglib.STRING: "string", kconfiglib.INT: "int", kconfiglib.HEX: "hex",
               kconfiglib.UNKNOWN: "unknown"}


def type_name(sym: kconfiglib.Symbol) -> str:
    return _TYPE_NAMES.get(sym.orig_type, "unknown")


def _value_fits(sym: kconfiglib.Symbol, a: Assignment) -> str | None:
    """None when the assignment's value suits the symbol's type, else why not."""
    t = sym.orig_type
    if t == kconfiglib.BOOL:
        if a.kind != "tristate" or a.value == "m":
            return f"{sym.name} is a bool: use y or n"
    elif t == kconfiglib.TRISTATE:
        if a.kind != "tristate":
            return f"{sym.name} is a tristate: use y, m or n"
    elif t == kconfiglib.INT:
        if a.kind != "int":
            return f"{sym.name} is an int: use a decimal number"
    elif t == kconfiglib.HEX:
        if a.kind != "hex" and not (a.kind == "int" and a.value.isdigit()):
            return f"{sym.name} is a hex value: use 0x..."
    elif t == kconfiglib.STRING:
        if a.kind != "string":
            return f"{sym.name} is a string: quote the value"
    if t in (kconfiglib.INT, kconfiglib.HEX):
        rng = _active_range(sym)
        if rng is not None:
            lo, hi = rng
            base = 16 if t == kconfiglib.HEX else 10
            try:
                v = int(a.value, base)
            except ValueError:
                return f"{a.value} is not a valid {type_name(sym)} value"
            if not lo <= v <= hi:
                return f"{a.value} is outside {sym.name}'s range {lo}..{hi}"
    return None


def _active_range(sym: kconfiglib.Symbol) -> tuple[int, int] | None:
    base = 16 if sym.orig_type == kconfiglib.HEX else 10
    for low, high, cond in sym.ranges:
        if kconfiglib.expr_value(cond):
            try:
                lo = int(low.str_value, base)
                hi = int(high.str_value, base)
            except ValueError:
                return None
            return lo, hi
    return None


def merge_fragments(tree: KconfigTree, fragments: list[ConfigFile]) -> MergeResult:
    """Apply fragments in order on top of the current configuration.

    Reports (does not raise): malformed lines, unknown symbols, values of the
    wrong type, and one symbol given different values by two fragments (both
    places named). Values are applied only when there is no error at all.
    """
    result = MergeResult()
    seen: dict[str, Assignment] = {}
    for frag in fragments:
        result.diagnostics.extend(frag.diagnostics)
        for a in frag.assignments:
            sym = tree.sym(a.name)
            if sym is None:
                result.diagnostics.append(Diagnostic(
                    a.path, a.line, "error", f"unknown symbol CONFIG_{a.name} in this kernel "
                    f"({tree.env.get('KERNELVERSION', '?')}, {tree.arch})",
                    _unknown_hint(tree, a.name)))
                continue
            why = _value_fits(sym, a)
            if why:
                result.diagnostics.append(Diagnostic(a.path, a.line, "error", why))
                continue
            prev = seen.get(a.name)
            if prev is not None and prev.value != a.value:
                result.diagnostics.append(Diagnostic(
                    a.path, a.line, "error",
                    f"CONFIG_{a.name}={a.value} conflicts with CONFIG_{a.name}={prev.value} "
                    f"at {prev.where}",
                    "keep one value: remove the line from one of the two fragments"))
                continue
            seen[a.name] = a
    result.requested = seen
    if result.errors:
        return result
    with tree.active():
        for a in seen.values():
            sym = tree.kconf.syms[a.name]
            sym.set_value(a.value)
    return result


def _unknown_hint(tree: KconfigTree, name: str) -> str:
    from kbuild.rules import renames  # local: data only needed on this error path

    note = renames.describe(name, tree.env.get("KERNELVERSION"))
    if note:
        return note
    close = [s.name for s in tree.kconf.unique_defined_syms
             if s.name.startswith(name[: max(3, len(name) - 3)])][:3]
    if close:
        return "did you mean " + ", ".join(close) + "?"
    return "check the spelling against the kernel's Kconfig files (git grep 'config NAME')"


@dataclass
class Drop:
    """A requested value that the resolved configuration does not have."""

    name: str
    wanted: str
    got: str
    where: str                 # fragment file:line of the request
    reasons: list[str]         # outermost first
    blockers: list[str] = field(default_factory=list)  # symbols to set to fix it

    def __str__(self) -> str:
        text = f"{self.where}: error: CONFIG_{self.name}={self.wanted} did not stick (got {self.got})"
        for r in self.reasons:
            text += f"\n  {r}"
        return text


def check_requested(tree: KconfigTree, requested: dict[str, Assignment]) -> list[Drop]:
    drops = []
    with tree.active():
        for a in requested.values():
            sym = tree.kconf.syms[a.name]
            got = current_value(sym)
            if _same_value(sym, a.value, got):
                continue
            reasons, blockers = explain(tree, sym, a.value)
            drops.append(Drop(a.name, a.value, got, a.where, reasons, blockers))
    return drops


def _same_value(sym: kconfiglib.Symbol, wanted: str, got: str) -> bool:
    if sym.orig_type == kconfiglib.HEX:
        try:
            return int(wanted, 16) == int(got, 16)
        except ValueError:
            return False
    if sym.orig_type in (kconfiglib.BOOL, kconfiglib.TRISTATE) and wanted == "n":
        return got == "n"
    return wanted == got
