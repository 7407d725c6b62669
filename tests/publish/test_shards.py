"""The manifest in shards (format 2, kbuild/publish/manifest.py): a change rewrites only
the shards whose entries changed, shards are checked by their digest and collected with
their generations, and trees published as format 1 are still read, converted and rolled
back."""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kbuild.errors import UserError
from kbuild.publish import apply, writes
from kbuild.publish.apply import publish, rollback
from kbuild.publish.manifest import (
    MANIFEST_NAME,
    Manifest,
    generations,
    load_manifest,
    partition,
    read_manifest,
    render_manifest,
    shard_bits,
)
from kbuild.publish.plan import TreeFile


def _files(n: int, changed: int | None = None) -> list[TreeFile]:
    return [TreeFile(f"pxelinux.cfg/01-52-54-00-00-{i >> 8:02x}-{i & 255:02x}",
                     data=f"host {i}{' changed' if i == changed else ''}\n".encode())
            for i in range(n)]


def _shards(target: Path) -> dict[str, tuple[int, int]]:
    d = target / ".kbuild" / "shards"
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in d.iterdir()}


def _top(target: Path, name: str = MANIFEST_NAME) -> dict[str, Any]:
    return json.loads((target / name).read_text())


def test_shard_bits_keep_shards_near_their_size_and_do_not_reshuffle_on_small_changes() -> None:
    assert shard_bits(0, None) == 0 and shard_bits(1024, None) == 0
    assert shard_bits(1025, None) == 1 and shard_bits(100_000, None) == 7
    assert shard_bits(100_000, 6) == 6 and shard_bits(100_000, 8) == 8
    assert shard_bits(100_000, 3) == 7          # far off: the ideal number
    files = {f"d/f{i}": {"sha256": str(i)} for i in range(5000)}
    parts = partition(files, {"d/f1": "s"}, 3)
    assert len(parts) == 8 and sum(len(f) for f, _ in parts.values()) == 5000
    assert [s for _, s in parts.values() if s] == [{"d/f1": "s"}]
    assert all(len(k) == 1 for k in parts)


@pytest.mark.parametrize("durable", [False, "payloads"])
def test_one_changed_file_rewrites_one_shard_and_a_small_manifest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durable: Any) -> None:
    publish(_files(3000), tmp_path, durable=durable)
    time.sleep(0.25)
    # stamps are recorded once a file is older than the racy window: the publish after a
    # first one records those of every file, then only those of the files last written
    publish(_files(3000, changed=1), tmp_path, durable=durable)
    time.sleep(0.25)
    top1 = _top(tmp_path)
    assert top1["shard_bits"] == 2 and len(top1["shards"]) == 4
    before = _shards(tmp_path)
    rendered: list[int] = []
    real = writes.render_shard
    monkeypatch.setattr(writes, "render_shard", lambda f, s: (rendered.append(len(f)), real(f, s))[1])

    report = publish(_files(3000, changed=2345), tmp_path, durable=durable)

    assert len(report.written) == 2
    top2 = _top(tmp_path)
    changed = {k for k in top1["shards"] if top1["shards"][k] != top2["shards"][k]}
    # the shards of the two files written (1 is back to its first content), no other
    assert 1 <= len(changed) == len(rendered) <= 2
    after = _shards(tmp_path)
    # the other shards are the same files, shared by both generations
    assert {n: v for n, v in after.items() if n in before} == before
    # (content-addressed: a shard whose entries are back to a kept generation's is that one)
    assert set(after) - set(before) <= {f"{top2['shards'][k]}.json" for k in changed} <= set(after)
    assert os.path.getsize(tmp_path / MANIFEST_NAME) < 2000
    doc = read_manifest(tmp_path)
    assert doc is not None and len(doc["files"]) == 3000
    assert hashlib.sha256(b"host 2345 changed\n").hexdigest() in {e["sha256"] for e in doc["files"].values()}


def test_a_damaged_or_missing_shard_is_a_user_error_naming_it(tmp_path: Path) -> None:
    publish(_files(10), tmp_path)
    digest = _top(tmp_path)["shards"]["0"]
    shard = tmp_path / ".kbuild" / "shards" / f"{digest}.json"
    shard.write_text(shard.read_text().replace("01-52", "01-53", 1))
    with pytest.raises(UserError) as err:
        publish(_files(10), tmp_path)
    assert str(shard) in str(err.value) and "digest" in str(err.value) and "fix:" in str(err.value)
    shard.unlink()
    with pytest.raises(UserError, match="missing") as err:
        read_manifest(tmp_path)
    assert str(shard) in str(err.value)


def test_the_fix_for_a_lost_shard_works_an_older_generation_put_back(tmp_path: Path) -> None:
    publish(_files(10), tmp_path)
    publish(_files(10, changed=4), tmp_path)
    digest = _top(tmp_path)["shards"]["0"]
    (tmp_path / ".kbuild" / "shards" / f"{digest}.json").unlink()
    with pytest.raises(UserError) as err:
        publish(_files(10, changed=6), tmp_path)
    assert "generations/<N>.json whose shards are all there" in str(err.value)
    # as the hint says: generation 1's manifest (its shard is there) over the live one
    (tmp_path / MANIFEST_NAME).write_bytes((tmp_path / ".kbuild/generations/1.json").read_bytes())
    report = publish(_files(10, changed=6), tmp_path)
    assert sorted(report.written) == ["pxelinux.cfg/01-52-54-00-00-00-04",
                                      "pxelinux.cfg/01-52-54-00-00-00-06"]
    assert {p.name: p.read_text() for p in (tmp_path / "pxelinux.cfg").iterdir()} == \
        {f.relpath.split("/")[1]: (f.data or b"").decode() for f in _files(10, changed=6)}


