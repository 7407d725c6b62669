"""``[site] http_base``: where the published tree is also served over HTTP (iPXE fetches
kernels and hypervisors from there; the nginx snippet serves it, docs/uefi.md)."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from kbuild.site.reader import SiteChecker

_WHERE = ("site", "http_base")
_HINT = 'write it as http://SERVER[:PORT]/[PATH/], e.g. http_base = "http://10.0.2.2:8080/"'


def http_base_problem(text: str) -> str | None:
    """Why ``text`` is not a usable http_base (None if it is)."""
    if not text or text != text.strip() or any(ord(ch) < 33 or ord(ch) == 127 for ch in text):
        return "is empty or contains spaces or control characters"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as e:
        return f"is not a URL ({e})"
    if parts.scheme not in ("http", "https"):
        return f"has the scheme {parts.scheme or '(none)'!r}; iPXE fetches from http:// or https://"
    if parts.username is not None or parts.password is not None:
        return ("carries credentials: every client would see them in its boot script "
                "(serve the tree to the boot network without authentication)")
    if not parts.hostname:
        return "names no server"
    if parts.query or parts.fragment or "?" in text or "#" in text:
        return "has a query or fragment; give the directory the tree is served at"
    if port == 0:
        return "has port 0"
    for ch in "\"';{}$\\`":
        if ch in text:
            return f"contains {ch!r}, which iPXE scripts and the nginx snippet cannot carry"
    return None


def normalise(text: str) -> str:
    """The base with exactly one trailing '/': kbuild appends tree-relative paths."""
    return text.rstrip("/") + "/"


def read_http_base(c: SiteChecker, site_t: dict[str, Any]) -> str | None:
    text = c.string(site_t, "http_base", ("site",))
    if text is None:
        return None
    problem = http_base_problem(text)
    if problem:
        shown = re.sub(r"//[^/@]*@", "//***@", text)    # never echo a password
        c.error(_WHERE, f"http_base = {shown[:70]!r} {problem}", _HINT)
        return None
    return normalise(text)
