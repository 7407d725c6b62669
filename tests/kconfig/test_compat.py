"""Kconfig syntax newer than kconfiglib 14.1.0, on tiny synthetic trees."""
from __future__ import annotations

import pytest

from kbuild.kconfig import compat as kconfig_compat
from kbuild.kconfig import tree as kconfig
from tests.conftest import write_tree


def test_compat_rewrites_bare_modules_but_not_help_text():
    src = ("config MODULES\n\tbool \"m\"\n\tmodules\n\thelp\n\t  text\n\t  modules\n\n"
           "config X\n\tbool\n")
    out, transitional = kconfig_compat.rewrite_kconfig_source(src)
    lines = out.splitlines()
    assert len(lines) == len(src.splitlines())
    assert lines[2] == "\toption modules"
    assert lines[5] == "\t  modules"  # help text untouched
    assert transitional == set()


def test_compat_transitional_symbols_are_recorded_and_not_written(tmp_path, tiny_env):
    tree = write_tree(tmp_path / "t", {
        "Kconfig": "config OLD_NAME\n\tbool\n\ttransitional\n\n"
                   "config NEW_NAME\n\tbool \"new\"\n\tdefault OLD_NAME\n",
    })
    kt = kconfig.load_tree(tree, "x86_64", tiny_env(tree), tree / "out")
    assert kt.kconf.kbuild_transitional == {"OLD_NAME"}
    old = tmp_path / "old.config"
    old.write_text("CONFIG_OLD_NAME=y\n")
    with kt.active():
        kt.kconf.load_config(str(old))
    text = kconfig.config_text(kt)
    assert "CONFIG_NEW_NAME=y" in text  # the old value carried over
    assert "OLD_NAME" not in text       # and the transitional symbol is never written


def test_plain_kconfiglib_fails_on_bare_modules(tiny_kconfig, tiny_env):
    import kconfiglib

    with kconfig._environment(tiny_env(tiny_kconfig), tiny_kconfig):
        with pytest.raises(kconfiglib.KconfigError):
            kconfiglib.Kconfig("Kconfig", warn=False)


def test_an_implied_symbol_with_unmet_dependencies_is_written_as_not_set(tmp_path, tiny_env):
    """The kernel's conf writes an implied symbol even when its own dependencies are unmet
    (x86: imply IMA_SECURE_AND_OR_TRUSTED_BOOT if EFI); kconfiglib alone leaves it out."""
    tree = write_tree(tmp_path / "t", {
        "Kconfig": "config EFI\n\tbool \"efi\"\n\tdefault y\n\timply SECURE if EFI\n\n"
                   "config POLICY\n\tbool \"policy\"\n\n"
                   "config SECURE\n\tbool\n\tdepends on POLICY\n\n"
                   "config QUIET\n\tbool\n\tdepends on POLICY\n",
    })
    kt = kconfig.load_tree(tree, "x86_64", tiny_env(tree), tree / "out")
    text = kconfig.config_text(kt)
    assert "# CONFIG_SECURE is not set\n" in text
    assert "QUIET" not in text           # not implied: not written, as by conf
    assert "CONFIG_SECURE=y" not in text
