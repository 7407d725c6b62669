"""Small file helpers: writing only what changed."""
from __future__ import annotations

from kbuild.util.files import write_text_if_changed


def test_write_if_changed_keeps_mtime(tmp_path):
    p = tmp_path / ".config"
    assert write_text_if_changed(p, "A\n") is True
    before = p.stat().st_mtime_ns
    assert write_text_if_changed(p, "A\n") is False
    assert p.stat().st_mtime_ns == before
    assert write_text_if_changed(p, "B\n") is True
    assert p.read_text() == "B\n"
