"""The large-site paths of publish: progress for long loops, and the manifest's renderer
(encoded once per entry by a reused C encoder) against the standard library's JSON."""
from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kbuild.publish.apply import PROGRESS_EVERY, PROGRESS_FROM, publish
from kbuild.publish.manifest import MANIFEST_NAME, render_compact, render_manifest
from kbuild.publish.plan import TreeFile


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
    doc = (tmp_path / MANIFEST_NAME).read_text()
    files = doc.split('"files": {\n', 1)[1].split("\n }", 1)[0].splitlines()
    assert len(files) == 5 and all(ln.startswith('  "pxelinux.cfg/01-') for ln in files)
