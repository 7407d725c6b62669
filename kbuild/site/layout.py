"""Where every generated file lives under artifacts/ (one place to look)."""
from __future__ import annotations

from pathlib import Path

from kbuild.site.model import Profile, Site, Source


def cache_dir(site: Site) -> Path:
    return site.artifacts / "cache"


def cached_file(site: Site, source: Source) -> Path:
    """Downloads are keyed by their sha256, so a changed pin never reuses a stale file."""
    return cached_payload(site, source.sha256, source.filename)


def cached_payload(site: Site, sha256: str, filename: str) -> Path:
    """Where the file with ``sha256`` is cached (a source's, or a deb lock entry's)."""
    return cache_dir(site) / "sha256" / sha256 / filename


def deb_cache_dir(site: Site) -> Path:
    """The .deb files deb sources were taken from."""
    return cache_dir(site) / "deb"


def pristine_tree(site: Site, source: Source) -> Path:
    return site.artifacts / "src" / f"{source.name}-{source.sha256[:12]}"


def tree_stamp(tree: Path) -> Path:
    """Written last into a finished source tree; doit tracks this one small file."""
    return tree / ".kbuild-tree.json"


def build_dir(site: Site, profile: Profile) -> Path:
    return site.artifacts / "build" / profile.name


def config_path(site: Site, profile: Profile) -> Path:
    return build_dir(site, profile) / ".config"


def kconfig_workdir(site: Site, profile: Profile) -> Path:
    return site.artifacts / "kconfig" / profile.name


def logs_dir(site: Site) -> Path:
    return site.artifacts / "logs"


def build_log(site: Site, profile: Profile) -> Path:
    return logs_dir(site) / f"build-{profile.name}.log"


def build_record(site: Site, profile: Profile) -> Path:
    """metadata of the last successful build: release, digests, reproducer."""
    return build_dir(site, profile) / "kbuild-build.json"


def ccache_dir(site: Site) -> Path | None:
    """The site's dedicated compiler cache, or None for the user's own ccache."""
    return site.ccache_dir


def boot_dir(site: Site, profile: Profile) -> Path:
    return site.artifacts / "boot" / profile.name


def nfs_root_dir(site: Site, profile: Profile) -> Path:
    return site.artifacts / "nfsroot" / profile.name


def server_dir(site: Site) -> Path:
    return site.artifacts / "server"


def stage_dir(site: Site) -> Path:
    """The staged tree that the boot lab serves; `kbuild publish` copies from here."""
    return site.artifacts / "tftpboot"