def test_a_newer_format_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    publish(_files(2), tmp_path)
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({**_top(tmp_path), "format": 3}))
    with pytest.raises(UserError, match="format 3, newer than this kbuild reads"):
        publish(_files(2), tmp_path)


def test_shards_are_collected_with_their_generations(tmp_path: Path) -> None:
    for v in range(1, 6):
        publish([TreeFile("k", data=f"kernel {v}".encode(), role="payload"),
                 TreeFile("cfg", data=b"same")], tmp_path, keep=2)
    assert generations(tmp_path) == [4, 5]
    used = {f"{d}.json" for g in (4, 5)
            for d in _top(tmp_path, f".kbuild/generations/{g}.json")["shards"].values()}
    assert set(_shards(tmp_path)) == used and len(used) == 2


def _as_format_1(target: Path) -> None:
    """Rewrite the live manifest and every kept generation as kbuild wrote them before
    shards (the files and stamps inline), and drop the shards."""
    for g in generations(target):
        path = target / ".kbuild" / "generations" / f"{g}.json"
        doc = load_manifest(path)
        old = {k: v for k, v in doc.items() if k not in ("shards", "shard_bits")}
        text = render_manifest({**old, "format": 1}) + "\n"
        path.write_text(text)
        if g == _top(target)["generation"]:
            (target / MANIFEST_NAME).write_text(text)
    for p in (target / ".kbuild" / "shards").iterdir():
        p.unlink()


def test_a_format_1_tree_is_read_converted_and_rolled_back(tmp_path: Path) -> None:
    publish(_files(20), tmp_path)
    publish(_files(20, changed=3), tmp_path)
    gen2 = read_manifest(tmp_path)
    _as_format_1(tmp_path)
    assert _top(tmp_path)["format"] == 1 and "files" in _top(tmp_path)
    assert read_manifest(tmp_path) == {**{k: v for k, v in (gen2 or {}).items()
                                          if k not in ("shards", "shard_bits")}, "format": 1}

    publish(_files(20, changed=5), tmp_path)          # converts
    assert _top(tmp_path)["format"] == 2 and generations(tmp_path) == [1, 2, 3]
    rollback(tmp_path)                               # to generation 2, a format 1 file
    doc = read_manifest(tmp_path)
    assert doc is not None and doc["format"] == 2 and doc["restored_from"] == 2
    assert (tmp_path / "pxelinux.cfg" / "01-52-54-00-00-00-03").read_text() == "host 3 changed\n"
    assert (tmp_path / "pxelinux.cfg" / "01-52-54-00-00-00-05").read_text() == "host 5\n"
    assert doc["files"] == (gen2 or {})["files"]


def test_an_interrupted_conversion_leaves_an_honest_format_2_pending_manifest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    publish(_files(20), tmp_path)
    _as_format_1(tmp_path)
    live = read_manifest(tmp_path)

    def boom(*_a: Any, **_k: Any) -> None:
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(apply, "replace_file", boom)
    with pytest.raises(Exception, match="no space left"):
        publish(_files(20, changed=7), tmp_path)
    pending = read_manifest(tmp_path)
    assert pending is not None and pending["format"] == 2 and "pending" in pending
    assert pending["files"] == (live or {})["files"]
    monkeypatch.undo()
    publish(_files(20, changed=7), tmp_path)
    doc = read_manifest(tmp_path)
    assert doc is not None and "pending" not in doc
    assert (tmp_path / "pxelinux.cfg" / "01-52-54-00-00-00-07").read_text() == "host 7 changed\n"


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([f"d{i % 3}/f{i}" for i in range(40)]), st.integers(0, 3),
                       max_size=40),
       st.dictionaries(st.sampled_from([f"d{i % 3}/f{i}" for i in range(40)]), st.integers(0, 3),
                       max_size=40),
       st.booleans(), st.integers(0, 3))
def test_buckets_made_from_the_live_ones_equal_a_fresh_partition(
        old: dict[str, int], new: dict[str, int], with_stamps: bool, bits: int) -> None:
    def entries(d: dict[str, int]) -> dict[str, Any]:
        return {rel: {"sha256": str(v)} for rel, v in d.items()}

    def stamps(d: dict[str, int]) -> dict[str, str] | None:
        return {rel: f"s{v}" for rel, v in d.items() if v % 2} if with_stamps else None

    live = Manifest(files=entries(old), shard_bits=bits)
    if with_stamps:
        live["stamps"] = stamps(old)
    live.parts = {k: ("0" * 64, f, s) for k, (f, s) in
                  partition(live["files"], live.get("stamps"), bits).items()}
    made = writes._changed_buckets(entries(new), stamps(new), live, bits)
    fresh = partition(entries(new), stamps(new), bits)
    assert made is None or made == fresh
    if len(set(old.items()) ^ set(new.items())) <= 2:
        assert made == fresh
