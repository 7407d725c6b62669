"""Load and validate ``kbuild.toml``: sources, profiles, hosts, the boot server.

This is the only entry to the site file (the tables are read by load_sources,
load_profiles and load_hosts). Every problem is reported as
``kbuild.toml:LINE: error: ...`` with the fix, and all problems of one file are
reported together. Unknown keys are errors: a typo must not be ignored.
"""
from __future__ import annotations

import hashlib
import ipaddress
import os
from pathlib import Path

from kbuild.errors import Diagnostic, InputErrors, UserError
from kbuild.site.load_build import read_build
from kbuild.site.load_hosts import read_hosts
from kbuild.site.load_http import read_http_base
from kbuild.site.load_profiles import read_profiles
from kbuild.site.load_sources import read_apt, read_sources
from kbuild.site.load_text import parse_site_text
from kbuild.site.lock import lock_path, read_lock
from kbuild.site.model import SITE_FILE, Site
from kbuild.site.reader import SiteChecker, ipv4, path_problem
from kbuild.util.files import read_input
from kbuild.util.gcpause import collector_paused
from kbuild.util.toml import KeyLines, LineIndex, load_toml


class SiteError(InputErrors):
    """One or more problems in kbuild.toml, all reported together."""


_SITE_KEYS = {"tftp_root": "", "boot_server": "", "keep_generations": "", "artifacts": "",
              "hexip_files": "", "ccache_dir": "", "locked": "", "http_base": ""}
_NFS_KEYS = {"server": "", "clients": ""}
_TOP_KEYS = {"site": "", "nfs": "", "apt": "", "sources": "", "profiles": "", "hosts": "",
              "build": ""}
# A site file is larger than other inputs: 50,000 hosts are about 6 MiB of TOML. The
# cap still bounds what one read takes (about 500,000 hosts).
MAX_SITE_BYTES = 64 << 20


def find_site_file(start: Path | None = None) -> Path:
    """The site file when none was given: ``$KBUILD_SITE``, else kbuild.toml found upwards."""
    env = os.environ.get("KBUILD_SITE", "")
    if env and start is None:
        path = Path(env).resolve()
        if not path.is_file():
            raise UserError(f"KBUILD_SITE names {path}, which is not a file",
                            hint="point KBUILD_SITE at a kbuild.toml, or unset it")
        return path
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        candidate = d / SITE_FILE
        if candidate.is_file():
            return candidate
    raise UserError(f"no {SITE_FILE} in {here} or any parent directory",
                    hint="run kbuild from the project checkout, or pass --site FILE")


def load_site(path: Path | None = None) -> Site:
    """Read, parse and validate a site file. Raises SiteError listing every problem."""
    path = Path(path) if path else find_site_file()
    data = read_input(path, str(path), "a site file", f"create {SITE_FILE} (see README)",
                      limit=MAX_SITE_BYTES)
    try:
        text = data.decode("utf-8")      # TOML is UTF-8: anything else is refused
    except UnicodeDecodeError as e:
        raise UserError(f"cannot read: {e}", path=path) from None
    return parse_site(text, path, hashlib.sha256(data).hexdigest())


def tftp_root_at_sight(path: Path) -> Path | None:
    """The resolved ``tftp_root`` of a valid site file, read from the part before its
    ``[[hosts]]`` without reading the hosts (the quick no-op publish needs only this);
    None when that part alone cannot tell. A caller must still check that the file is
    the one a full load validated (kbuild/publish/quick.py records its stamp)."""
    import re
    import tomllib

    try:
        text = Path(path).read_bytes()[:MAX_SITE_BYTES].decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    first = re.search(r"^\[\[hosts\]\]", text, re.MULTILINE)
    head = text[:first.start()] if first else text
    # a table after the hosts could be [site] itself
    if first and re.search(r"^[ \t]*\[(?!\[hosts\]\])", text[first.start():], re.MULTILINE):
        return None
    try:
        site_t = tomllib.loads(head).get("site", {})
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        return None
    artifacts = site_t.get("artifacts", "artifacts") if isinstance(site_t, dict) else None
    tftp = site_t.get("tftp_root", f"{artifacts}/tftpboot") if isinstance(site_t, dict) else None
    if not isinstance(tftp, str) or not isinstance(artifacts, str) or not tftp or not artifacts:
        return None
    return (Path(path).parent.resolve() / tftp).resolve()


