"""The short path for a site whose only change is in some [[hosts]] tables
(kbuild/publish/delta.py): what it publishes equals the full publish of the same site,
file for file and entry for entry, and anything it cannot vouch for goes the full way."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kbuild.errors import KbuildError, UserError
from kbuild.publish import apply as publish
from kbuild.publish import delta, hoststate, stage
from kbuild.publish.manifest import STORE_NAME, read_manifest
from kbuild.site import layout
from kbuild.site.load import SiteError, load_site
from kbuild.site.model import Site
from tests.e2e import REPO, copy_site, fake_build


def host(i: int, extra: str = "", mac: bool = True) -> str:
    out = f'\n[[hosts]]\nname = "h{i}"\n'
    if mac:
        out += f'mac = "52:54:00:aa:02:{i:02x}"\n'
    out += f'ip = "10.0.3.{10 + i}"\nprofile = "nfsroot"\n'
    return out + (f'extra = ["{extra}"]\n' if extra else "")


def _head() -> str:
    text = (REPO / "kbuild.toml").read_text()
    return text[:text.find('[profiles."nfsroot-6.12"]')]


def _site(root: Path, hosts: str) -> Site:
    copy_site(root, _head() + hosts, link=True)
    site = load_site(root / "kbuild.toml")
    fake_build(site, site.profiles["nfsroot"], "CONFIG_NET=y\n")
    return site


def _edit(site: Site, hosts: str) -> None:
    site.path.write_text(_head() + hosts)


def _tree(target: Path) -> dict[str, bytes]:
    return {str(p.relative_to(target)): p.read_bytes() for p in sorted(target.rglob("*"))
            if p.is_file() and STORE_NAME not in p.parts and p.name != "kbuild-manifest.json"}


def _entries(target: Path) -> dict[str, object]:
    doc = read_manifest(target)
    assert doc is not None and "pending" not in doc
    return doc["files"]


def _snippets(site: Site) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(layout.server_dir(site).iterdir())}


def _full(site_path: Path, target: Path) -> tuple[dict[str, bytes], dict[str, object],
                                                  dict[str, str], list[str]]:
    """What the full publish of the site makes in an empty ``target``."""
    site = load_site(site_path)
    _report, plan = stage.stage_with_plan(site, target)
    return _tree(target), _entries(target), _snippets(site), plan.warnings


def _short_equals_full(tmp_path: Path, before: str, after: str) -> publish.PublishReport:
    site = _site(tmp_path / "site", before)
    a = tmp_path / "a"
    stage.stage_with_plan(site, a)
    gen = read_manifest(a)["generation"]
    _edit(site, after)
    got = delta.publish_short(site.path, a)
    assert got is not None, "the short path was not taken"
    report, warnings = got
    tree, entries, snippets = _tree(a), _entries(a), _snippets(site)
    assert report.generation == (gen + 1 if report.written or report.removed else gen)
    # the record it left answers the next publish, and the tree is what it says
    again = stage.unchanged_publish(site.path, a)
    assert again is not None and again[0].generation == report.generation
    assert again[1] == warnings
    full = _full(site.path, tmp_path / f"b{len(list(tmp_path.iterdir()))}")
    assert (tree, entries, snippets, warnings) == full
    return report


def test_one_host_edited(tmp_path: Path) -> None:
    hosts = "".join(host(i) for i in range(5))
    report = _short_equals_full(tmp_path, hosts, hosts.replace(host(2), host(2, "quiet")))
    assert report.written == ["grub/grub.cfg-01-52-54-00-aa-02-02",
                              "pxelinux.cfg/01-52-54-00-aa-02-02"]
    assert report.removed == [] and len(report.unchanged) > 10


def test_hosts_added_removed_and_moved(tmp_path: Path) -> None:
    before = "".join(host(i) for i in range(6))
    after = host(5) + "".join(host(i) for i in (1, 2, 4)) + host(7, "quiet") + host(8, mac=False)
    report = _short_equals_full(tmp_path, before, after)
    assert "pxelinux.cfg/01-52-54-00-aa-02-07" in report.written
    assert "pxelinux.cfg/01-52-54-00-aa-02-00" in report.removed


def test_a_comment_only_edit_publishes_nothing(tmp_path: Path) -> None:
    hosts = "".join(host(i) for i in range(3))
    report = _short_equals_full(tmp_path, hosts, hosts + "# retired: h9\n")
    assert report.written == [] and report.removed == []


def test_the_last_host_removed(tmp_path: Path) -> None:
    _short_equals_full(tmp_path, host(0) + host(1), host(0))


_EDITS = st.lists(st.tuples(st.sampled_from(["edit", "add", "remove", "move"]),
                            st.integers(0, 30)), min_size=1, max_size=4)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=_EDITS)
def test_random_edits_equal_the_full_publish(tmp_path_factory: pytest.TempPathFactory,
                                             edits: list[tuple[str, int]]) -> None:
    order = list(range(6))
    extra = {i: "" for i in range(40)}
    before = "".join(host(i) for i in order)
    for op, n in edits:
        if op == "edit" and order:
            extra[order[n % len(order)]] = f"x{n}"
        elif op == "add" and n not in order:
            order.insert(n % (len(order) + 1), n)
        elif op == "remove" and len(order) > 1:
            order.pop(n % len(order))
        elif op == "move" and order:
            order.append(order.pop(n % len(order)))
    after = "".join(host(i, extra[i]) for i in order)
    if after == before:
        return
    _short_equals_full(tmp_path_factory.mktemp("delta"), before, after)


@pytest.fixture
def published(tmp_path: Path) -> tuple[Site, Path]:
    site = _site(tmp_path / "site", "".join(host(i) for i in range(4)))
    target = tmp_path / "tftp"
    stage.stage_with_plan(site, target)
    return site, target


def _site_table_edited(site: Site, target: Path) -> None:
    site.path.write_text(site.path.read_text().replace("[site]", "# the site\n[site]", 1))


def _bad_mac(site: Site, target: Path) -> None:
    site.path.write_text(site.path.read_text() + '\n[[hosts]]\nname = "h9"\nmac = "52:54"\n'
                         'profile = "nfsroot"\n')


def _mac_of_a_kept_host(site: Site, target: Path) -> None:
    site.path.write_text(site.path.read_text().replace("aa:02:03", "aa:02:01"))


def _table_after_hosts(site: Site, target: Path) -> None:
    site.path.write_text(site.path.read_text().replace(host(3), host(3, "quiet") + "\n[nfs]\n"))


def _state_tampered(site: Site, target: Path) -> None:
    path = target / STORE_NAME / hoststate.STATE_NAME
    doc = json.loads(path.read_text())
    doc["columns"]["name"] = 5
    path.write_text(json.dumps(doc))
    _edit(site, "".join(host(i, "quiet" if i == 1 else "") for i in range(4)))


def _foreign_file_in_the_way(site: Site, target: Path) -> None:
    (target / "pxelinux.cfg" / "01-52-54-00-aa-02-09").write_text("mine\n")
    site.path.write_text(site.path.read_text() + host(9))


def _loader_changed(site: Site, target: Path) -> None:
    _edit(site, "".join(host(i, "quiet" if i == 1 else "") for i in range(4)))
    rec = layout.build_record(site, site.profiles["nfsroot"])
    rec.write_text(rec.read_text().replace("6.1.192", "6.1.193"))


def _too_many(site: Site, target: Path) -> None:
    site.path.write_text(site.path.read_text() + "".join(host(i) for i in range(10, 13)))


@pytest.mark.parametrize("change", [_site_table_edited, _bad_mac, _mac_of_a_kept_host,
                                    _table_after_hosts, _state_tampered, _foreign_file_in_the_way,
                                    _loader_changed, _too_many])
def test_what_it_cannot_vouch_for_goes_the_full_way(published, change, monkeypatch) -> None:
    site, target = published
    monkeypatch.setattr(delta, "MAX_CHANGED", 2)
    manifest = (target / "kbuild-manifest.json").read_bytes()
    change(site, target)
    assert delta.publish_short(site.path, target) is None
    assert (target / "kbuild-manifest.json").read_bytes() == manifest


def test_the_full_way_then_names_the_problem(published) -> None:
    site, target = published
    _bad_mac(site, target)
    assert delta.publish_short(site.path, target) is None
    with pytest.raises(SiteError) as e:
        load_site(site.path)
    assert "is not a MAC address" in str(e.value.diagnostics[0].message)
    assert e.value.diagnostics[0].line == site.path.read_text().count("\n") - 1
    _edit(site, "".join(host(i) for i in range(4)))
    _foreign_file_in_the_way(site, target)
    assert delta.publish_short(site.path, target) is None
    with pytest.raises(UserError, match="kbuild did not write it"):
        stage.stage_with_plan(load_site(site.path), target)


def test_verify_sees_the_changed_hosts_first(published) -> None:
    site, target = published
    manifest = (target / "kbuild-manifest.json").read_bytes()
    _edit(site, "".join(host(i, "quiet" if i == 2 else "") for i in range(4)))
    seen: list[tuple[list[str], list[str]]] = []

    def refuse(part: Site, profiles: list[str]) -> None:
        seen.append(([h.name for h in part.hosts], profiles))
        raise UserError("host h2: refused")

    with pytest.raises(UserError, match="refused"):
        delta.publish_short(site.path, target, verify=refuse)
    assert seen == [(["h2"], ["nfsroot"])]
    assert (target / "kbuild-manifest.json").read_bytes() == manifest


def test_a_verified_record_stays_verified_only_with_verify(published) -> None:
    site, target = published
    stage.stage_with_plan(load_site(site.path), target, verified=True)
    _edit(site, "".join(host(i, "quiet" if i == 2 else "") for i in range(4)))
    assert delta.publish_short(site.path, target, need_verified=True,
                               verify=lambda _s, _p: None) is not None
    assert stage.unchanged_publish(site.path, target, need_verified=True) is not None
    _edit(site, "".join(host(i, "quiet" if i == 3 else "") for i in range(4)))
    assert delta.publish_short(site.path, target) is not None
    assert stage.unchanged_publish(site.path, target, need_verified=True) is None


def test_rollback_after_the_short_path(published) -> None:
    site, target = published
    before = _tree(target)
    _edit(site, "".join(host(i, "quiet" if i == 1 else "") for i in (0, 1, 3)))
    report, _w = delta.publish_short(site.path, target) or (None, None)
    assert report is not None and report.removed
    assert _tree(target) != before
    publish.rollback(target)
    assert _tree(target) == before
    # the record no longer describes the tree: the next publish is full
    assert delta.publish_short(site.path, target) is None


def test_old_generations_and_shards_are_collected(published) -> None:
    site, target = published
    for n in range(6):
        _edit(site, "".join(host(i, f"x{n}" if i == 1 else "") for i in range(4)))
        assert delta.publish_short(site.path, target) is not None
    gens = sorted(p.name for p in (target / STORE_NAME / "generations").iterdir())
    assert len(gens) == site.keep_generations
    used = set()
    for g in gens:
        used |= set(json.loads((target / STORE_NAME / "generations" / g).read_text())["shards"].values())
    assert {p.name[:-5] for p in (target / STORE_NAME / "shards").iterdir()} == used
    # the next full publish that makes a generation collects the objects only the
    # dropped generations used
    _edit(site, "".join(host(i, "again" if i == 1 else "") for i in range(4)))
    stage.stage_with_plan(load_site(site.path), target)
    gens = sorted(p.name for p in (target / STORE_NAME / "generations").iterdir())
    wanted = set()
    for g in gens:
        doc = publish.load_manifest(target / STORE_NAME / "generations" / g)
        wanted |= {e["sha256"] for e in doc["files"].values()}
    assert {p.name for p in (target / STORE_NAME / "objects").iterdir()} == wanted


def test_split_site_refuses_what_it_cannot_cut() -> None:
    head = '[site]\nkeep_generations = 2\n'
    assert hoststate.split_site(head + host(1) + host(2)) == (head + "\n", [host(1)[10:], host(2)[10:]])
    for text in (head, head + host(1) + '\nx = """a\n"""\n', head + host(1) + "[nfs]\n",
                 head + host(1) + "  [nfs]\n", head + host(1) + "[[hosts]] # c\n",
                 head + host(1).replace("[[hosts]]\n", "[[hosts]]\r\n")):
        assert hoststate.split_site(text) is None, text


_TABLES = st.lists(st.sampled_from(["\nname = \"a\"", "\nname = \"b\"\n", "\nx = 1\n# c",
                                    "\nname = \"a\"\nip = \"1\"", "\n"]), max_size=8)


@settings(max_examples=300, deadline=None)
@given(before=_TABLES, after=_TABLES, tail=st.sampled_from(["", "\n"]))
def test_changed_tables_cuts_both_texts_into_the_same_parts(before: list[str], after: list[str],
                                                            tail: str) -> None:
    head = '[site]\nkeep_generations = 2\n'
    old = head + "\n".join(f"[[hosts]]{t}" for t in [*before, "\nlast"]) + tail
    new = head + "\n".join(f"[[hosts]]{t}" for t in [*after, "\nlast"]) + tail
    split_old, split_new = hoststate.split_site(old), hoststate.split_site(new)
    got = hoststate.changed_tables(old, new)
    if split_old is None or split_new is None or "\n[[hosts]]\n" not in "\n" + old[len(head):]:
        return
    if got is None:     # only where a header is not on a line of its own
        assert any(not t.startswith("\n") for t in [*before, *after]), (old, new)
        return
    assert got.head == head and got.count_old == len(split_old[1])
    rest = len(split_old[1]) - got.first - len(got.old)
    assert split_old[1] == split_old[1][:got.first] + got.old + split_old[1][got.first + len(got.old):]
    assert got.old == split_old[1][got.first:got.first + len(got.old)]
    assert split_new[1][:got.first] == split_old[1][:got.first]
    assert split_new[1][got.first:got.first + len(got.new)] == got.new
    assert split_new[1][got.first + len(got.new):] == split_old[1][len(split_old[1]) - rest:]


def test_a_short_publish_cut_off_is_finished_by_the_next_one(published, tmp_path, monkeypatch) -> None:
    """A full disk (or a kill) after the first entry: the pending manifest tells the
    truth, the next publish is a full one and finishes the job."""
    import errno

    from kbuild.publish import writes

    site, target = published
    after = "".join(host(i, "quiet" if i in (1, 2) else "") for i in range(4))
    _edit(site, after)
    calls = []
    real = writes.replace_file

    def full_disk(*a: object, **k: object) -> None:
        calls.append(a)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(*a, **k)       # type: ignore[arg-type]
    monkeypatch.setattr(delta, "replace_file", full_disk)
    with pytest.raises(KbuildError, match="no space left on the device"):
        delta.publish_short(site.path, target)
    assert "pending" in json.loads((target / "kbuild-manifest.json").read_text())
    monkeypatch.setattr(delta, "replace_file", real)
    assert delta.publish_short(site.path, target) is None
    stage.stage_with_plan(load_site(site.path), target)
    assert (_tree(target), _entries(target)) == _full(site.path, tmp_path / "fresh")[:2]


def test_a_mac_changed_moves_the_hosts_files(tmp_path: Path) -> None:
    before = "".join(host(i) for i in range(3))
    report = _short_equals_full(tmp_path, before, before.replace("aa:02:01", "aa:02:21"))
    assert "pxelinux.cfg/01-52-54-00-aa-02-21" in report.written
    assert "pxelinux.cfg/01-52-54-00-aa-02-01" in report.removed


def test_the_state_and_record_are_not_for_the_tftp_server(published) -> None:
    """The tree is served by TFTP (as another user): the copy of the site file and the
    records kbuild keeps beside it are readable by their owner only."""
    _site, target = published
    for name in (hoststate.STATE_NAME, hoststate.SITE_COPY, "inputs.json"):
        assert (target / STORE_NAME / name).stat().st_mode & 0o077 == 0, name
