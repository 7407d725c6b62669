"""The one adapter between kbuild and kconfiglib.

Everything that touches kconfiglib lives here: loading a kernel's Kconfig tree
(through a small compatibility layer for syntax newer than kconfiglib 14.1.0),
producing a base configuration (tinyconfig, defconfig, a file), merging
fragments, checking that every requested value stuck, and explaining why one
did not. The result must equal what ``make olddefconfig`` produces from the
same input; tests/build/test_configure.py holds kbuild to that.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kconfiglib

from kbuild.errors import Diagnostic, InfraError, UserError
from kbuild.kconfig.configfile import Assignment, ConfigFile, parse_text

TRI = {"n": 0, "m": 1, "y": 2}
TRI_NAME = {0: "n", 1: "m", 2: "y"}

# ---------------------------------------------------------------------------
# Compatibility layer: Kconfig syntax newer than kconfiglib 14.1.0.
#
# * Linux 5.13 turned ``option modules`` into a bare ``modules`` attribute.
# * Linux 6.18 added ``transitional`` (read from old .config, never written).
#
# Both are rewritten line by line before kconfiglib's tokenizer sees them, so
# file names and line numbers stay exact. Help text is copied verbatim: a help
# paragraph may well contain a line that reads just "modules".

_ATTR = re.compile(r"^(?P<indent>[ \t]+)(?P<word>modules|transitional)[ \t]*(#.*)?$")
_CONFIG_LINE = re.compile(r"^[ \t]*(?:menu)?config[ \t]+([A-Za-z0-9_]+)")
_HELP_LINE = re.compile(r"^(?P<indent>[ \t]*)(?:help|---help---)[ \t]*(#.*)?$")


def _indent_width(text: str) -> int:
    width = 0
    for ch in text:
        if ch == " ":
            width += 1
        elif ch == "\t":
            width = (width // 8 + 1) * 8
        else:
            break
    return width


def rewrite_kconfig_source(text: str) -> tuple[str, set[str]]:
    """Rewrite new Kconfig syntax into what kconfiglib 14.1.0 parses.

    Returns the rewritten text (same number of lines) and the names of the
    symbols marked ``transitional``.
    """
    out: list[str] = []
    transitional: set[str] = set()
    current: str | None = None
    help_indent: int | None = None  # set while inside a help block
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        if help_indent is not None:
            if not body.strip() or _indent_width(body) > help_indent:
                out.append(line)
                continue
            help_indent = None
        m = _CONFIG_LINE.match(body)
        if m:
            current = m.group(1)
        h = _HELP_LINE.match(body)
        if h:
            help_indent = _indent_width(h.group("indent"))
            out.append(line)
            continue
        a = _ATTR.match(body)
        if a:
            newline = line[len(body):]
            if a.group("word") == "modules":
                out.append(f"{a.group('indent')}option modules{newline}")
            else:
                if current is not None:
                    transitional.add(current)
                # A prompt makes kconfiglib honour the value read from an old
                # .config; the symbol is filtered out again when writing.
                out.append(f'{a.group("indent")}prompt "transitional"{newline}')
            continue
        out.append(line)
    return "".join(out), transitional


class CompatKconfig(kconfiglib.Kconfig):
    """kconfiglib.Kconfig that parses Kconfig trees of Linux up to 6.18."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.kbuild_transitional: set[str] = set()
        self._kbuild_parsing = True
        try:
            super().__init__(*args, **kwargs)
        finally:
            self._kbuild_parsing = False

    def _open(self, filename: str, mode: str) -> Any:  # noqa: D401 - kconfiglib hook
        if mode == "r" and getattr(self, "_kbuild_parsing", False):
            with open(filename, encoding=self._encoding) as f:
                text, transitional = rewrite_kconfig_source(f.read())
            self.kbuild_transitional |= transitional
            return io.StringIO(text)
        return super()._open(filename, mode)


# ---------------------------------------------------------------------------
# Loading a tree


@contextlib.contextmanager
def _environment(env: dict[str, str], cwd: Path) -> Iterator[None]:
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


