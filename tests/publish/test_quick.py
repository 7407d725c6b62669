"""The quick no-op check of a site publish (kbuild/publish/quick.py): it answers only
when nothing the staged tree is made of changed, and every published file is as left."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from kbuild.publish import apply as publish
from kbuild.publish import quick, stage
from kbuild.site import layout
from kbuild.site.load import load_site, tftp_root_at_sight
from kbuild.site.model import Site
from tests.e2e import REPO, copy_site, fake_build

HOSTS = "".join(f'\n[[hosts]]\nname = "h{i}"\nmac = "52:54:00:aa:01:{i:02x}"\n'
                f'ip = "10.0.2.{30 + i}"\nprofile = "nfsroot"\n' for i in range(4))


def _site(root: Path, hosts: str = HOSTS) -> Site:
    text = (REPO / "kbuild.toml").read_text()
    copy_site(root, text[:text.find('[profiles."nfsroot-6.12"]')] + hosts, link=True)
    site = load_site(root / "kbuild.toml")
    fake_build(site, site.profiles["nfsroot"], "CONFIG_NET=y\n")
    return site


@pytest.fixture
def published(tmp_path: Path) -> tuple[Site, Path]:
    site = _site(tmp_path / "site")
    target = tmp_path / "tftp"
    stage.stage_with_plan(site, target)
    return site, target


def test_an_unchanged_site_is_answered_without_loading_it(published, monkeypatch) -> None:
    site, target = published
    files = sorted(f.relpath for f in stage.plan_tree(site, target).files)
    gen = (publish.read_manifest(target) or {})["generation"]

    def never(*_a: object, **_k: object) -> None:
        raise AssertionError("the quick check loaded or planned the site")
    monkeypatch.setattr(stage, "plan_tree", never)
    monkeypatch.setattr("kbuild.site.load.parse_site", never)
    got = stage.unchanged_publish(site.path, target)
    assert got is not None
    report, _warnings = got
    assert report.generation == report.previous_generation == gen
    assert report.written == [] and sorted(report.unchanged) == files
    assert "already up to date" in report.summary()


def _touch_site(site: Site, target: Path) -> None:
    with open(site.path, "a") as f:
        f.write("# a comment\n")


def _rewrite_record(site: Site, target: Path) -> None:
    rec = layout.build_record(site, site.profiles["nfsroot"])
    rec.write_text(rec.read_text().replace("6.1.192", "6.1.193"))


def _rebuild_image(site: Site, target: Path) -> None:
    image = layout.build_dir(site, site.profiles["nfsroot"]) / "arch/x86/boot/bzImage"
    image.write_bytes(b"another kernel")


def _hand_edit_same_size(site: Site, target: Path) -> None:
    path = target / "pxelinux.cfg" / "01-52-54-00-aa-01-02"
    st = path.stat()
    data = path.read_bytes()
    path.write_bytes(data[:-2] + b"X\n")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))   # only the change time tells


def _remove_published(site: Site, target: Path) -> None:
    (target / "grub" / "grub.cfg-01-52-54-00-aa-01-01").unlink()


def _another_publish(site: Site, target: Path) -> None:
    publish.publish([publish.TreeFile("other", data=b"x")], target)


def _code_changed(site: Site, target: Path) -> None:
    doc = json.loads((target / ".kbuild" / quick.RECORD_NAME).read_text())
    doc["code"] = "0" * 64
    (target / ".kbuild" / quick.RECORD_NAME).write_text(json.dumps(doc))


def _snippet_removed(site: Site, target: Path) -> None:
    next(p for p in layout.server_dir(site).iterdir() if p.is_file()).unlink()


@pytest.mark.parametrize("change", [_touch_site, _rewrite_record, _rebuild_image,
                                    _hand_edit_same_size, _remove_published, _another_publish,
                                    _code_changed, _snippet_removed])
def test_any_change_means_a_full_publish(published, change) -> None:
    site, target = published
    assert stage.unchanged_publish(site.path, target) is not None
    change(site, target)
    assert stage.unchanged_publish(site.path, target) is None


def test_a_hand_edit_is_rewritten_by_the_full_publish_the_miss_leads_to(published) -> None:
    site, target = published
    path = target / "pxelinux.cfg" / "01-52-54-00-aa-01-02"
    before = path.read_bytes()
    _hand_edit_same_size(site, target)
    assert stage.unchanged_publish(site.path, target) is None
    report, _plan = stage.stage_with_plan(load_site(site.path), target)
    assert report.written == ["pxelinux.cfg/01-52-54-00-aa-01-02"] and path.read_bytes() == before
    assert stage.unchanged_publish(site.path, target) is not None


def test_a_file_too_recent_for_its_stamp_is_read(published, monkeypatch) -> None:
    site, target = published
    monkeypatch.setattr(quick, "_RACY_NS", 10**18)      # every file counts as just written
    stage.stage_with_plan(load_site(site.path), target)
    path = target / ".kbuild" / quick.RECORD_NAME
    doc = json.loads(path.read_text())
    assert "pxelinux.cfg/01-52-54-00-aa-01-00" in doc["racy"]
    assert stage.unchanged_publish(site.path, target) is not None
    # same stamps, other content (what a write within the clock tick could leave): read
    doc["racy"]["pxelinux.cfg/01-52-54-00-aa-01-00"] = "0" * 64
    path.write_text(json.dumps(doc))
    assert stage.unchanged_publish(site.path, target) is None


def test_only_a_verified_publish_answers_for_kbuild_publish(published) -> None:
    site, target = published
    assert stage.unchanged_publish(site.path, target, need_verified=True) is None
    stage.stage_with_plan(load_site(site.path), target, verified=True)
    assert stage.unchanged_publish(site.path, target, need_verified=True) is not None


def test_a_malformed_record_means_a_full_publish(published) -> None:
    site, target = published
    for text in ("{", "[]", '{"format": 1}', json.dumps({"format": 1, "site": str(site.path),
                                                         "target": str(target), "dirs": 5})):
        (target / ".kbuild" / quick.RECORD_NAME).write_text(text)
        assert stage.unchanged_publish(site.path, target) is None


def test_a_publish_in_between_voids_the_record_it_would_describe(tmp_path: Path) -> None:
    site = _site(tmp_path / "site")
    target = tmp_path / "tftp"
    files = stage.plan_tree(site, target).files
    report = publish.publish(files, target)
    publish.publish([*files, publish.TreeFile("other", data=b"x")], target)   # someone else
    assert not quick.record(target, site.path, quick.input_paths(site, files), files, report,
                            verified=False, warnings=[])
    assert not (target / ".kbuild" / quick.RECORD_NAME).exists()


@pytest.mark.parametrize("site_table", [
    "", '[site]\ntftp_root = "/srv/tftp"\n', '[site]\nartifacts = "out"\n',
    '[site]\nartifacts = "out"\ntftp_root = "pub/tftp"\n'])
def test_the_target_at_sight_is_the_loaded_sites(tmp_path: Path, site_table: str) -> None:
    text = (REPO / "kbuild.toml").read_text()
    head = text[:text.find("[site]")] + site_table + text[text.find("[nfs]"):]
    copy_site(tmp_path, head[:head.find('[profiles."nfsroot-6.12"]')] + HOSTS, link=True)
    loaded = load_site(tmp_path / "kbuild.toml").tftp_root.resolve()
    assert tftp_root_at_sight(tmp_path / "kbuild.toml") == loaded


def test_a_table_after_the_hosts_is_not_guessed_at(tmp_path: Path) -> None:
    text = (REPO / "kbuild.toml").read_text()
    head = text[:text.find("[site]")] + text[text.find("[nfs]"):]
    copy_site(tmp_path, head[:head.find('[profiles."nfsroot-6.12"]')] + HOSTS
              + '\n[site]\ntftp_root = "/elsewhere"\n', link=True)
    assert load_site(tmp_path / "kbuild.toml").tftp_root == Path("/elsewhere")
    assert tftp_root_at_sight(tmp_path / "kbuild.toml") is None


def test_the_pending_manifest_is_the_live_document_plus_the_pending_section(tmp_path: Path,
                                                                           monkeypatch) -> None:
    files = [publish.TreeFile(f"cfg/h{i}", data=f"host {i}\n".encode()) for i in range(5)]
    publish.publish(files, tmp_path)
    live = json.loads((tmp_path / publish.MANIFEST_NAME).read_text())
    written: list[str] = []
    real = publish.write_manifest
    monkeypatch.setattr(publish, "write_manifest",
                        lambda path, text, tree: (written.append(text), real(path, text, tree)))
    files[2] = publish.TreeFile("cfg/h2", data=b"changed\n")
    publish.publish(files, tmp_path)
    pending_doc = json.loads(written[0])
    # the live files stay in the live shards: the pending manifest names them, no entry again
    assert {k: v for k, v in pending_doc.items() if k != "pending"} == live
    assert "files" not in pending_doc and "cfg/h0" not in written[0]
    assert pending_doc["pending"]["write"] == {
        "cfg/h2": {"sha256": hashlib.sha256(b"changed\n").hexdigest(), "role": "entry"}}
    assert pending_doc["pending"]["generation"] == live["generation"] + 1


def test_kbuild_publish_answers_a_second_run_without_loading_the_site(tmp_path: Path, monkeypatch,
                                                                      capsys) -> None:
    """The command's wiring: a verified publish records; the next one loads nothing.
    (verify is stubbed: the stand-in .config would fail it; test_cli covers verify.)"""
    import argparse
    import types

    from kbuild.commands import publish as cmd
    from kbuild.verify import profile as vprofile

    site = _site(tmp_path / "site")
    target = tmp_path / "tftp"
    monkeypatch.setattr(vprofile, "verify_profile", lambda s, p: types.SimpleNamespace(passed=True))
    args = argparse.Namespace(site=site.path, to=target, dry_run=False)
    assert cmd.run(args) == 0
    assert "published generation 1" in capsys.readouterr().err

    def never(*_a: object, **_k: object) -> None:
        raise AssertionError("loaded the site")
    monkeypatch.setattr(cmd, "load_site", never)
    assert cmd.run(args) == 0
    assert "already up to date at generation 1" in capsys.readouterr().err
    # only a host table changed: its profile is verified, the hosts' short path publishes it
    checked: list[str] = []
    monkeypatch.setattr(vprofile, "verify_profile",
                        lambda s, p: checked.append(p.name) or types.SimpleNamespace(passed=True))
    site.path.write_text(site.path.read_text().replace('name = "h1"', 'name = "h1"\nextra = ["quiet"]'))
    assert cmd.run(args) == 0
    assert "published generation 2" in capsys.readouterr().err and checked == ["nfsroot"]
    _site_table_edited(site)                       # changed before the hosts: the full publish runs
    with pytest.raises(AssertionError, match="loaded the site"):
        cmd.run(args)


def _site_table_edited(site: Site) -> None:
    site.path.write_text(site.path.read_text().replace("[site]", "# the site\n[site]", 1))


def test_a_record_made_from_the_publishs_own_stats_still_sees_a_later_edit(tmp_path: Path) -> None:
    site = _site(tmp_path / "site")
    target = tmp_path / "tftp"
    files = stage.plan_tree(site, target).files
    inputs = quick.input_paths(site, files)
    report = publish.publish(files, target)
    assert report.file_stats is not None and set(report.file_stats) == {f.relpath for f in files}
    # an edit after the publish took its stats, before the record digests them
    path = target / "pxelinux.cfg" / "01-52-54-00-aa-01-01"
    path.write_bytes(path.read_bytes().replace(b"nfsroot", b"nfsrooX"))
    assert quick.record(target, site.path, inputs, files, report, verified=False, warnings=[])
    assert stage.unchanged_publish(site.path, target) is None
    # the full publish puts it back; the record then answers
    report = publish.publish(files, target)
    assert report.written == ["pxelinux.cfg/01-52-54-00-aa-01-01"]
    assert quick.record(target, site.path, inputs, files, report, verified=False, warnings=[])
    assert stage.unchanged_publish(site.path, target) is not None
