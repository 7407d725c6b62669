"""The smallest fragment that makes requirements pass, verified by resolving it.

Used by ``kbuild verify --srctree --fix``: a config is resolved as ``make
olddefconfig`` would, with candidate assignments merged on top, and nothing is offered
on a guess.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kbuild.kconfig.tree import KconfigTree, config_text, roundtrip, values_of
from kbuild.kconfig.whynot import explain


def resolve_config(tree: KconfigTree, config: Path,
                   assignments: dict[str, str] | None = None) -> dict[str, str]:
    """Symbol -> value as ``make olddefconfig`` resolves ``config`` (defaults filled in,
    values whose dependencies fail dropped), with ``assignments`` merged on top."""
    config = Path(config).resolve()
    with tree.active():
        tree.kconf.load_config(str(config), replace=True)
        roundtrip(tree)
        if assignments:
            for name, value in assignments.items():
                sym = tree.sym(name)
                if sym is not None:
                    sym.set_value(value)
            roundtrip(tree)
        return values_of(config_text(tree))


@dataclass
class FixSearch:
    """The smallest fragment found that makes the requirements pass, and the proof."""

    assignments: dict[str, str]    # NAME -> value, in the order they were found
    why: dict[str, str]            # NAME -> why it is in the fragment
    remaining: list[str]           # what ``check`` still reports with it applied ([] = verified)
    values: dict[str, str]         # the resolved configuration with the fragment applied
    resolutions: int = 0


def _same(got: str | None, wanted: str) -> bool:
    return (got or "n") == wanted


def find_fix(tree: KconfigTree, config: Path, required: dict[str, tuple[str, str]],
             check: Callable[[dict[str, str]], list[str]], max_rounds: int = 6) -> FixSearch:
    """Search the smallest set of extra assignments that makes ``check`` pass.

    ``required`` maps a symbol to (wanted value, why). Starting from it, every
    value that does not stick adds the blockers :func:`explain` names, round
    by round; then each line is dropped again if ``check`` still passes
    without it. Every candidate is verified by resolving it against the tree
    (as ``make olddefconfig`` would) — nothing is offered on a guess.
    ``check`` gets the resolved values and returns what still fails.
    """
    frag = {name: value for name, (value, _why) in required.items()}
    why = {name: reason for name, (_value, reason) in required.items()}
    resolutions = 0

    def resolve(assignments: dict[str, str]) -> dict[str, str]:
        nonlocal resolutions
        resolutions += 1
        return resolve_config(tree, config, assignments)

    values = resolve(frag)
    for _ in range(max_rounds):
        stuck = [(n, v) for n, v in frag.items() if not _same(values.get(n), v)]
        added = False
        with tree.active():
            for name, value in stuck:
                sym = tree.sym(name)
                if sym is None:
                    continue
                _reasons, blockers = explain(tree, sym, value)
                for b in blockers:
                    bname, _, bvalue = b.partition("=")
                    if bname and bvalue and bname not in frag:
                        frag[bname] = bvalue
                        why[bname] = f"needed for {name}={value}"
                        added = True
        if not added:
            break
        values = resolve(frag)
    remaining = check(values)
    if not remaining:
        for name in reversed(list(frag)):
            trial = {k: v for k, v in frag.items() if k != name}
            trial_values = resolve(trial)
            if not check(trial_values):
                frag, values = trial, trial_values
    return FixSearch(assignments=frag, why={k: why[k] for k in frag}, remaining=remaining,
                     values=values, resolutions=resolutions)