@dataclass
class KconfigTree:
    """A parsed Kconfig tree plus what is needed to evaluate it again."""

    kconf: CompatKconfig
    srctree: Path
    arch: str
    env: dict[str, str]
    workdir: Path

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        with _environment(self.env, self.workdir):
            yield

    def sym(self, name: str) -> kconfiglib.Symbol | None:
        s = self.kconf.syms.get(name)
        if s is None or not s.nodes:
            return None
        return s


def load_tree(srctree: Path, arch: str, env: dict[str, str], workdir: Path | None = None) -> KconfigTree:
    """Parse ``srctree``'s Kconfig for ``arch`` with kconfiglib (+ compat layer).

    ``env`` comes from :func:`kbuild.kconfig.environment.kconfig_environment`; ``workdir``
    is where ``$(cc-option)`` probes create their scratch files (the build dir).
    """
    srctree = Path(srctree).resolve()
    workdir = Path(workdir or srctree)
    workdir.mkdir(parents=True, exist_ok=True)
    if not (srctree / "Kconfig").is_file():
        raise UserError("no Kconfig file: not a kernel source tree", path=srctree,
                        hint="point --srctree at the top of an unpacked kernel source")
    with _environment(env, workdir):
        try:
            kconf = CompatKconfig("Kconfig", warn=False, warn_to_stderr=False)
        except kconfiglib.KconfigError as e:
            raise InfraError(f"kconfiglib cannot parse {srctree}/Kconfig: {str(e).strip()}",
                             hint="this kernel uses Kconfig syntax kbuild does not know yet; "
                                  "see kbuild/kconfig/tree.py rewrite_kconfig_source") from None
    return KconfigTree(kconf=kconf, srctree=srctree, arch=arch, env=env, workdir=workdir)


# ---------------------------------------------------------------------------
# Base configurations


def _roundtrip(tree: KconfigTree) -> None:
    """Write the configuration out and read it back, as make does between steps.

    Values of invisible symbols are not written, so they fall back to their
    defaults on the next read: the C tools behave the same way.
    """
    text = config_text(tree)
    with tempfile.NamedTemporaryFile("w", suffix=".config", dir=tree.workdir,
                                     delete=False) as f:
        f.write(text)
        tmp = f.name
    try:
        tree.kconf.load_config(tmp, replace=True)
    finally:
        os.unlink(tmp)


def _load_file_values(tree: KconfigTree, path: Path, replace: bool) -> None:
    tree.kconf.load_config(str(path), replace=replace)


def _allnoconfig(tree: KconfigTree, allconfig: Path | None) -> None:
    kconf = tree.kconf
    for sym in kconf.unique_defined_syms:
        sym.set_value(2 if sym.is_allnoconfig_y else 0)
    if allconfig is not None:
        _load_file_values(tree, allconfig, replace=False)
    _roundtrip(tree)


def _merge_in_tree_fragments(tree: KconfigTree, name: str) -> None:
    """``make <name>.config``: merge kernel/configs/<name> and arch/<SRCARCH>/configs/<name>."""
    srcarch = tree.env["SRCARCH"]
    found = [p for p in (tree.srctree / "kernel/configs" / name,
                         tree.srctree / "arch" / srcarch / "configs" / name) if p.is_file()]
    if not found:
        raise UserError(f"no in-tree fragment {name!r} for {srcarch}",
                        hint="list kernel/configs and arch/*/configs in the source tree")
    for p in found:
        _load_file_values(tree, p, replace=False)
    _roundtrip(tree)


def default_defconfig(tree: KconfigTree) -> Path:
    srcarch = tree.env["SRCARCH"]
    if srcarch == "um":
        name = f"{tree.env.get('SUBARCH', 'x86')}_defconfig"
    elif srcarch == "x86":
        name = f"{tree.env['ARCH']}_defconfig"
    else:
        name = "defconfig"
    return tree.srctree / "arch" / srcarch / "configs" / name


