"""Fetching (real HTTP server on 127.0.0.1, file://) and safe unpacking."""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from kbuild.errors import InfraError, UserError
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


# --- unpack ---------------------------------------------------------------


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:xz") as t:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            else:
                t.addfile(info)
    return path


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    i = tarfile.TarInfo(name)
    i.type = kind
    i.linkname = target
    return i, None


def test_unpack_strips_top_directory(tmp_path):
    arc = _tar(tmp_path / "a.tar.xz", [_file("linux-x/Makefile", b"VERSION = 6\n"),
                                        _link("linux-x/l", "Makefile")])
    dest = source.unpack(arc, tmp_path / "tree")
    assert (dest / "Makefile").read_bytes() == b"VERSION = 6\n"
    assert os.readlink(dest / "l") == "Makefile"


@pytest.mark.parametrize("member,needle", [
    (_file("linux/../../evil"), "contains '..'"),
    (_file("/etc/evil"), "absolute path"),
    (_link("linux/l", "/etc/passwd"), "links to absolute path"),
    (_link("linux/sub/l", "../../../etc"), "links outside the tree"),
    (_link("linux/h", "../outside", tarfile.LNKTYPE), "links outside the tree"),
])
def test_unpack_rejects_escapes_naming_the_member(tmp_path, member, needle):
    arc = _tar(tmp_path / "a.tar.xz", [_file("linux/ok"), member])
    with pytest.raises(UserError) as e:
        source.unpack(arc, tmp_path / "tree")
    assert needle in str(e.value) and member[0].name in str(e.value)
    assert not (tmp_path / "tree").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["a.tar.xz"]  # nothing half-unpacked
    assert not Path("/etc/evil").exists()


def test_unpack_rejects_device_nodes(tmp_path):
    dev = tarfile.TarInfo("linux/dev/sda")
    dev.type = tarfile.BLKTYPE
    arc = _tar(tmp_path / "a.tar.xz", [_file("linux/ok"), (dev, None)])
    with pytest.raises(UserError) as e:
        source.unpack(arc, tmp_path / "tree")
    assert "device node" in str(e.value)


def test_unpack_truncated_archive(tmp_path):
    arc = _tar(tmp_path / "a.tar.xz", [_file(f"linux/f{i}", os.urandom(20000)) for i in range(20)])
    data = arc.read_bytes()
    arc.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError) as e:
        source.unpack(arc, tmp_path / "tree")
    assert "truncated or corrupt" in str(e.value)
    assert not (tmp_path / "tree").exists()
    assert not list(tmp_path.glob(".tree.unpack-*"))


def test_stale_unpack_dirs_of_dead_processes_are_removed(tmp_path):
    stale = tmp_path / ".tree.unpack-999999999"
    stale.mkdir()
    arc = _tar(tmp_path / "a.tar.xz", [_file("linux/ok")])
    source.unpack(arc, tmp_path / "tree")
    assert not stale.exists()
