"""kbuild.toml's ``[build]`` table: the compile engine (local or a distcc pool) and the
shared compiler cache."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from kbuild.site.model import BUILD_ENGINES, BuildConfig
from kbuild.site.reader import SiteChecker

_BUILD_KEYS = {"engine": "", "hosts": "", "jobs": "", "ccache_remote": "", "connect_timeout": ""}
# distcc's host spec, TCP only: HOST[:PORT][/LIMIT][,OPTION...]
HOST_SPEC = re.compile(r"\A(?P<host>[A-Za-z0-9][A-Za-z0-9.-]{0,252})(?::(?P<port>\d{1,5}))?"
                       r"(?:/(?P<limit>\d{1,3}))?(?P<options>(?:,[a-z]+)*)\Z")
REMOTE_SCHEMES = ("http", "redis")


def read_build(c: SiteChecker, data: Any) -> BuildConfig:
    if data is None:
        return BuildConfig()
    where = ("build",)
    t = c.table(data, where, _BUILD_KEYS)
    engine = c.string(t, "engine", where, default="local", choices=BUILD_ENGINES) or "local"
    hosts = tuple(c.strings(t, "hosts", where))
    for host in hosts:
        problem = host_problem(host)
        if problem:
            c.error(where + ("hosts",), f"hosts entry {host[:70]!r} {problem}",
                    'write distcc hosts as "HOST[:PORT][/LIMIT]", e.g. "10.0.0.5:3632/8"')
    if engine == "distcc" and not hosts:
        c.error(where + ("engine",), 'engine = "distcc" needs hosts',
                'add hosts = ["HOST/LIMIT", ...] to [build], or engine = "local"')
    jobs = c.integer(t, "jobs", where, default=0, minimum=1) if "jobs" in t else None
    remote = c.string(t, "ccache_remote", where)
    if remote is not None:
        problem = remote_problem(remote)
        if problem:
            c.error(where + ("ccache_remote",), f"ccache_remote {problem}",
                    'give "redis://HOST[:PORT]" or "http://HOST[:PORT]/PATH" (ccache remote_storage)')
            remote = None
    timeout = 2.0
    if "connect_timeout" in t:
        value = t["connect_timeout"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 60:
            c.error(where + ("connect_timeout",), "connect_timeout must be a number of seconds "
                    "above 0 and at most 60")
        else:
            timeout = float(value)
    return BuildConfig(engine=engine, hosts=hosts, jobs=jobs, ccache_remote=remote,
                       connect_timeout=timeout)


def host_problem(spec: str) -> str | None:
    """Why ``spec`` is not a distcc TCP host spec kbuild accepts (None if it is)."""
    m = HOST_SPEC.match(spec)
    if not m:
        return "is not HOST[:PORT][/LIMIT]"
    if m.group("port") and not 0 < int(m.group("port")) < 65536:
        return "has a port outside 1-65535"
    if m.group("limit") and int(m.group("limit")) == 0:
        return "has a job limit of 0"
    return None


def remote_problem(url: str) -> str | None:
    """Why ``url`` is not a remote storage URL ccache 4.7 speaks (None if it is)."""
    if any(ord(ch) < 33 or ord(ch) == 127 for ch in url) or len(url) > 1024:
        return "contains spaces or control characters (or is too long)"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a bad port
    except ValueError as e:
        return f"is not a URL: {e}"
    if parts.scheme not in REMOTE_SCHEMES:
        return f"has scheme {parts.scheme or '(none)'!r}; ccache speaks {', '.join(REMOTE_SCHEMES)}"
    if not parts.hostname:
        return "names no host"
    return None
