"""Why does a symbol not have the value asked for? The dependency chain, with file:line.

:func:`explain` walks the blocking terms of a symbol's dependencies (and of their
dependencies, a few levels deep) and returns the reasons, outermost first, plus the
assignments that would unblock it; :func:`explain_value` adds what setting it would
select or imply. Used when a fragment's value does not stick and by verify --srctree.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import kconfiglib

from kbuild.kconfig.tree import KconfigTree

TRI = {"n": 0, "m": 1, "y": 2}
TRI_NAME = {0: "n", 1: "m", 2: "y"}


def current_value(sym: kconfiglib.Symbol) -> str:
    if sym.orig_type in (kconfiglib.BOOL, kconfiglib.TRISTATE):
        return TRI_NAME[sym.tri_value]
    return sym.str_value


def location(item: Any) -> str:
    nodes = getattr(item, "nodes", None)
    if not nodes:
        return "?"
    return f"{nodes[0].filename}:{nodes[0].linenr}"


def _expr_str(expr: Any) -> str:
    return kconfiglib.expr_str(expr)


def _blocking_terms(expr: Any, need: int) -> list[Any]:
    """Sub-expressions of ``expr`` that keep its value below ``need``."""
    if kconfiglib.expr_value(expr) >= need:
        return []
    if isinstance(expr, tuple):
        op = expr[0]
        if op == kconfiglib.AND:
            return _blocking_terms(expr[1], need) + _blocking_terms(expr[2], need)
        if op == kconfiglib.OR:
            # every alternative falls short; report the whole alternative
            return [expr]
    return [expr]


def explain(tree: KconfigTree, sym: kconfiglib.Symbol, wanted: str,
            depth: int = 0, seen: set[str] | None = None) -> tuple[list[str], list[str]]:
    """Reasons (outermost first) why ``sym`` is not ``wanted``; plus symbols to set."""
    seen = set() if seen is None else seen
    seen.add(sym.name)
    reasons: list[str] = []
    blockers: list[str] = []
    got = current_value(sym)
    here = f"[{location(sym)}]"
    if sym.orig_type not in (kconfiglib.BOOL, kconfiglib.TRISTATE):
        if not sym.nodes or not any(n.prompt for n in sym.nodes):
            reasons.append(f"{sym.name} has no prompt: only its defaults set it {here}")
        elif sym.visibility == 0:
            reasons.extend(_dep_reasons(tree, sym, sym.direct_dep, 1, depth, seen, blockers))
        else:
            reasons.append(f"{sym.name}={got}: value rejected {here}")
        return reasons, blockers
    need = TRI[wanted]
    have = sym.tri_value
    if need < have:
        # asked for less than we have: something selects it, or a default forces it
        rev = kconfiglib.expr_value(sym.rev_dep)
        if rev > need:
            selectors = [s for s in _expr_syms(sym.rev_dep) if s.tri_value > 0]
            names = ", ".join(f"{s.name} [{location(s)}]" for s in selectors) or _expr_str(sym.rev_dep)
            reasons.append(f"{sym.name}={got} because it is selected by {names}")
            blockers.extend(f"{s.name}=n" for s in selectors)
        elif not any(n.prompt for n in sym.nodes):
            reasons.append(f"{sym.name} has no prompt; its default makes it {got} {here}")
        else:
            reasons.append(f"{sym.name}={got}: lowered by {_expr_str(sym.weak_rev_dep)} (imply) {here}")
        return reasons, blockers
    if sym.choice is not None and sym.choice.tri_value == 2 and sym.choice.selection is not sym:
        sel = sym.choice.selection
        reasons.append(f"{sym.name} is in a choice whose selection is "
                       f"{sel.name if sel else 'nothing'} [{location(sym.choice)}]")
        if sym.visibility < need:
            reasons.extend(_dep_reasons(tree, sym, sym.direct_dep, need, depth, seen, blockers))
        return reasons, blockers
    if not any(n.prompt for n in sym.nodes):
        reasons.append(f"{sym.name} has no prompt: it is set only by select/default "
                       f"{here}" + (f"; selected by {_expr_str(sym.rev_dep)}"
                                    if sym.rev_dep is not tree.kconf.n else ""))
        return reasons, blockers
    if sym.orig_type == kconfiglib.TRISTATE and need == 2 and have == 1:
        # limited to m: a dependency is m, or the symbol is a module-only one
        reasons.extend(_dep_reasons(tree, sym, sym.direct_dep, 2, depth, seen, blockers))
        if not reasons:
            vis_terms = [n.prompt[1] for n in sym.nodes if n.prompt]
            for cond in vis_terms:
                reasons.extend(_dep_reasons(tree, sym, cond, 2, depth, seen, blockers))
        if not reasons:
            reasons.append(f"{sym.name} can only be m here {here}")
        return reasons, blockers
    dep_reasons = _dep_reasons(tree, sym, sym.direct_dep, need, depth, seen, blockers)
    if not dep_reasons:
        for node in sym.nodes:
            if node.prompt:
                dep_reasons += _dep_reasons(tree, sym, node.prompt[1], need, depth, seen, blockers)
    if not dep_reasons and need == 2 and tree.kconf.modules.tri_value == 0:
        dep_reasons.append(f"{sym.name}: MODULES=n limits tristates to y/n {here}")
    reasons.extend(dep_reasons or [f"{sym.name}={got} (wanted {wanted}) {here}"])
    return reasons, blockers


def _expr_syms(expr: Any) -> list[kconfiglib.Symbol]:
    out = []
    for s in kconfiglib.expr_items(expr):
        if isinstance(s, kconfiglib.Symbol) and not s.is_constant:
            out.append(s)
    return out


def _dep_reasons(tree: KconfigTree, sym: kconfiglib.Symbol, dep: Any, need: int, depth: int,
                 seen: set[str], blockers: list[str]) -> list[str]:
    reasons: list[str] = []
    for term in _blocking_terms(dep, need):
        if isinstance(term, kconfiglib.Symbol) and not term.is_constant:
            val = current_value(term)
            reasons.append(f"{sym.name}={current_value(sym)} because {term.name}={val} "
                           f"[{location(term)}]")
            _explain_deeper(tree, term, "y" if need == 2 else "m", depth, seen, blockers, reasons)
            continue
        if isinstance(term, tuple) and term[0] == kconfiglib.EQUAL:
            lhs, rhs = term[1], term[2]
            if isinstance(lhs, kconfiglib.Symbol) and not lhs.is_constant and rhs.is_constant:
                reasons.append(f"{sym.name}={current_value(sym)} because it depends on "
                               f"{_expr_str(term)} but {lhs.name}={current_value(lhs)} "
                               f"[{location(lhs)}]")
                _explain_deeper(tree, lhs, rhs.name, depth, seen, blockers, reasons)
                continue
        if isinstance(term, tuple) and term[0] == kconfiglib.NOT:
            inner = term[1]
            names = [s.name for s in _expr_syms(inner) if s.tri_value > 0]
            reasons.append(f"{sym.name}={current_value(sym)} because it depends on "
                           f"{_expr_str(term)} ({', '.join(names) or 'it'} is set)")
            blockers.extend(f"{n}=n" for n in names)
            continue
        reasons.append(f"{sym.name}={current_value(sym)} because {_expr_str(term)} is "
                       f"{TRI_NAME[kconfiglib.expr_value(term)]} [{location(sym)}]")
        for s in _expr_syms(term):
            if s.tri_value == 0 and s.name not in seen and any(n.prompt for n in s.nodes):
                blockers.append(f"{s.name}=y")
                break
    return reasons


def _explain_deeper(tree: KconfigTree, term: kconfiglib.Symbol, wanted: str, depth: int,
                    seen: set[str], blockers: list[str], reasons: list[str]) -> None:
    if term.name in seen or depth >= 6:
        return
    if term.orig_type in (kconfiglib.BOOL, kconfiglib.TRISTATE):
        if TRI[wanted] <= term.tri_value:
            return
        if term.visibility >= TRI[wanted]:
            # nothing blocks it: it simply was not asked for
            blockers.append(f"{term.name}={wanted}")
            reasons.append(f"  {term.name} can be set: add CONFIG_{term.name}={wanted}")
            return
    sub, sub_blockers = explain(tree, term, wanted, depth + 1, seen)
    reasons.extend("  " + r for r in sub)
    blockers.extend(sub_blockers)


@dataclass
class Explanation:
    """Why a symbol does not have a wanted value, in the tree's current state."""

    symbol: str
    wanted: str
    value: str | None              # None: the symbol does not exist in this tree
    reasons: list[str]             # outermost first
    needs: list[str]               # NAME=VALUE assignments that get it there
    effects: list[str]             # select/imply effects of setting it, who selects it


