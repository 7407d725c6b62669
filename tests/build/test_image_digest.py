"""The image digest travels explicitly: build record → the published manifest's
``image_sha256`` per profile → what `kbuild verify-build --manifest` compares with."""
from __future__ import annotations

import hashlib
import json

from kbuild.publish import stage
from kbuild.publish.manifest import expected_image_digest, load_manifest
from kbuild.site import layout
from kbuild.site.load import load_site
from tests.boot.test_hostfiles import HOSTS, SYNTHETIC_CONFIG, _base_toml
from tests.e2e import copy_site, fake_build


def test_manifest_records_each_profiles_image_sha256(tmp_path):
    root = copy_site(tmp_path / "site", _base_toml() + HOSTS, link=True)
    site = load_site(root / "kbuild.toml")
    digests = {}
    for p in site.profiles.values():
        bdir = fake_build(site, p, SYNTHETIC_CONFIG)
        rec_path = layout.build_record(site, p)
        record = json.loads(rec_path.read_text())
        digests[p.name] = hashlib.sha256((bdir / record["image"]).read_bytes()).hexdigest()
        rec_path.write_text(json.dumps({**record, "image_sha256": digests[p.name]}))
    target = root / "published"
    stage.stage(site, target)
    doc = load_manifest(target / "kbuild-manifest.json")
    assert len(digests) >= 2
    for name, digest in digests.items():
        assert expected_image_digest(doc, name) == digest
    # the staged config of a profile carries the same field as its kernel
    metas = [e["meta"] for e in doc["files"].values() if e["meta"].get("profile") == "nfsroot"
             and "config_sha256" in e["meta"]]
    assert len(metas) >= 2 and {m["image_sha256"] for m in metas} == {digests["nfsroot"]}
