"""A kernel's Kconfig tree loaded with kconfiglib, and the .config it writes.

kbuild/kconfig/ is the one adapter between kbuild and kconfiglib: this module loads a
tree (through :mod:`~kbuild.kconfig.compat`) in the environment the kernel's Makefile
gives Kconfig, and writes the state as the C tools would; base.py makes a base
configuration, merge.py merges fragments and checks they stuck, whynot.py explains why
one did not, fixsearch.py searches verify's fix. The result must equal what ``make
olddefconfig`` produces from the same input; tests/build/test_configure.py holds
kbuild to that.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import kconfiglib

from kbuild.errors import InfraError, UserError
from kbuild.kconfig.compat import CompatKconfig
from kbuild.kconfig.configfile import parse_text


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
    from_cache: bool = False        # the parse came from the tree cache (treecache.py)
    digest: str | None = None       # with the cache: names this parse (key + Kconfig files)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        with _environment(self.env, self.workdir):
            yield

    def sym(self, name: str) -> kconfiglib.Symbol | None:
        s = self.kconf.syms.get(name)
        if s is None or not s.nodes:
            return None
        return s


def load_tree(srctree: Path, arch: str, env: dict[str, str], workdir: Path | None = None,
              cache: Path | None = None) -> KconfigTree:
    """Parse ``srctree``'s Kconfig for ``arch`` with kconfiglib (+ compat layer).

    ``env`` comes from :func:`kbuild.kconfig.environment.kconfig_environment`; ``workdir``
    is where ``$(cc-option)`` probes create their scratch files (the build dir).
    With ``cache`` (a directory), a tree parsed before in the same environment is
    loaded from there instead of parsed (:mod:`kbuild.kconfig.treecache`).
    """
    srctree = Path(srctree).resolve()
    workdir = Path(workdir or srctree)
    workdir.mkdir(parents=True, exist_ok=True)
    if not (srctree / "Kconfig").is_file():
        raise UserError("no Kconfig file: not a kernel source tree", path=srctree,
                        hint="point --srctree at the top of an unpacked kernel source")
    entry = None
    if cache is not None:
        from kbuild.kconfig import treecache

        entry = cache / f"{treecache.tree_key(srctree, arch, env)}.pickle"
        found = treecache.lookup(entry, srctree, env)
        if found is not None:
            return KconfigTree(kconf=found[0], srctree=srctree, arch=arch, env=env,
                               workdir=workdir, from_cache=True, digest=found[1])
    kconf = _parse(env, workdir, srctree)
    digest = treecache.store(entry, kconf, srctree, env) if entry is not None else None
    return KconfigTree(kconf=kconf, srctree=srctree, arch=arch, env=env, workdir=workdir,
                       digest=digest)


def _parse(env: dict[str, str], workdir: Path, srctree: Path) -> CompatKconfig:
    with _environment(env, workdir):
        try:
            kconf = CompatKconfig("Kconfig", warn=False, warn_to_stderr=False)
        except kconfiglib.KconfigError as e:
            raise InfraError(f"kconfiglib cannot parse {srctree}/Kconfig: {str(e).strip()}",
                             hint="this kernel uses Kconfig syntax kbuild does not know yet; "
                                  "see kbuild/kconfig/compat.py") from None
    return kconf


def roundtrip(tree: KconfigTree) -> None:
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


def min_config_text(tree: KconfigTree) -> str:
    """The current state as ``make savedefconfig`` writes it: only non-default values."""
    text: str = tree.kconf._min_config_contents("")
    return text
