"""Fetching (real HTTP server on 127.0.0.1, file://) into the sha256-keyed cache."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from kbuild.errors import InfraError
from kbuild.source import download as source
from tests import httpserver

BODY = os.urandom(300_000)
SHA = hashlib.sha256(BODY).hexdigest()
FAST = source.FetchPolicy(connect_timeout=2, read_timeout=1, attempts_per_url=4)


@pytest.fixture
def http():
    srv = httpserver.Server()
    httpd, _ = httpserver.start(srv)
    yield srv
    httpd.shutdown()
    httpd.server_close()


def _no_partials(d: Path) -> None:
    assert not list(d.glob("*.part")), "a partial download was left behind"


def test_plain_download_and_cache_hit(http, tmp_path):
    http.routes["/k.tar.xz"] = httpserver.Route(BODY)
    dest = tmp_path / "c" / "k.tar.xz"
    assert source.fetch((http.url("/k.tar.xz"),), SHA, dest, FAST).read_bytes() == BODY
    # second fetch: served from the cache, no request at all
    source.fetch((http.url("/k.tar.xz"),), SHA, dest, FAST)
    assert len(http.hits["/k.tar.xz"]) == 1


def test_dropped_connection_resumes_with_range(http, tmp_path):
    http.routes["/k"] = httpserver.Route(BODY, drop_after=100_000, drop_times=2)
    dest = tmp_path / "k"
    source.fetch((http.url("/k"),), SHA, dest, FAST)
    assert dest.read_bytes() == BODY
    assert http.hits["/k"][0] is None
    resumed_at = int(http.hits["/k"][1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= 100_000  # resumed, not restarted
    _no_partials(tmp_path)


def test_server_ignoring_range_restarts_from_zero(http, tmp_path):
    http.routes["/k"] = httpserver.Route(BODY, ranges=False, drop_after=50_000)
    dest = tmp_path / "k"
    source.fetch((http.url("/k"),), SHA, dest, FAST)
    assert dest.read_bytes() == BODY


def test_http_errors_and_mirror_fallback(http, tmp_path):
    http.routes["/500"] = httpserver.Route(status=500)
    http.routes["/good"] = httpserver.Route(BODY)
    dest = tmp_path / "k"
    source.fetch((http.url("/missing"), http.url("/500"), http.url("/good")), SHA, dest, FAST)
    assert dest.read_bytes() == BODY


def test_all_mirrors_fail_names_each(http, tmp_path):
    http.routes["/500"] = httpserver.Route(status=500)
    with pytest.raises(InfraError) as e:
        source.fetch((http.url("/missing"), http.url("/500")), SHA, tmp_path / "k", FAST)
    msg = str(e.value)
    assert "HTTP 404" in msg and "HTTP 500" in msg
    assert not (tmp_path / "k").exists()
    _no_partials(tmp_path)


def test_wrong_sha256_rejected_and_cache_untouched(http, tmp_path):
    http.routes["/k"] = httpserver.Route(BODY[:-1] + bytes([BODY[-1] ^ 1]))  # always differs
    dest = tmp_path / "k"
    with pytest.raises(InfraError) as e:
        source.fetch((http.url("/k"),), SHA, dest, FAST)
    assert "sha256 mismatch" in str(e.value)
    assert not dest.exists()
    _no_partials(tmp_path)


def test_slow_server_times_out(http, tmp_path):
    http.routes["/slow"] = httpserver.Route(BODY, delay=3)
    policy = source.FetchPolicy(connect_timeout=1, read_timeout=0.5, attempts_per_url=2)
    with pytest.raises(InfraError) as e:
        source.fetch((http.url("/slow"),), SHA, tmp_path / "k", policy)
    assert "timed out" in str(e.value)


def test_announced_length_never_delivered(http, tmp_path):
    http.routes["/short"] = httpserver.Route(BODY, announce=len(BODY) + 1000)
    with pytest.raises(InfraError) as e:
        source.fetch((http.url("/short"),), SHA, tmp_path / "k", FAST)
    assert "gave up after 4 attempts" in str(e.value) or "announced" in str(e.value)
    assert not (tmp_path / "k").exists()


def test_offline_uses_cache_and_fails_clearly_without(tmp_path, http):
    dest = tmp_path / "k"
    offline = source.FetchPolicy(offline=True)
    with pytest.raises(InfraError) as e:
        source.fetch((http.url("/k"),), SHA, dest, offline)
    assert "offline" in str(e.value)
    dest.write_bytes(BODY)
    assert source.fetch((http.url("/k"),), SHA, dest, offline) == dest
    assert http.hits == {}


def test_damaged_cache_entry_is_replaced(http, tmp_path):
    http.routes["/k"] = httpserver.Route(BODY)
    dest = tmp_path / "k"
    dest.write_bytes(b"corrupt")
    source.fetch((http.url("/k"),), SHA, dest, FAST)
    assert dest.read_bytes() == BODY


def test_file_url(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(BODY)
    dest = tmp_path / "cache" / "src.bin"
    source.fetch((f"file://{src}",), SHA, dest, FAST)
    assert dest.read_bytes() == BODY
    with pytest.raises(InfraError) as e:
        source.fetch((f"file://{tmp_path}/nope",), SHA, tmp_path / "c2" / "x", FAST)
    assert "does not exist" in str(e.value)
