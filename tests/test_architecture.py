"""The import graph of kbuild/: no cycles, and every import points down the layers.

Imports are read with ``ast`` from every module, including imports inside functions and
under ``if TYPE_CHECKING:`` (a cycle hidden in a function is still a cycle), plus
``importlib.import_module("kbuild....")`` with a literal name. A new sub-package must be
given a layer here before it can be imported by anything.
"""
from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e import REPO

# Lowest first. A module may import modules of its own sub-package and of lower layers;
# two sub-packages of one layer never import each other (publish never imports lab).
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"kbuild", "errors"}),            # the package itself (__version__), the errors
    frozenset({"util"}),                        # files, TOML positions, versions, progress
    frozenset({"site", "rules"}),               # the site model and loader; requirements data
    frozenset({"source", "kconfig", "boot", "root", "signing"}),  # inputs; Kconfig; entries; roots; keys
    frozenset({"verify"}),                      # never imports build or publish
    frozenset({"build"}),                       # configure, make
    frozenset({"publish", "lab"}),              # the TFTP tree; real boots
    frozenset({"commands", "tasks"}),           # `kbuild SUB`; doit task creators
    frozenset({"cli"}),                         # the `kbuild` entry point (loads commands/)
    frozenset({"__main__"}),                    # `python -m kbuild`
)
# Imports between two units of one layer that are allowed all the same: none.
SIDEWAYS: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Import:
    source: str      # importing module, dotted
    target: str      # imported module, dotted
    path: Path
    line: int


