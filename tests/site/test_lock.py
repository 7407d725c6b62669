"""kbuild.lock: entries written by kbuild, read back checked, errors with their line."""
from __future__ import annotations

from pathlib import Path

import pytest

from kbuild.site.lock import LockEntry, LockError, read_lock, render_lock, write_entry
from tests.site.test_load import GOOD, _site

ENTRY = LockEntry(package="linux-source-6.1", version="6.1.192-3", upstream="6.1.192",
                  architecture="all", deb="pool/main/l/linux/linux-source-6.1_6.1.192-3_all.deb",
                  deb_size=140_000_000, deb_sha256="a" * 64,
                  file="usr/src/linux-source-6.1.tar.xz", sha256="b" * 64)


def test_entries_round_trip_and_one_entry_is_replaced_alone(tmp_path: Path):
    lock = tmp_path / "kbuild.lock"
    write_entry(lock, "debian-6.1", ENTRY)
    write_entry(lock, "other", ENTRY)
    assert read_lock(lock) == {"debian-6.1": ENTRY, "other": ENTRY}
    newer = LockEntry(**{**ENTRY.__dict__, "version": "6.1.194-1", "upstream": "6.1.194"})
    write_entry(lock, "debian-6.1", newer)
    assert read_lock(lock) == {"debian-6.1": newer, "other": ENTRY}
    assert lock.read_text() == render_lock({"debian-6.1": newer, "other": ENTRY})
    assert read_lock(tmp_path / "absent.lock") == {}


def test_invalid_toml_in_the_lock_names_its_line(tmp_path: Path):
    lock = tmp_path / "kbuild.lock"
    lock.write_text('[sources."debian-6.1"]\npackage = "linux-source-6.1\n')
    with pytest.raises(LockError) as exc:
        read_lock(lock)
    assert str(exc.value).startswith("kbuild.lock:2: error: invalid TOML")
    assert "fix: restore it from version control" in str(exc.value)


def test_lock_entries_are_validated_with_their_line(tmp_path):
    (tmp_path / "kbuild.lock").write_text('[sources."debian-6.1"]\npackage = "linux-source-6.1"\n')
    with pytest.raises(LockError) as exc:
        _site(tmp_path, GOOD)
    err = str(exc.value)
    assert "kbuild.lock:1: error: lock entry 'debian-6.1': missing version" in err
