"""kbuild.toml's [build] table: engine, distcc hosts, jobs, the shared cache URL."""
from __future__ import annotations

import pytest

from kbuild.site.load import SiteError
from kbuild.site.model import BuildConfig
from tests.site.test_load import GOOD, _errors, _site


def test_no_build_table_means_local():
    assert BuildConfig().engine == "local"


def test_build_table_loads(tmp_path):
    s = _site(tmp_path, GOOD + """
[build]
engine = "distcc"
hosts = ["10.0.0.5:3632/8", "builder2/4", "10.0.0.7"]
jobs = 20
ccache_remote = "redis://cache.example:6379"
connect_timeout = 1.5
""")
    assert s.build == BuildConfig("distcc", ("10.0.0.5:3632/8", "builder2/4", "10.0.0.7"), 20,
                                  "redis://cache.example:6379", 1.5)


@pytest.mark.parametrize("body, needle", [
    ('engine = "icecc"', "engine = 'icecc' is not one of local, distcc"),
    ('engine = "distcc"', 'engine = "distcc" needs hosts'),
    ('hosts = ["10.0.0.5:99999"]', "has a port outside 1-65535"),
    ('hosts = ["10.0.0.5/0"]', "has a job limit of 0"),
    ('hosts = ["host with space"]', "is not HOST[:PORT][/LIMIT]"),
    ('hosts = ["@10.0.0.5"]', "is not HOST[:PORT][/LIMIT]"),
    ("jobs = 0", "jobs must be an integer >= 1"),
    ('ccache_remote = "ftp://x/"', "has scheme 'ftp'"),
    ('ccache_remote = "redis://"', "names no host"),
    ('ccache_remote = "redis://h:99999"', "is not a URL"),
    ("connect_timeout = 0", "connect_timeout must be a number"),
    ('connect_timeout = "2"', "connect_timeout must be a number"),
    ('distcc = true', "distcc"),
])
def test_build_errors_name_the_line(tmp_path, body, needle):
    text = GOOD + "\n[build]\n" + body + "\n"
    line = text.splitlines().index(body) + 1
    msg = _errors(tmp_path, text)
    assert needle in msg, msg
    assert f"kbuild.toml:{line}:" in msg, msg


def test_build_must_be_a_table(tmp_path):
    with pytest.raises(SiteError):
        _site(tmp_path, 'build = "distcc"\n' + GOOD)