def module_name(root: Path, path: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def read_imports(root: Path) -> tuple[set[str], list[Import]]:
    """Every module of the package at ``root`` and every import between them."""
    files = sorted(root.rglob("*.py"))
    modules = {module_name(root, f) for f in files}
    package = root.name
    found: list[Import] = []
    for f in files:
        me = module_name(root, f)
        here = me if f.name == "__init__.py" else me.rpartition(".")[0]
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join([*up, *([base] if base else [])])
                # `from kbuild.boot import grub` imports the module kbuild.boot.grub
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr == "import_module" and node.args
                  and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                targets = [node.args[0].value]
            for t in targets:
                if t == package or t.startswith(package + "."):
                    while t not in modules and "." in t:   # kbuild.x.name -> kbuild.x
                        t = t.rpartition(".")[0]
                    if t != me:
                        found.append(Import(me, t, f, node.lineno))
    return modules, list(dict.fromkeys(found))


def unit(module: str) -> str:
    """The sub-package (or top-level module) a module belongs to: kbuild.verify.check -> verify."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def problems(root: Path, layers: tuple[frozenset[str], ...] = LAYERS,
             sideways: frozenset[tuple[str, str]] = SIDEWAYS) -> list[str]:
    """Every cycle and every import against the layer order, as readable lines."""
    modules, imports = read_imports(root)
    rank = {u: i for i, layer in enumerate(layers) for u in layer}
    out: list[str] = []
    for u in sorted({unit(m) for m in modules} - set(rank)):
        out.append(f"{root.name}/{u}: not in LAYERS (give the new sub-package a layer)")
    by_module: dict[str, set[str]] = {}
    by_unit: dict[str, set[str]] = {}
    for imp in imports:
        by_module.setdefault(imp.source, set()).add(imp.target)
        a, b = unit(imp.source), unit(imp.target)
        if a == b:
            continue
        by_unit.setdefault(a, set()).add(b)
        if a in rank and b in rank and rank[a] <= rank[b] and (a, b) not in sideways:
            where = "the same layer as" if rank[a] == rank[b] else "a lower layer than"
            out.append(f"{imp.path.relative_to(root.parent)}:{imp.line}: {imp.source} imports "
                       f"{imp.target}, but {a} is {where} {b}")
    out += ["module cycle: " + " <-> ".join(c) for c in cycles(by_module)]
    out += ["sub-package cycle: " + " <-> ".join(c) for c in cycles(by_unit)]
    return out


# --- the real package ------------------------------------------------------------------

def test_kbuild_has_no_cycles_and_imports_only_downwards():
    assert problems(REPO / "kbuild") == []


def test_every_sub_package_has_a_layer_and_every_layer_is_used():
    units = {unit(m) for m in read_imports(REPO / "kbuild")[0]}
    declared = set().union(*LAYERS)
    assert units == declared


def test_library_code_never_reaches_into_tests():
    offenders = []
    for f in sorted((REPO / "kbuild").rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Constant) and node.value == "tests":
                names = ["tests"]      # Path(...) / "tests" / ...
            if any(n == "tests" or n.startswith("tests.") for n in names):
                offenders.append(f"{f.relative_to(REPO)}:{node.lineno}")
    assert offenders == []


def test_the_lab_workload_is_package_data():
    from kbuild.lab import uml

    assert uml.FPSTRESS.is_file() and uml.FPSTRESS.parent == REPO / "kbuild" / "lab"
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"kbuild.lab" = ["fpstress.c"]' in pyproject


def test_pyproject_lists_every_sub_package():
    import tomllib

    declared = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {module_name(REPO / "kbuild", p.parent) for p in (REPO / "kbuild").rglob("__init__.py")}
    assert declared == packages


# --- the checker itself, on synthetic packages -------------------------------------------

def make_package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for rel, text in {"__init__.py": "", **files}.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root


MINI_LAYERS = (frozenset({"pkg", "low"}), frozenset({"mid", "side"}), frozenset({"top"}))


def test_a_clean_mini_package_passes(tmp_path):
    root = make_package(tmp_path, {
        "low/__init__.py": "", "low/a.py": "X = 1\n",
        "mid/__init__.py": "", "mid/b.py": "from pkg.low.a import X\n",
        "side/__init__.py": "", "side/c.py": "from pkg.low import a\n",
        "top.py": "import importlib\nfrom pkg.mid import b\nfrom pkg.side import c\n"
                  "importlib.import_module('pkg.low.a')\n",
    })
    assert problems(root, MINI_LAYERS) == []


def test_a_cycle_hidden_inside_a_function_is_found(tmp_path):
    root = make_package(tmp_path, {
        "mid/__init__.py": "",
        "mid/b.py": "from pkg.mid import c\n",
        "mid/c.py": """\
            def later():
                from pkg.mid import b   # the kind bootlab <-> umlab had
                return b
            """,
    })
    assert problems(root, MINI_LAYERS) == ["module cycle: pkg.mid.b <-> pkg.mid.c"]


def test_a_sub_package_cycle_and_the_wrong_direction_are_found(tmp_path):
    root = make_package(tmp_path, {
        "low/__init__.py": "", "low/a.py": "from pkg.mid.b import Y\n",
        "mid/__init__.py": "", "mid/b.py": "Y = 2\n",
        "mid/d.py": "from pkg.low import a\n",
    })
    found = problems(root, MINI_LAYERS)
    assert found == ["pkg/low/a.py:1: pkg.low.a imports pkg.mid.b, but low is a lower layer than mid",
                     "sub-package cycle: low <-> mid"]


def test_same_layer_imports_and_type_checking_imports_count(tmp_path):
    root = make_package(tmp_path, {
        "mid/__init__.py": "",
        "side/__init__.py": "",
        "side/c.py": """\
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                from pkg.mid import b
            """,
        "mid/b.py": "from . import e\n", "mid/e.py": "",
        "extra/__init__.py": "",
    })
    assert problems(root, MINI_LAYERS) == [
        "pkg/extra: not in LAYERS (give the new sub-package a layer)",
        "pkg/side/c.py:3: pkg.side.c imports pkg.mid.b, but side is the same layer as mid",
    ]


@pytest.mark.parametrize("text", ["from .. import top\n", "from ..top import Z\n"])
def test_relative_imports_are_resolved(tmp_path, text):
    root = make_package(tmp_path, {"low/__init__.py": "", "low/a.py": text, "top.py": "Z = 1\n"})
    assert problems(root, MINI_LAYERS) == [
        "pkg/low/a.py:1: pkg.low.a imports pkg.top, but low is a lower layer than top"]
