"""The large-site paths of publish: progress for long loops, and the manifest's renderer
(encoded once per entry by a reused C encoder) against the standard library's JSON."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kbuild.boot.entry import make_entry
from kbuild.publish import stage
from kbuild.publish.apply import PROGRESS_EVERY, PROGRESS_FROM, publish
from kbuild.publish.manifest import MANIFEST_NAME, render_compact, render_manifest
from kbuild.publish.plan import TreeFile
from kbuild.site.load import load_site
from kbuild.site.model import Host
from tests.e2e import copy_site, fake_build


def _files(n: int) -> list[TreeFile]:
    return [TreeFile(f"pxelinux.cfg/01-52-54-00-00-{i >> 8:02x}-{i & 255:02x}",
                     data=f"host {i}\n".encode()) for i in range(n)]


def test_a_long_publish_reports_its_progress(tmp_path: Path) -> None:
    texts: list[str] = []
    n = PROGRESS_FROM + 7
    publish(_files(n), tmp_path / "tftp", progress=texts.append)
    assert texts[-1] == f"publish: {n}/{n}"
    assert len(texts) == n // PROGRESS_EVERY + 1
    assert all(t.startswith("publish: ") for t in texts)
    texts.clear()   # nothing to write: nothing to report
    publish(_files(n), tmp_path / "tftp", progress=texts.append)
    assert texts == []


def test_a_small_publish_stays_quiet(tmp_path: Path) -> None:
    texts: list[str] = []
    report = publish(_files(3), tmp_path / "tftp", progress=texts.append)
    assert len(report.written) == 3 and texts == []


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8)
                     | st.floats(allow_nan=False),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=10)


@settings(max_examples=200, deadline=None)
@given(files=st.dictionaries(st.text(min_size=1, max_size=12), _json, max_size=6),
       other=st.dictionaries(st.sampled_from(["format", "generation", "stamps", "dirs", "pending"]),
                             _json, max_size=3))
def test_the_manifest_renders_as_the_standard_encoder_would(files: dict, other: dict) -> None:
    doc = {**other, "files": files}
    text = render_manifest(doc)
    assert json.loads(text) == doc
    assert render_compact(doc) == json.dumps(doc, sort_keys=True)
    # one file per line, keys sorted, as before
    if files:
        body = text.split('"files": {\n', 1)[1]
        lines = body.split("\n")[:len(files)]
        assert [json.loads("{" + ln.strip().rstrip(",") + "}") for ln in lines] == \
            [{k: files[k]} for k in sorted(files)]


def test_a_published_manifest_has_one_line_per_file(tmp_path: Path) -> None:
    publish(_files(5), tmp_path)
    top = json.loads((tmp_path / MANIFEST_NAME).read_text())
    doc = (tmp_path / ".kbuild" / "shards" / f"{top['shards']['0']}.json").read_text()
    files = doc.split('"files": {\n', 1)[1].split("\n }", 1)[0].splitlines()
    assert len(files) == 5 and all(ln.startswith('  "pxelinux.cfg/01-') for ln in files)


# --- host entries made once per shape (stage._host_entry) ------------------------------------

@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The checkout's site with nfsroot and nfsroot-6.12 built (fake images)."""
    root = tmp_path_factory.mktemp("shapes")
    copy_site(root, link=True)
    site = load_site(root / "kbuild.toml")
    for name in ("nfsroot", "nfsroot-6.12"):
        fake_build(site, site.profiles[name], "CONFIG_NET=y\n")
    return site


_names = st.from_regex(r"[a-z][a-z0-9._-]{0,12}", fullmatch=True)
_hosts = st.lists(st.tuples(
    _names, st.sampled_from(["nfsroot", "nfsroot-6.12"]),
    st.sampled_from([None, "/srv/a", "/srv/b"]),
    st.sampled_from([None, ("ttyS0,115200",), ("tty0", "ttyS1")]),
    st.sampled_from([(), ("quiet",), ("quiet", "debug")]),
    st.sampled_from([None, "rw", "ro-shared", "overlay"])), max_size=12,
    unique_by=lambda t: t[0])


@settings(max_examples=60, deadline=None)
@given(specs=_hosts)
def test_host_entries_made_per_shape_equal_make_entry(built_site: Any,
                                                     specs: list[tuple[Any, ...]]) -> None:
    site = built_site
    hosts = [Host(name=n, profile=p, mac=f"52:54:00:00:01:{i:02x}", ip=f"10.9.0.{i + 1}",
                  nfs_path=nfs, console=con, extra=extra, root_mode=mode)
             for i, (n, p, nfs, con, extra, mode) in enumerate(specs)]
    plan = stage.plan_tree(replace(site, hosts=hosts))
    releases = {b.profile.name: b.release for b in stage.built_profiles(site)}
    for h in hosts:
        assert plan.host_entries[h.name] == make_entry(site.profiles[h.profile], releases[h.profile],
                                                      host=h)
    by_host = {f.meta["host"]: f for f in plan.files if "host" in f.meta}
    assert set(by_host) == {h.name for h in hosts}
