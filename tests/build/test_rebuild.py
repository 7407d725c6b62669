"""verify-build's refusals before any compiling: no build, no digest, the build dir itself."""
from __future__ import annotations

import json

from kbuild.cli import main
from kbuild.site import layout
from kbuild.site.load import load_site
from tests.e2e import fake_build
from tests.tinysite import make_site


def test_unbuilt_profile_is_a_user_error(tmp_path, capsys):
    site_file = make_site(tmp_path / "s")
    assert main(["verify-build", "nfsroot", "--site", str(site_file)]) == 2
    err = capsys.readouterr().err
    assert "profile 'nfsroot' has not been built" in err and "doit build:nfsroot" in err


def test_record_without_digest_is_a_user_error(tmp_path, capsys):
    site_file = make_site(tmp_path / "s")
    site = load_site(site_file)
    fake_build(site, site.profiles["nfsroot"], "CONFIG_NET=y\n")   # an old record: no digest
    assert main(["verify-build", "nfsroot", "--site", str(site_file)]) == 2
    assert "the build record has no image_sha256 field" in capsys.readouterr().err


def test_scratch_must_not_be_the_build_dir(tmp_path, capsys):
    site_file = make_site(tmp_path / "s")
    site = load_site(site_file)
    p = site.profiles["nfsroot"]
    bdir = fake_build(site, p, "CONFIG_NET=y\n")
    record = layout.build_record(site, p)
    record.write_text(record.read_text().replace('"kernel_release"', f'"image_sha256": "{"a" * 64}", '
                                                  '"kernel_release"'))
    assert main(["verify-build", "nfsroot", "--site", str(site_file), "--scratch", str(bdir)]) == 2
    assert "the scratch directory is the build directory" in capsys.readouterr().err


def test_unknown_profile(tmp_path, capsys):
    site_file = make_site(tmp_path / "s")
    assert main(["verify-build", "nope", "--site", str(site_file)]) == 2
    assert "unknown profile 'nope'" in capsys.readouterr().err


def test_manifest_without_the_profiles_digest_is_a_user_error(tmp_path, capsys):
    site_file = make_site(tmp_path / "s")
    site = load_site(site_file)
    p = site.profiles["nfsroot"]
    fake_build(site, p, "CONFIG_NET=y\n")
    manifest = tmp_path / "kbuild-manifest.json"
    manifest.write_text(json.dumps({"format": 1, "generation": 1, "dirs": [], "files": {
        "images/nfsroot/vmlinuz-6.1": {"sha256": "b" * 64, "size": 1, "mode": 420, "role": "payload",
                                      "meta": {"profile": "nfsroot", "kernel_release": "6.1"}}}}))
    assert main(["verify-build", "nfsroot", "--site", str(site_file), "--manifest", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "the manifest records no image_sha256 for profile 'nfsroot'" in err and "doit stage:nfsroot" in err
    assert main(["verify-build", "nfsroot", "--site", str(site_file),
                 "--manifest", str(tmp_path / "nothing")]) == 2
    assert "no kbuild manifest here" in capsys.readouterr().err


def test_expected_image_digest_is_the_profiles_field():
    from kbuild.publish.manifest import expected_image_digest

    doc = {"files": {"a": {"meta": {"profile": "dom0", "image_sha256": "1" * 64}},
                     "b": {"meta": {"profile": "nfsroot", "image_sha256": "2" * 64}},
                     "c": {"meta": {"profile": "nfsroot"}}}}
    assert expected_image_digest(doc, "nfsroot") == "2" * 64
    assert expected_image_digest(doc, "uml") is None
