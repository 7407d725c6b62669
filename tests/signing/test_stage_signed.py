"""Staging a Secure Boot profile: the kernel is staged signed (manifest records the
certificate), and each bad input stops the stage before anything is published."""
from __future__ import annotations

import os
import shutil

import pytest

from kbuild.errors import UserError
from kbuild.publish import stage
from kbuild.publish.manifest import read_manifest
from kbuild.signing import keys, sign
from kbuild.site import layout
from kbuild.site.load import load_site
from tests.boot.test_hostfiles import HOSTS, SYNTHETIC_CONFIG, _base_toml
from tests.e2e import copy_site, fake_build
from tests.signing.test_keys import PE_SAMPLE

SECURE = '''
[profiles.nfsroot.secure_boot]
key = "keys/site.key"
cert = "keys/site.crt"
'''


@pytest.fixture
def sbsite(tmp_path):
    text = _base_toml().replace("[profiles.nfsroot.nfsroot]",
                                SECURE.strip() + "\n\n[profiles.nfsroot.nfsroot]")
    root = copy_site(tmp_path / "site", text + HOSTS, link=True)
    keys.init_key(root / "keys/site.key", root / "keys/site.crt")
    site = load_site(root / "kbuild.toml")
    for p in site.profiles.values():
        bdir = fake_build(site, p, SYNTHETIC_CONFIG)
        if p.name == "nfsroot":   # a real PE/COFF image stands in for the EFI-stub kernel
            shutil.copy(PE_SAMPLE, bdir / "arch/x86/boot/bzImage")
    return site


def _tree(target):
    return {str(p.relative_to(target)): p.read_bytes() for p in sorted(target.rglob("*")) if p.is_file()}


def test_secure_boot_profile_stages_signed_kernel_and_records_cert(sbsite):
    target = sbsite.root / "published"
    stage.stage(sbsite, target)
    kernel = target / "images/nfsroot/vmlinuz-6.1.192"
    cert = sbsite.root / "keys/site.crt"
    assert sign.verify(kernel, cert)
    manifest = read_manifest(target) or {}
    meta = manifest["files"]["images/nfsroot/vmlinuz-6.1.192"]["meta"]
    assert meta["signer_cert_sha256"] == keys.cert_fingerprint(cert)
    assert not any("site.key" in name for name in manifest["files"])
    assert b"PRIVATE KEY" not in b"".join(_tree(target).values())


@pytest.mark.parametrize("fault", ["world-readable key", "other cert", "unsigned kernel",
                                   "key in tree"])
def test_bad_secure_boot_input_names_the_file_and_publishes_nothing(sbsite, tmp_path, fault):
    target = sbsite.root / "published"
    stage.stage(sbsite, target)
    before = _tree(target)
    bdir = layout.build_dir(sbsite, sbsite.profiles["nfsroot"])
    key, cert = sbsite.root / "keys/site.key", sbsite.root / "keys/site.crt"
    site = sbsite
    # a new build waits to be staged: none of it may appear
    (bdir / ".config").write_text(SYNTHETIC_CONFIG + "CONFIG_CHANGED=y\n")
    if fault == "world-readable key":
        os.chmod(key, 0o644)
        shown, words = str(key), "readable or writable by others"
    elif fault == "other cert":
        other = keys.init_key(tmp_path / "o.key", tmp_path / "o.crt")
        shutil.copy(other.cert, cert)
        shown, words = str(cert), "does not match the private key"
    elif fault == "unsigned kernel":
        (bdir / "arch/x86/boot/bzImage").write_bytes(b"\0" * 65536)   # no EFI stub
        shown, words = str(bdir / "arch/x86/boot/bzImage"), "is not an EFI (PE/COFF) image"
    else:
        inside = target / "keys"
        inside.mkdir()
        shutil.copy(key, inside / "site.key")
        os.chmod(inside / "site.key", 0o600)
        text = site.path.read_text().replace('key = "keys/site.key"', 'key = "published/keys/site.key"')
        site.path.write_text(text)
        site = load_site(site.path)
        before = _tree(target)
        shown, words = str(inside / "site.key"), "inside a published tree"
    with pytest.raises(UserError) as e:
        stage.stage(site, target)
    assert e.value.path == shown and words in e.value.message
    assert _tree(target) == before
