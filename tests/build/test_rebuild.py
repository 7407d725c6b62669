"""verify-build's refusals before any compiling: no build, no digest, the build dir itself."""
from __future__ import annotations

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
    assert "the build record has no image digest" in capsys.readouterr().err


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