def apply_base(tree: KconfigTree, base: str, base_dir: Path | None = None) -> str:
    """Set the tree to a base configuration; returns a description of it.

    ``base`` is ``tinyconfig``, ``allnoconfig``, ``defconfig``, ``<x>_defconfig``
    (from arch/<SRCARCH>/configs), ``<x>.config`` (in-tree fragment over
    defconfig), or a path to a config file (relative to ``base_dir``).
    """
    with tree.active():
        if base == "tinyconfig":
            _allnoconfig(tree, tree.srctree / "kernel/configs/tiny-base.config")
            _merge_in_tree_fragments(tree, "tiny.config")
            return "tinyconfig"
        if base == "allnoconfig":
            _allnoconfig(tree, None)
            return "allnoconfig"
        if base == "defconfig" or base.endswith("_defconfig"):
            path = (default_defconfig(tree) if base == "defconfig"
                    else tree.srctree / "arch" / tree.env["SRCARCH"] / "configs" / base)
            if not path.is_file():
                raise UserError(f"base {base!r}: {path} does not exist",
                                hint="name a file under arch/<arch>/configs or use tinyconfig")
            tree.kconf.load_config(str(path), replace=True)
            _roundtrip(tree)
            return base
        path = Path(base)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if path.is_file():
            tree.kconf.load_config(str(path), replace=True)
            _roundtrip(tree)
            return str(path)
        raise UserError(f"unknown base {base!r}",
                        hint="use tinyconfig, allnoconfig, defconfig, <name>_defconfig "
                             "or the path of a config file")


# ---------------------------------------------------------------------------
# Fragments


@dataclass
class MergeResult:
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


# ---------------------------------------------------------------------------
# Checking what stuck, and why not


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


def current_value(sym: kconfiglib.Symbol) -> str:
    if sym.orig_type in (kconfiglib.BOOL, kconfiglib.TRISTATE):
        return TRI_NAME[sym.tri_value]
    return sym.str_value


def location(item: Any) -> str:
    nodes = getattr(item, "nodes", None)
    if not nodes:
        return "?"
    return f"{nodes[0].filename}:{nodes[0].linenr}"


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


# ---------------------------------------------------------------------------
# Output


def config_header(tree: KconfigTree) -> str:
    return ("#\n# Automatically generated file; DO NOT EDIT.\n"
            f"# Linux/{tree.env['ARCH']} {tree.env['KERNELVERSION']} Kernel Configuration\n#\n")


def config_text(tree: KconfigTree) -> str:
    """The .config the current state writes, byte for byte as the C tools would."""
    text: str = tree.kconf._config_contents(config_header(tree))
    if tree.kconf.kbuild_transitional:
        drop = tuple(f"CONFIG_{n}=" for n in tree.kconf.kbuild_transitional) + tuple(
            f"# CONFIG_{n} is not set" for n in tree.kconf.kbuild_transitional)
        text = "".join(line for line in text.splitlines(keepends=True) if not line.startswith(drop))
    return text


def values_of(text: str, path: str = "<config>") -> dict[str, str]:
    """Symbol -> value for every assignment in a .config text."""
    return {a.name: a.value for a in parse_text(text, path).assignments}


# ---------------------------------------------------------------------------
# Checking a given .config against requirements (kbuild verify --srctree)


def resolve_config(tree: KconfigTree, config: Path,
                   assignments: dict[str, str] | None = None) -> dict[str, str]:
    """Symbol -> value as ``make olddefconfig`` resolves ``config`` (defaults filled in,
    values whose dependencies fail dropped), with ``assignments`` merged on top."""
    config = Path(config).resolve()
    with tree.active():
        tree.kconf.load_config(str(config), replace=True)
        _roundtrip(tree)
        if assignments:
            for name, value in assignments.items():
                sym = tree.sym(name)
                if sym is not None:
                    sym.set_value(value)
            _roundtrip(tree)
        return values_of(config_text(tree))


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


def min_config_text(tree: KconfigTree) -> str:
    """The current state as ``make savedefconfig`` writes it: only non-default values."""
    text: str = tree.kconf._min_config_contents("")
    return text
