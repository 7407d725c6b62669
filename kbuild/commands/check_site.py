"""``kbuild check-site``: validate kbuild.toml (and kbuild.lock) and print a summary,
with warnings about inputs nothing but their own content vouches for."""
from __future__ import annotations

import argparse
import sys

from kbuild.boot.server import exports_of
from kbuild.commands.common import add_site_argument
from kbuild.errors import Diagnostic, InputErrors
from kbuild.site.load import load_site
from kbuild.site.model import SHARED_ROOT_MODES, Site


class SiteContradiction(InputErrors):
    """Valid tables that together describe an impossible site (how roots are shared)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_site_argument(p)


def run(args: argparse.Namespace) -> int:
    site = load_site(args.site)
    problems = contradictions(site)
    if problems:
        raise SiteContradiction(problems)
    for w in warnings(site):
        print(w, file=sys.stderr)
    print(summary(site))
    return 0


def warnings(site: Site) -> list[str]:
    """What is valid but weak: inputs nothing but their own content vouches for."""
    out = []
    for src in site.sources.values():
        if src.url.startswith("file://") and not src.signature:
            out.append(f"{site.path.name}:{src.line}: warning: source {src.name!r} is a local file "
                       "pinned by its own content: nothing vouches for it\n"
                       f"  fix: make it a deb source (package = ..., upstream = ...) resolved from the "
                       "signed package index, or give a signature and keyring")
        if src.is_deb and src.locked is None:
            out.append(f"{site.path.name}:{src.line}: warning: deb source {src.name!r} is not in "
                       f"{site.lock_file.name} yet: the first fetch locks it\n"
                       f"  fix: kbuild pin {src.name} --latest, then commit {site.lock_file.name}")
    return out


def contradictions(site: Site) -> list[Diagnostic]:
    """Root modes that cannot hold together: one export is what every client of it mounts,
    so a shared (read-only) root with a read-write user would be exported rw and any
    client could change what the others boot; and a read-write root is one machine's own,
    so two users of one rw path would write over each other's /var, /etc, /tmp."""
    out = []
    for ex in exports_of(site):
        shared = [u for u, m in ex.modes.items() if m in SHARED_ROOT_MODES]
        rw = [u for u, m in ex.modes.items() if m not in SHARED_ROOT_MODES]
        rw_hosts = [u for u in rw if u.startswith("host ")]
        line = _line_of(site, (rw + shared)[0])
        if shared and rw:
            out.append(Diagnostic(
                site.path.name, line, "error",
                f"export {ex.path} is a shared read-only root ({', '.join(shared[:3])}) but "
                f"{', '.join(rw[:3])} mount{'s' if len(rw) == 1 else ''} it read-write: it would "
                "have to be exported rw, and any client could change what the others boot",
                "give the read-write users their own nfs_path, or set root_mode = "
                "\"ro-shared\" (or \"overlay\") for them too"))
        elif len(rw_hosts) > 1:
            # profiles alone are menu entries, not machines: only hosts count here
            rw = rw_hosts
            out.append(Diagnostic(
                site.path.name, _line_of(site, rw[1]), "error",
                f"{rw[0]} and {rw[1]}" + (f" (and {len(rw) - 2} more)" if len(rw) > 2 else "")
                + f" share the read-write root {ex.path}: each would write over the other's state",
                "give each host its own nfs_path, or set root_mode = \"ro-shared\" or \"overlay\" "
                "on the profile (docs/root.md)"))
    return out


def _line_of(site: Site, user: str) -> int | None:
    kind, name = user.split(" ", 1)
    if kind == "profile":
        return site.profiles[name].line
    return next((h.line for h in site.hosts if h.name == name), None)


def summary(site: Site) -> str:
    lines = [f"{site.path}: ok"]
    lines.append(f"  sources: {', '.join(sorted(site.sources))}")
    for src in site.sources.values():
        if src.is_deb:
            lines.append(f"  source {src.name}: deb {src.package} {src.upstream!r}, locked: "
                         + (src.locked.describe() if src.locked else "no"))
    for p in site.profiles.values():
        lines.append(f"  profile {p.name}: {p.arch} {p.image} from {p.source}, base {p.base}, "
                     f"{len(p.fragments)} fragments" + (f", patches {p.patches}" if p.patches else "")
                     + (f", root {p.root_mode}" if p.root_mode != "rw" else ""))
    lines.append(f"  hosts: {len(site.hosts)}; TFTP root: {site.tftp_root}")
    return "\n".join(lines)