def parse_site(text: str, path: Path, text_sha256: str | None = None) -> Site:
    """The site in ``text`` (read from ``path``; ``text_sha256``: the digest of its bytes,
    kept in the Site)."""
    with collector_paused():
        return _parse_site(text, path, text_sha256)


def _parse_site(text: str, path: Path, text_sha256: str | None) -> Site:
    fast = parse_site_text(text)
    lines: LineIndex
    if fast is not None:
        data, lines = fast
    else:
        data = load_toml(text, path.name, SiteError, "check quotes, brackets and '=' on that line")
        lines = KeyLines(text)
    if not data:
        raise SiteError([Diagnostic(path.name, None, "error", "empty site file: no tables",
                                    "define [sources.NAME] and [profiles.NAME] (see README)")])
    c = SiteChecker(path, lines, read_lock(lock_path(path)))
    root = path.parent.resolve()
    c.table(data, (), _TOP_KEYS)

    site_t = c.table(data.get("site", {}), ("site",), _SITE_KEYS)
    nfs_t = c.table(data.get("nfs", {}), ("nfs",), _NFS_KEYS)
    nfs_server = c.string(nfs_t, "server", ("nfs",), default="10.0.2.2") or "10.0.2.2"
    nfs_clients = c.strings(nfs_t, "clients", ("nfs",))
    for net in nfs_clients:
        if net == "*":
            continue  # allowed, but every snippet built from it carries a warning
        try:
            ipaddress.IPv4Network(net, strict=False)
        except ValueError:
            c.error(("nfs", "clients"), f"clients entry {net!r} is not an IPv4 address or network",
                    "write networks as 10.0.0.0/24")
    if not ipv4(nfs_server):
        c.error(("nfs", "server"), f"server = {nfs_server!r} is not an IPv4 address",
                "the kernel's nfsroot= accepts only a dotted-quad IPv4 server address")
    boot_server = c.string(site_t, "boot_server", ("site",), default=nfs_server) or nfs_server
    if not ipv4(boot_server):
        c.error(("site", "boot_server"), f"boot_server = {boot_server!r} is not an IPv4 address")
    artifacts_name = c.string(site_t, "artifacts", ("site",), default="artifacts") or "artifacts"
    problem = path_problem(artifacts_name)
    if problem:
        c.error(("site", "artifacts"), f"artifacts = {artifacts_name[:70]!r} {problem}")
        artifacts_name = "artifacts"
    artifacts = root / artifacts_name
    tftp_name = c.string(site_t, "tftp_root", ("site",),
                         default=str(artifacts.relative_to(root) / "tftpboot")) or ""
    problem = path_problem(tftp_name, absolute_ok=True)
    if problem:
        c.error(("site", "tftp_root"), f"tftp_root = {tftp_name[:70]!r} {problem}")
    tftp_root = root / tftp_name
    keep = c.integer(site_t, "keep_generations", ("site",), default=3, minimum=1)
    hexip = c.string(site_t, "hexip_files", ("site",), default="no-mac",
                     choices=("no-mac", "always")) or "no-mac"

    apt = read_apt(c, data.get("apt"))
    ccache = c.string(site_t, "ccache_dir", ("site",))
    if ccache is not None and not ccache:
        c.error(("site", "ccache_dir"), "ccache_dir is empty",
                "remove it to use your own ccache, or name a directory")
    locked = bool(site_t.get("locked", False))
    if not isinstance(site_t.get("locked", False), bool):
        c.error(("site", "locked"), "locked must be true or false")
    sources = read_sources(c, data.get("sources", {}), root)
    if any(src.is_deb for src in sources.values()) and apt is None:
        c.error((), "deb sources need an [apt] table naming the repositories to resolve them in",
                'add [apt] with [[apt.repositories]] uri = "http://deb.debian.org/debian", '
                'suites = ["bookworm"]')
    profiles = read_profiles(c, data.get("profiles", {}), sources, nfs_server, root)
    hosts = read_hosts(c, data.get("hosts", []), profiles)
    build = read_build(c, data.get("build"))
    http_base = read_http_base(c, site_t)

    if c.diags:
        raise SiteError(c.diags)
    return Site(path=path, root=root, sources=sources, profiles=profiles, hosts=hosts,
                artifacts=artifacts, tftp_root=tftp_root, boot_server=boot_server,
                nfs_server=nfs_server, keep_generations=keep, nfs_clients=nfs_clients,
                hexip_files=hexip, apt=apt, ccache_dir=(root / ccache) if ccache else None,
                locked=locked, build=build, lines=lines, http_base=http_base,
                text_sha256=text_sha256)


