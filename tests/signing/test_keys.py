"""The site's Secure Boot key (real openssl) and kernel signing (real sbsign/sbverify)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from kbuild.errors import UserError
from kbuild.signing import keys, sign
from tests.e2e import BIN, command_env

# a real PE/COFF EFI application from Debian's ipxe package stands in for a kernel
PE_SAMPLE = "/usr/lib/ipxe/snponly.efi"


@pytest.fixture
def pair(tmp_path):
    return keys.init_key(tmp_path / "keys/site.key", tmp_path / "keys/site.crt")


def test_init_writes_private_rsa2048_key_and_matching_cert(pair):
    assert (pair.key.stat().st_mode & 0o777) == 0o600
    text = subprocess.run(["openssl", "x509", "-in", str(pair.cert), "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout
    assert "Public-Key: (2048 bit)" in text
    fp = subprocess.run(["openssl", "x509", "-in", str(pair.cert), "-noout", "-fingerprint", "-sha256"],
                        capture_output=True, text=True, check=True).stdout
    assert fp.split("=", 1)[1].strip().replace(":", "").lower() == pair.fingerprint
    assert keys.check_pair(pair.key, pair.cert) == pair


def test_init_never_overwrites(pair):
    before = pair.key.read_bytes()
    with pytest.raises(UserError) as e:
        keys.init_key(pair.key, pair.cert)
    assert e.value.path == str(pair.key) and "never overwrites" in e.value.message
    assert pair.key.read_bytes() == before


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_key_readable_by_others_is_refused(pair, mode):
    os.chmod(pair.key, mode)
    with pytest.raises(UserError) as e:
        keys.check_pair(pair.key, pair.cert)
    assert e.value.path == str(pair.key) and f"mode {mode:04o}" in e.value.message
    assert "chmod 600" in (e.value.hint or "")


def test_cert_of_another_key_is_refused(pair, tmp_path):
    other = keys.init_key(tmp_path / "o.key", tmp_path / "o.crt")
    with pytest.raises(UserError) as e:
        keys.check_pair(pair.key, other.cert)
    assert e.value.path == str(other.cert) and "does not match the private key" in e.value.message


def test_sign_and_verify_a_pe_image(pair, tmp_path):
    signed = sign.signed_copy(shutil.copy(PE_SAMPLE, tmp_path / "img"), pair, tmp_path / "cache", "img")
    assert sign.verify(signed, pair.cert)
    assert not sign.verify(tmp_path / "img", pair.cert)  # the input stays unsigned
    other = keys.init_key(tmp_path / "o.key", tmp_path / "o.crt")
    assert not sign.verify(signed, other.cert)
    # signing again reuses the cached copy
    assert sign.signed_copy(tmp_path / "img", pair, tmp_path / "cache", "img") == signed


def test_non_pe_image_cannot_be_signed(pair, tmp_path):
    img = tmp_path / "bzImage"
    img.write_bytes(b"\0" * 8192)
    with pytest.raises(UserError) as e:
        sign.signed_copy(img, pair, tmp_path / "cache", "images/x/vmlinuz-1")
    assert "images/x/vmlinuz-1 is not an EFI (PE/COFF) image" in e.value.message
    assert "EFI_STUB" in (e.value.hint or "")


def test_keys_command(tmp_path):
    env = command_env()
    r = subprocess.run([str(BIN / "kbuild"), "keys", "init", "--key", "k/a.key", "--cert", "k/a.crt"],
                       cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("certificate sha256 ") and "mokutil --import" in r.stderr
    os.chmod(tmp_path / "k/a.key", 0o644)
    r = subprocess.run([str(BIN / "kbuild"), "keys", "check", "--key", "k/a.key", "--cert", "k/a.crt"],
                       cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "k/a.key: error:" in r.stderr and "Traceback" not in r.stderr
    assert json.dumps(r.stdout) == '""'
