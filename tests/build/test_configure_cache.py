"""The parsed-tree cache on the real trees: for every profile, configure from a cache hit
writes the same .config, byte for byte, as configure from a fresh parse (and as
`doit config:PROFILE` wrote)."""
from __future__ import annotations

import pytest

from kbuild.build import configure as pipeline
from kbuild.kconfig import tree as kconfig
from kbuild.source.tree import require_tree
from tests.conftest import configure

pytestmark = pytest.mark.realtree


@pytest.mark.parametrize("profile_name", ["nfsroot", "nfsroot-6.12", "dom0", "uml"])
def test_cached_tree_gives_the_same_config_as_a_fresh_parse(work_site, profile_name):
    written = configure(work_site, profile_name).read_text()
    site = work_site.site
    profile = site.profile(profile_name)
    tree = require_tree(site, profile)
    fresh, merged, drops = pipeline.resolve_profile_config(site, profile, tree, cached=False)
    assert not fresh.from_cache and merged.errors == [] and drops == []
    pipeline.resolve_profile_config(site, profile, tree)          # stores, if doit's env differed
    hit, merged, drops = pipeline.resolve_profile_config(site, profile, tree)
    assert hit.from_cache and merged.errors == [] and drops == []
    assert kconfig.config_text(hit) == kconfig.config_text(fresh) == written
    assert kconfig.min_config_text(hit) == kconfig.min_config_text(fresh)
