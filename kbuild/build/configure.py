"""The configure stage: a profile's base and fragments merged with kconfiglib into its
.config, written only when it changes, or an error naming every problem before any
build starts (a value that did not stick names the dependency that blocked it).

doit tasks (kbuild/tasks/) and the CLI call these; they return results and raise
kbuild errors, never print.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from kbuild.errors import Diagnostic, RequirementError, UserError
from kbuild.kconfig import resultcache
from kbuild.kconfig.base import apply_base
from kbuild.kconfig.configfile import assignment, read_config
from kbuild.kconfig.environment import detect_toolchain, kconfig_environment
from kbuild.kconfig.merge import Drop, MergeResult, check_requested, merge_fragments
from kbuild.kconfig.tree import KconfigTree, config_text, load_tree
from kbuild.site import layout
from kbuild.site.model import Profile, Site
from kbuild.source.tree import require_tree
from kbuild.util.files import sha256_text, write_text_if_changed


@dataclass
class ConfigureResult:
    """What configure did: the .config, whether it changed, how long it took, how many
    symbols the tree has and were requested, and the fragments' warnings."""

    config: Path
    changed: bool
    seconds: float
    symbols: int
    requested: int
    warnings: list[Diagnostic] = field(default_factory=list)


def load_profile_tree(site: Site, profile: Profile, tree: Path, cached: bool = True) -> KconfigTree:
    """The profile's Kconfig tree, parsed or (``cached``) from the site's tree cache."""
    tc = detect_toolchain()
    env = kconfig_environment(tree, profile.arch, tc)
    cache = kconfig_cache_dir(site) if cached and os.environ.get("KBUILD_KCONFIG_CACHE") != "off" else None
    return load_tree(tree, profile.arch, env, layout.kconfig_workdir(site, profile), cache=cache)


def kconfig_cache_dir(site: Site) -> Path:
    """Parsed Kconfig trees (kbuild/kconfig/treecache.py), beside the other caches."""
    return layout.cache_dir(site) / "kconfig"


def resolve_profile_config(site: Site, profile: Profile, tree: Path,
                           fragments: tuple[str, ...] | None = None, cached: bool = True
                           ) -> tuple[KconfigTree, MergeResult, list[Drop]]:
    """Base + fragments with kconfiglib; returns the resolved tree, the merge and any drops."""
    kt = load_profile_tree(site, profile, tree, cached)
    apply_base(kt, profile.base, site.root,
               cache=kconfig_cache_dir(site) if kt.digest is not None else None)
    frags = [read_config(site.fragment_path(f), display=str(site.fragment_path(f).relative_to(site.root)))
             for f in (profile.fragments if fragments is None else fragments)]
    merged = merge_fragments(kt, frags)
    if merged.errors:
        return kt, merged, []
    return kt, merged, check_requested(kt, merged.requested)


def configure(site: Site, profile: Profile) -> ConfigureResult:
    """Write the profile's .config (only if it changes), or raise naming every problem."""
    started = time.monotonic()
    tree = require_tree(site, profile)
    done = _result_entry(site, profile, tree)   # configured before: the same .config (13b)
    kept = resultcache.load(done) if done is not None else None
    if done is not None and kept is not None:
        out = layout.config_path(site, profile)
        changed = write_text_if_changed(out, kept[0])
        return ConfigureResult(config=out, changed=changed, seconds=time.monotonic() - started,
                               symbols=kept[1], requested=kept[2])
    kt, merged, drops = resolve_profile_config(site, profile, tree)
    if merged.errors:
        raise UserError(f"{len(merged.errors)} problem(s) in the fragments of profile "
                        f"{profile.name!r}:\n" + "\n".join(str(d) for d in merged.errors))
    if drops:
        raise RequirementError(
            f"profile {profile.name!r}: {len(drops)} requested value(s) did not stick; "
            "no build was started:\n" + "\n".join(str(d) for d in drops),
            hint=_fix_hint(drops))
    text = config_text(kt)
    out = layout.config_path(site, profile)
    changed = write_text_if_changed(out, text)  # make stays incremental
    warnings = [d for d in merged.diagnostics if d.severity != "error"]
    if done is not None and kt.from_cache and not warnings:
        resultcache.store(done, text, len(kt.kconf.unique_defined_syms), len(merged.requested))
    return ConfigureResult(config=out, changed=changed, seconds=time.monotonic() - started,
                           symbols=len(kt.kconf.unique_defined_syms), requested=len(merged.requested),
                           warnings=[d for d in merged.diagnostics if d.severity != "error"])


def _result_entry(site: Site, profile: Profile, tree: Path) -> Path | None:
    """Where configure's result for this tree, base and fragments is kept (kconfig/resultcache)."""
    if os.environ.get("KBUILD_KCONFIG_CACHE") == "off":
        return None
    env = kconfig_environment(tree, profile.arch, detect_toolchain())
    return resultcache.result_entry(
        kconfig_cache_dir(site), tree, profile.arch, env, profile.base, site.root,
        [(str(site.fragment_path(f).relative_to(site.root)), site.fragment_path(f))
         for f in profile.fragments])


def _fix_hint(drops: list[Drop]) -> str:
    wanted: list[str] = []
    for d in drops:
        for b in d.blockers:
            if b not in wanted:
                wanted.append(b)
    if not wanted:
        return "see the reasons above; add the missing dependencies to a fragment"
    lines = [assignment(*b.split("=", 1)) for b in wanted]
    return "add to a fragment: " + "  ".join(lines)


def fragments_digest(site: Site, profile: Profile) -> str:
    """Digest of everything that decides a profile's .config (for doit's uptodate)."""
    parts = [profile.base, profile.arch, profile.source, site.sources[profile.source].sha256,
             profile.patches or ""]
    for f in profile.fragments:
        p = site.fragment_path(f)
        parts.append(f)
        parts.append(p.read_text(errors="replace") if p.is_file() else "<missing>")
    base_file = site.root / profile.base  # a base given as a file: its content matters too
    if base_file.is_file():
        parts.append(base_file.read_text(errors="replace"))
    return sha256_text("\0".join(parts))
