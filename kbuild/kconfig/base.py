"""Base configurations: tinyconfig, allnoconfig, defconfig, <x>_defconfig, a file.

Each is produced the way the kernel's own make targets produce it (allnoconfig plus
the in-tree fragments for tinyconfig), with the same write-and-read-back between steps.
"""
from __future__ import annotations

from pathlib import Path

from kbuild.errors import UserError
from kbuild.kconfig.tree import KconfigTree, config_text, roundtrip


def _load_file_values(tree: KconfigTree, path: Path, replace: bool) -> None:
    tree.kconf.load_config(str(path), replace=replace)


def _allnoconfig(tree: KconfigTree, allconfig: Path | None) -> None:
    kconf = tree.kconf
    for sym in kconf.unique_defined_syms:
        sym.set_value(2 if sym.is_allnoconfig_y else 0)
    if allconfig is not None:
        _load_file_values(tree, allconfig, replace=False)
    roundtrip(tree)


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
    roundtrip(tree)


def default_defconfig(tree: KconfigTree) -> Path:
    return _default_defconfig(tree.srctree, tree.env)


def _default_defconfig(srctree: Path, env: dict[str, str]) -> Path:
    srcarch = env["SRCARCH"]
    if srcarch == "um":
        name = f"{env.get('SUBARCH', 'x86')}_defconfig"
    elif srcarch == "x86":
        name = f"{env['ARCH']}_defconfig"
    else:
        name = "defconfig"
    return srctree / "arch" / srcarch / "configs" / name


def _base_inputs(tree: KconfigTree, base: str, base_dir: Path | None) -> list[Path] | None:
    return base_inputs(tree.srctree, tree.env, base, base_dir)


def base_inputs(srctree: Path, env: dict[str, str], base: str,
                base_dir: Path | None) -> list[Path] | None:
    """The files a base is made from, in the tree parsed in ``env`` (None: a base the
    caches do not handle)."""
    srcarch = env["SRCARCH"]
    if base == "tinyconfig":
        return [srctree / "kernel/configs/tiny-base.config",
                srctree / "kernel/configs/tiny.config",
                srctree / "arch" / srcarch / "configs/tiny.config"]
    if base == "allnoconfig":
        return []
    if base == "defconfig":
        return [_default_defconfig(srctree, env)]
    if base.endswith("_defconfig"):
        return [srctree / "arch" / srcarch / "configs" / base]
    path = Path(base)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return [path]


def _base_entry(tree: KconfigTree, base: str, base_dir: Path | None, cache: Path) -> Path | None:
    """Where the .config of this base over this parse is kept (None: not cacheable)."""
    import hashlib

    inputs = _base_inputs(tree, base, base_dir)
    if tree.digest is None or inputs is None:
        return None
    h = hashlib.sha256(f"{tree.digest}\0{base}".encode("utf-8", "surrogateescape"))
    for p in inputs:
        try:
            h.update(b"\0" + str(p).encode("utf-8", "surrogateescape") + b"\0" + p.read_bytes())
        except OSError:
            return None         # a missing input: the uncached path reports it
    return cache / f"base-{h.hexdigest()}.config"


def apply_base(tree: KconfigTree, base: str, base_dir: Path | None = None,
               cache: Path | None = None) -> str:
    """Set the tree to a base configuration; returns a description of it.

    ``base`` is ``tinyconfig``, ``allnoconfig``, ``defconfig``, ``<x>_defconfig``
    (from arch/<SRCARCH>/configs), ``<x>.config`` (in-tree fragment over
    defconfig), or a path to a config file (relative to ``base_dir``).

    With ``cache`` (the tree cache's directory) the .config a base gives over this
    parse of the tree is kept: every way of making a base ends by writing the
    .config and reading it back with ``replace=True``, so reading that text into a
    fresh parse gives the very same state.
    """
    entry = _base_entry(tree, base, base_dir, cache) if cache is not None else None
    if entry is not None and entry.is_file():
        with tree.active():
            tree.kconf.load_config(str(entry), replace=True)
        if base in ("tinyconfig", "allnoconfig", "defconfig") or base.endswith("_defconfig"):
            return base
        return str((_base_inputs(tree, base, base_dir) or [Path(base)])[0])
    description = _apply_base(tree, base, base_dir)
    if entry is not None:
        from kbuild.util.files import atomic_write_text

        try:
            atomic_write_text(entry, config_text(tree))
        except OSError:
            pass                # an unwritable cache only costs time
    return description


def _apply_base(tree: KconfigTree, base: str, base_dir: Path | None) -> str:
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
            roundtrip(tree)
            return base
        path = Path(base)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if path.is_file():
            tree.kconf.load_config(str(path), replace=True)
            roundtrip(tree)
            return str(path)
        raise UserError(f"unknown base {base!r}",
                        hint="use tinyconfig, allnoconfig, defconfig, <name>_defconfig "
                             "or the path of a config file")
