"""kbuild.toml's [sources.NAME] tables (url and deb sources) and its [apt] table."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kbuild.site.model import AptConfig, Repository, Source
from kbuild.site.reader import SHA256, SiteChecker, named_tables, path_problem
from kbuild.util import versions as debversion
from kbuild.util.toml import KeyPath

_APT_KEYS = {"architecture": "", "keyring": "", "repositories": ""}
_REPO_KEYS = {"uri": "", "suites": "", "components": "", "keyring": ""}
_SOURCE_KEYS = {"url": "", "sha256": "", "mirrors": "", "kind": "", "package": "", "upstream": "",
                "path": "", "signature": "", "keyring": "", "signed": ""}


def read_sources(c: SiteChecker, data: Any, root: Path) -> dict[str, Source]:
    out: dict[str, Source] = {}
    for name, body, where in named_tables(c, data, "sources", "source"):
        t = c.table(body, where, _SOURCE_KEYS)
        kind = c.string(t, "kind", where, default="kernel", choices=("kernel", "file")) or "kernel"
        if "package" in t:
            out[name] = _deb_source(c, t, where, name, kind)
            continue
        url = c.string(t, "url", where, required=True) or ""
        sha = (c.string(t, "sha256", where, required=True) or "").lower()
        if sha and not SHA256.match(sha):
            c.error(where + ("sha256",), f"sha256 of {name!r} is not 64 hex digits",
                    f"compute it with: sha256sum FILE, or run: kbuild pin {name}")
        mirrors = c.strings(t, "mirrors", where)
        for i, u in enumerate((url, *mirrors)):
            if u and not re.match(r"^(https?|file)://", u):
                c.error(where + (("url",) if i == 0 else ("mirrors",)),
                        f"{u!r}: only http://, https:// and file:// URLs are supported")
        for key in ("upstream", "path"):
            if key in t:
                c.error(where + (key,), f"{key} belongs to a deb source (one with package = \"...\")",
                        f"remove {key}, or make this a deb source")
        signature = c.string(t, "signature", where)
        keyring = c.string(t, "keyring", where)
        signed = c.string(t, "signed", where, default="file", choices=("file", "xz", "gz")) or "file"
        if signature is not None and not re.match(r"^(https?|file)://", signature):
            c.error(where + ("signature",), f"signature {signature!r}: give an http://, https:// or "
                    "file:// URL of the detached signature")
        if (signature is None) != (keyring is None):
            c.error(where, f"source {name!r} needs both signature and keyring, or neither",
                    "keyring is the file of the publisher's keys that must have made the signature")
        if keyring is not None and not keyring.startswith("/"):
            keyring = str(root / keyring)
        out[name] = Source(name, url, sha, mirrors, kind, c.lines.line(where),
                           signature=signature, keyring=keyring, signed=signed)
    return out


def _deb_source(c: SiteChecker, t: dict[str, Any], where: KeyPath, name: str, kind: str) -> Source:
    package = c.string(t, "package", where) or ""
    if not re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", package):
        c.error(where + ("package",), f"package = {package!r} is not a Debian package name")
    upstream = c.string(t, "upstream", where, required=True) or "*"
    if not re.fullmatch(r"[0-9][0-9A-Za-z.+~*?-]*", upstream):
        c.error(where + ("upstream",), f"upstream = {upstream!r} is not a version pattern",
                'write the accepted upstream versions as a glob, e.g. upstream = "6.1.*"')
    member = c.string(t, "path", where)
    if member is not None:
        member = member.lstrip("/")
        if not member or ".." in member.split("/"):
            c.error(where + ("path",), f"path = {member!r} must name a file inside the package")
    elif kind == "file":
        c.error(where, f"deb source {name!r} of kind \"file\" must say which file of the package "
                "it takes", 'add path = "/boot/..." (see: dpkg-deb -c PACKAGE.deb)')
    for key in ("url", "sha256", "mirrors", "signature", "keyring", "signed"):
        if key in t:
            c.error(where + (key,), f"{key} does not apply to a deb source: the signed package "
                    "index vouches for it and kbuild.lock pins it", f"remove {key}")
    entry = None
    lock = c.lock.get(name)
    if lock is not None and lock.package == package:
        try:
            if debversion.in_range(lock.version, upstream) and (member is None or lock.file == member):
                entry = lock
        except debversion.BadVersion:
            entry = None
    return Source(name, "", entry.sha256 if entry else "", (), kind, c.lines.line(where),
                  package=package, upstream=upstream, member=member, locked=entry)


def read_apt(c: SiteChecker, data: Any) -> AptConfig | None:
    if data is None:
        return None
    t = c.table(data, ("apt",), _APT_KEYS)
    arch = c.string(t, "architecture", ("apt",), default="amd64") or "amd64"
    default_keyring = c.string(t, "keyring", ("apt",),
                               default="/usr/share/keyrings/debian-archive-keyring.gpg") or ""
    repos: list[Repository] = []
    items = t.get("repositories", [])
    if not isinstance(items, list) or not items:
        c.error(("apt",), "[apt] needs at least one [[apt.repositories]] table",
                'add [[apt.repositories]] uri = "http://deb.debian.org/debian", suites = ["bookworm"]')
        items = []
    for i, body in enumerate(items):
        where: KeyPath = ("apt", "repositories", i)
        r = c.table(body, where, _REPO_KEYS)
        uri = c.string(r, "uri", where, required=True) or ""
        if uri and not re.fullmatch(r"(https?|file):/{1,3}[^\s\]\[]+", uri):
            c.error(where + ("uri",), f"uri = {uri!r} is not an http(s):// or file: URI")
        suites = c.strings(r, "suites", where)
        components = c.strings(r, "components", where, default=("main",))
        keyring = c.string(r, "keyring", where, default=default_keyring) or default_keyring
        for key, values in (("suites", suites), ("components", components)):
            if not values or not all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9./_-]*", v) for v in values):
                c.error(where + (key,), f"{key} must be a non-empty list of names like \"bookworm\"")
        problem = path_problem(keyring, absolute_ok=True)
        if problem:
            c.error(where + ("keyring",), f"keyring {keyring[:70]!r} {problem}")
        elif not keyring.startswith("/"):
            keyring = str(c.path.parent.resolve() / keyring)
        if not problem and not Path(keyring).is_file():
            c.error(where + ("keyring",), f"keyring {keyring} does not exist",
                    "install debian-archive-keyring (scripts/setup does), or fix the path")
        repos.append(Repository(uri, suites, components, keyring))
    return AptConfig(tuple(repos), arch)