def explain_value(tree: KconfigTree, name: str, wanted: str) -> Explanation:
    """Explain ``name`` not being ``wanted``: settable as is, or the blocking chain."""
    sym = tree.sym(name)
    if sym is None:
        from kbuild.rules import renames

        note = renames.describe(name, tree.env.get("KERNELVERSION"))
        text = (f"CONFIG_{name} does not exist in this kernel "
                f"({tree.env.get('KERNELVERSION', '?')}, {tree.arch})")
        return Explanation(name, wanted, None, [text + (f": {note}" if note else "")], [], [])
    with tree.active():
        got = current_value(sym)
        needs = [f"{name}={wanted}"]
        if sym.orig_type in (kconfiglib.BOOL, kconfiglib.TRISTATE) and wanted in TRI \
                and TRI[wanted] in sym.assignable:
            reasons = [f"{name}={got} is the config's choice; {name}={wanted} is possible "
                       f"here [{location(sym)}]"]
        else:
            reasons, blockers = explain(tree, sym, wanted)
            needs += [b for b in blockers if b not in needs]
        return Explanation(name, wanted, got, reasons, needs, _effects(sym, wanted))


def _effects(sym: kconfiglib.Symbol, wanted: str) -> list[str]:
    out = []
    if TRI.get(wanted, 0) > 0:
        # the select conditions include the symbol's own dependencies: list every target
        selects = list(dict.fromkeys(t.name for t, _cond in sym.selects))
        if selects:
            out.append(f"{sym.name}={wanted} selects {', '.join(selects)} [{location(sym)}]")
        implies = list(dict.fromkeys(t.name for t, _cond in sym.implies))
        if implies:
            out.append(f"{sym.name}={wanted} implies {', '.join(implies)} (a default, "
                       "can be overridden)")
    selectors = [s for s in _expr_syms(sym.rev_dep) if s.tri_value > 0]
    if selectors:
        out.append(f"{sym.name} is selected by "
                   + ", ".join(f"{s.name}={current_value(s)} [{location(s)}]" for s in selectors))
    impliers = [s for s in _expr_syms(sym.weak_rev_dep) if s.tri_value > 0]
    if impliers:
        out.append(f"{sym.name} is implied by " + ", ".join(f"{s.name}={current_value(s)}"
                                                           for s in impliers))
    return out
