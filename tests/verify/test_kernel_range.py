"""Verify decides which rules apply without loading packaging: KernelRelease and
KernelRange agree with packaging's Version and SpecifierSet on every clause shape kbuild's
rules use, and hand anything else to packaging."""
from __future__ import annotations

import itertools
import pickle
import subprocess
import sys

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from kbuild.rules.load import load_rules
from kbuild.rules.model import KernelRange
from kbuild.util.versions import KernelRelease, kernel_release, parse_kernel_version

VERSIONS = ["4.17", "5.0", "5.13", "5.13.0", "5.13.1", "6.0", "6.1", "6.1.0", "6.1.192",
            "6.10", "6.12.117", "6.16", "6.18.0", "7.0"]
SPECS = ["", ">=5.13", ">5.13", "<=6.1", "<6.1", "==6.1", "==6.1.0", "!=6.1", "==6.1.*",
         "!=6.1.*", ">=4.17,<6.16", ">= 5.13 , < 6.18", "==6.*", ">=v5.13", "~=6.1",
         ">=6.1rc1", "===6.1"]


@pytest.mark.parametrize("spec", SPECS)
def test_a_range_agrees_with_packaging(spec):
    ours, theirs = KernelRange(spec), SpecifierSet(spec.replace("v", ""))
    for text in VERSIONS:
        release, version = kernel_release(text), parse_kernel_version(text)
        assert release is not None and version is not None
        want = theirs.contains(version, prereleases=True)
        assert ours.contains(release) == want, (spec, text)
        assert ours.contains(version) == want, (spec, text)      # a packaging Version too


def test_a_release_compares_as_packaging_does():
    for a, b in itertools.product(VERSIONS, repeat=2):
        ra, rb, va, vb = kernel_release(a), kernel_release(b), Version(a), Version(b)
        assert (ra < rb, ra == rb, ra > rb) == (va < vb, va == vb, va > vb), (a, b)
        assert (ra == vb) == (va == vb) and (ra < vb) == (va < vb)
        assert str(ra) == str(va)
    assert hash(kernel_release("6.1")) == hash(kernel_release("6.1.0"))
    assert kernel_release("v6.01") == KernelRelease((6, 1)) and kernel_release("linux") is None


def test_ranges_and_releases_pickle_and_compare():
    r = KernelRange(">=5.13,<6.16")
    assert pickle.loads(pickle.dumps(r)) == r and str(r) == ">=5.13,<6.16"
    assert pickle.loads(pickle.dumps(kernel_release("6.1.192"))) == kernel_release("6.1.192")


def test_the_builtin_rules_give_the_same_rules_for_every_version_as_packaging():
    rules = load_rules()
    assert any(r.kernel is not None for r in rules.rules)
    for rule in rules.rules:
        if rule.kernel is None:
            continue
        spec = SpecifierSet(rule.kernel.text)
        for text in VERSIONS:
            assert rule.applies_to(kernel_release(text)) == spec.contains(Version(text),
                                                                            prereleases=True)


def test_verify_imports_neither_packaging_nor_typing():
    code = ("import sys, kbuild.cli, kbuild.commands.verify, kbuild.verify.check, "
            "kbuild.verify.render, kbuild.commands.verify_many, kbuild.rules.cache; "
            "kbuild.rules.load.load_rules(); "
            "print(' '.join(m for m in sys.modules if m.split('.')[0] in ('packaging', 'typing')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []
