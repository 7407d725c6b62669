"""Source trees: a source unpacked (once, shared by profiles), and the tree a
profile builds from (the pristine one, or its patched copy)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kbuild.errors import UserError
from kbuild.site import layout
from kbuild.site.model import Profile, Site, Source
from kbuild.source import archive
from kbuild.source.kinds import fetch_source, source_provenance
from kbuild.util.versions import read_kernel_version

Progress = Callable[[str], None]


def unpack_source(site: Site, src: Source, progress: Progress | None = None) -> Path:
    """The pristine tree of a kernel source (fetched and unpacked on first use)."""
    tarball = fetch_source(site, src, progress)
    tree = layout.pristine_tree(site, src)
    stamp = layout.tree_stamp(tree)
    if stamp.is_file():
        return tree
    archive.unpack(tarball, tree, progress)
    archive.write_tree_stamp(stamp, {"source": src.name, "sha256": src.sha256,
                                     "kernelversion": read_kernel_version(tree),
                                     **source_provenance(src)})
    return tree


def profile_tree(site: Site, profile: Profile) -> Path:
    """The source tree a profile builds from (patched when it names a series)."""
    src = site.sources[profile.source]
    if profile.patches:
        from kbuild.source import patches

        return patches.patched_tree_path(site, src, profile.patches)
    return layout.pristine_tree(site, src)


def require_tree(site: Site, profile: Profile) -> Path:
    tree = profile_tree(site, profile)
    if not layout.tree_stamp(tree).is_file():
        raise UserError(f"source tree for profile {profile.name!r} is not unpacked yet",
                        path=tree, hint=f"run: doit kernel:{profile.name}")
    return tree
