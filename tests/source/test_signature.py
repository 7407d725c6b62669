"""Detached OpenPGP signatures, checked with the real gpgv against throwaway keys.

The keys are made once per module with gpg in a temporary GNUPGHOME (ed25519: fast),
including one that expired in 2020 (made with --faked-system-time) and one that is
revoked. Every check runs with HOME and GNUPGHOME pointing at empty temporary
directories, and one test proves gpgv neither reads nor writes them.
"""
from __future__ import annotations

import gzip
import io
import lzma
import os
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from kbuild.errors import UserError
from kbuild.source import signature
from kbuild.source.signature import check_signature

OLD = "20200101T000000!"          # --faked-system-time: the expired key lives in 2020


@dataclass
class Keys:
    dir: Path
    env: dict[str, str]
    good: str            # fingerprints
    other: str
    expired: str
    revoked: str
    subkeyed: str

    def gpg(self, *args: str, stdin: bytes | None = None) -> bytes:
        r = subprocess.run(["gpg", "--batch", "--quiet", "--no-tty", "--passphrase", "", *args],
                           env=self.env, input=stdin, capture_output=True, check=False)
        assert r.returncode == 0, f"gpg {' '.join(args)}: {r.stderr.decode(errors='replace')}"
        return r.stdout

    def sign(self, data: Path, key: str, out: Path, *extra: str) -> Path:
        self.gpg(*extra, "--yes", "--local-user", key, "--output", str(out), "--detach-sign", str(data))
        return out

    def export(self, out: Path, *fprs: str, armor: bool = False) -> Path:
        out.write_bytes(self.gpg("--export", *(["--armor"] if armor else []), *fprs))
        return out


def _gen(keys: Keys, uid: str, usage: str = "sign", expire: str = "never", *before: str) -> str:
    status = keys.gpg("--status-fd", "1", *before, "--quick-gen-key", uid, "ed25519", usage, expire).decode()
    return next(ln.split()[3] for ln in status.splitlines() if ln.startswith("[GNUPG:] KEY_CREATED"))


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("gpg")
    home = d / "gnupghome"
    home.mkdir(mode=0o700)
    env = dict(os.environ, GNUPGHOME=str(home), HOME=str(d), LC_ALL="C")
    k = Keys(d, env, "", "", "", "", "")
    try:
        k.good = _gen(k, "Good <good@example.invalid>")
        k.other = _gen(k, "Other <other@example.invalid>")
        k.expired = _gen(k, "Old <old@example.invalid>", "sign", "1d", "--faked-system-time", OLD)
        k.revoked = _gen(k, "Revoked <revoked@example.invalid>")
        k.subkeyed = _gen(k, "Sub <sub@example.invalid>", "cert")
        yield k
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], env=env, check=False)


@pytest.fixture(autouse=True)
def clean_user(tmp_path, monkeypatch):
    """HOME and GNUPGHOME of the 'user' are empty directories for every test."""
    home = tmp_path / "user-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GNUPGHOME", raising=False)
    return home


def _tar(content: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("linux-0.0/Makefile")
        info.size = len(content)
        info.mtime = 1_700_000_000
        tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


@dataclass
class Release:
    tar: Path            # the uncompressed tar that was signed
    xz: Path
    gz: Path
    sign: Path           # detached signature of the tar, by keys.good (binary)
    ring: Path           # binary export of keys.good
    ring_asc: Path       # armored export of keys.good
    rev_sign: Path       # signature of the tar by keys.revoked, made before its revocation


CONTENT = b"VERSION = 6\n" + bytes(range(256)) * 2000      # 512 KB: several pipe buffers


@pytest.fixture(scope="module")
def release(keys, tmp_path_factory):
    d = tmp_path_factory.mktemp("release")
    tar = d / "linux-0.0.tar"
    tar.write_bytes(_tar(CONTENT))
    xz = d / "linux-0.0.tar.xz"
    xz.write_bytes(lzma.compress(tar.read_bytes(), preset=0))
    gz = d / "linux-0.0.tar.gz"
    gz.write_bytes(gzip.compress(tar.read_bytes(), compresslevel=1))
    rev_sign = keys.sign(tar, keys.revoked, d / "revoked.sign")
    rev = (Path(keys.env["GNUPGHOME"]) / "openpgp-revocs.d" / f"{keys.revoked}.rev").read_text()
    keys.gpg("--import", stdin=rev.replace(":-----BEGIN", "-----BEGIN").encode())
    return Release(tar, xz, gz, keys.sign(tar, keys.good, d / "linux-0.0.tar.sign"),
                   keys.export(d / "good.gpg", keys.good),
                   keys.export(d / "good.asc", keys.good, armor=True), rev_sign)


def _fails(*args, **kw) -> str:
    with pytest.raises(UserError) as e:
        check_signature(*args, **kw)
    return str(e.value)


# --- good signatures ------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["xz", "gz"])
def test_good_signature_over_decompressed_content(keys, release, kind):
    payload = release.xz if kind == "xz" else release.gz
    assert check_signature(payload, release.sign, release.ring, signed=kind) == keys.good


def test_plain_file(keys, release):
    assert check_signature(release.tar, release.sign, release.ring) == keys.good
    assert check_signature(release.tar, release.sign, release.ring, signed="file") == keys.good


def test_small_chunks_and_armored_signature(keys, release, tmp_path, monkeypatch):
    monkeypatch.setattr(signature, "CHUNK", 4096)
    asc = keys.sign(release.tar, keys.good, tmp_path / "linux-0.0.tar.asc", "--armor")
    assert check_signature(release.xz, asc, release.ring, signed="xz") == keys.good


def test_armored_keyring(keys, release):
    assert release.ring_asc.read_bytes().startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert check_signature(release.xz, release.sign, release.ring_asc, signed="xz") == keys.good


def test_armored_keyring_with_text_around_several_blocks(keys, release, tmp_path):
    other = keys.export(tmp_path / "other.asc", keys.other, armor=True).read_text()
    ring = tmp_path / "ring.asc"
    ring.write_text("Keys of the release team:\n\n" + other + "\nand the one that signs:\n"
                    + release.ring_asc.read_text())
    assert check_signature(release.gz, release.sign, ring, signed="gz") == keys.good


def test_keybox_keyring(keys, release):
    kbx = Path(keys.env["GNUPGHOME"]) / "pubring.kbx"
    assert kbx.read_bytes()[8:12] == b"KBXf"
    assert check_signature(release.xz, release.sign, kbx, signed="xz") == keys.good


def test_signing_subkey_returns_primary_fingerprint(keys, release, tmp_path):
    keys.gpg("--quick-add-key", keys.subkeyed, "ed25519", "sign", "never")
    sig = keys.sign(release.tar, keys.subkeyed, tmp_path / "sub.sign")
    ring = keys.export(tmp_path / "sub.gpg", keys.subkeyed)
    assert check_signature(release.xz, sig, ring, signed="xz") == keys.subkeyed


# --- failures -------------------------------------------------------------------------

def test_flipped_byte_in_decompressed_content_is_a_bad_signature(release, tmp_path):
    data = bytearray(release.tar.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad = tmp_path / "linux-0.0.tar.xz"
    bad.write_bytes(lzma.compress(bytes(data), preset=0))
    msg = _fails(bad, release.sign, release.ring, signed="xz", shown="kernel.org-0.0")
    assert msg.startswith("kernel.org-0.0: error: bad signature")
    assert "Good <good@example.invalid>" in msg and "fix:" in msg


def test_signature_over_the_wrong_layer_is_bad(release):
    # the signature covers the tar, not the .xz bytes: signed="file" must fail
    assert "bad signature" in _fails(release.xz, release.sign, release.ring, signed="file")


def test_key_not_in_keyring_is_named(keys, release, tmp_path):
    sig = keys.sign(release.tar, keys.other, tmp_path / "by-other.sign")
    msg = _fails(release.xz, sig, release.ring, signed="xz")
    assert f"signed by key {keys.other}, which is not in the keyring {release.ring}" in msg


def test_one_unknown_signature_among_good_ones_fails(keys, release, tmp_path):
    other = keys.sign(release.tar, keys.other, tmp_path / "o.sign").read_bytes()
    both = tmp_path / "both.sign"
    both.write_bytes(release.sign.read_bytes() + other)
    assert keys.other in _fails(release.xz, both, release.ring, signed="xz")


def test_expired_key(keys, release, tmp_path):
    sig = keys.sign(release.tar, keys.expired, tmp_path / "old.sign", "--faked-system-time", OLD)
    ring = keys.export(tmp_path / "old.gpg", keys.expired)
    msg = _fails(release.xz, sig, ring, signed="xz")
    assert f"signed by expired key {keys.expired} (Old <old@example.invalid>)" in msg


def test_revoked_key(keys, release, tmp_path):
    ring = keys.export(tmp_path / "rev.gpg", keys.revoked)
    msg = _fails(release.xz, release.rev_sign, ring, signed="xz")
    assert f"signed by revoked key {keys.revoked} (Revoked <revoked@example.invalid>)" in msg


def test_garbage_signature_with_large_payload_does_not_hang(release, tmp_path):
    # gpgv exits without reading stdin: writing the 512 KB tar hits a closed pipe
    garbage = tmp_path / "garbage.sign"
    # deterministic: random bytes sometimes parse as a packet (gpgv then says "unknown
    # compression algorithm"); a first byte without bit 7 set is never an OpenPGP packet
    garbage.write_bytes(b"\x00" + bytes((i * 37 + 11) % 256 for i in range(199)))
    assert "not a signature" in _fails(release.xz, garbage, release.ring, signed="xz")
    html = tmp_path / "error.sign"
    html.write_text("<html><body>404 Not Found</body></html>\n")
    assert "not a signature" in _fails(release.tar, html, release.ring)
    empty = tmp_path / "empty.sign"
    empty.write_bytes(b"")
    assert "not a signature" in _fails(release.tar, empty, release.ring)


def test_inline_signed_message_is_not_a_detached_signature(keys, release, tmp_path):
    # a signed message by the right key, of other data, must not pass for a detached one
    other = tmp_path / "other.txt"
    other.write_text("something else\n")
    inline = tmp_path / "inline.gpg"
    keys.gpg("--local-user", keys.good, "--output", str(inline), "--sign", str(other))
    assert "not a detached signature" in _fails(release.tar, inline, release.ring)


def test_missing_signature_file(release, tmp_path):
    msg = _fails(release.xz, tmp_path / "nope.sign", release.ring, signed="xz", shown="src")
    assert msg.startswith("src: error: no signature file")


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
@pytest.mark.parametrize("kind", ["xz", "gz"])
def test_corrupt_compressed_payload(release, tmp_path, kind, damage):
    good = (release.xz if kind == "xz" else release.gz).read_bytes()
    bad = tmp_path / f"bad.{kind}"
    if damage == "truncated":
        bad.write_bytes(good[: len(good) // 2])
    else:
        data = bytearray(good)
        data[len(data) // 2] ^= 0xFF
        bad.write_bytes(bytes(data))
    msg = _fails(bad, release.sign, release.ring, signed=kind)
    assert f"corrupt {kind}-compressed payload" in msg and "fix:" in msg


def test_not_compressed_at_all(release):
    assert "corrupt xz-compressed payload" in _fails(release.tar, release.sign, release.ring, signed="xz")


def test_missing_payload(release, tmp_path):
    assert "does not exist" in _fails(tmp_path / "gone.tar.xz", release.sign, release.ring, signed="xz")


def test_bad_keyrings(keys, release, tmp_path):
    assert "keyring" in _fails(release.tar, release.sign, tmp_path / "none.gpg")
    text = tmp_path / "text.asc"
    text.write_text("not a key\n")
    assert "is not an OpenPGP keyring" in _fails(release.tar, release.sign, text)
    damaged = tmp_path / "damaged.asc"
    lines = release.ring_asc.read_text().splitlines()
    body = next(i for i, ln in enumerate(lines) if len(ln) > 40)
    lines[body] = lines[body][:10] + ("A" if lines[body][10] != "A" else "B") + lines[body][11:]
    damaged.write_text("\n".join(lines) + "\n")
    assert "armor checksum mismatch" in _fails(release.tar, release.sign, damaged)
    secret = tmp_path / "secret.gpg"
    secret.write_bytes(keys.gpg("--export-secret-keys", keys.good))
    assert "secret key" in _fails(release.tar, release.sign, secret)


def test_gpgv_missing(release, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError) as e:
        check_signature(release.xz, release.sign, release.ring, signed="xz")
    assert "gpgv not found" in e.value.message and "gpgv package" in (e.value.hint or "")


def test_unknown_signed_kind(release):
    assert "unknown signed='bz2'" in _fails(release.tar, release.sign, release.ring, signed="bz2")


# --- isolation ------------------------------------------------------------------------

def test_user_gnupg_is_neither_read_nor_written(keys, release, tmp_path, clean_user, monkeypatch):
    # nothing created under an empty HOME (no ~/.gnupg), by a good or a failing check
    check_signature(release.xz, release.sign, release.ring, signed="xz")
    sig = keys.sign(release.tar, keys.other, tmp_path / "by-other.sign")
    _fails(release.xz, sig, release.ring, signed="xz")
    assert list(clean_user.iterdir()) == []
    # a user keyring gpgv would read by default (trustedkeys.gpg/.kbx) is ignored and left alone,
    # whether it is found through GNUPGHOME or ~/.gnupg
    gnupg = tmp_path / "user-gnupg"
    gnupg.mkdir(mode=0o700)
    keys.export(gnupg / "trustedkeys.gpg", keys.other)
    keys.export(gnupg / "trustedkeys.kbx", keys.other)
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in gnupg.iterdir()}
    monkeypatch.setenv("GNUPGHOME", str(gnupg))
    assert "not in the keyring" in _fails(release.xz, sig, release.ring, signed="xz")
    assert check_signature(release.gz, release.sign, release.ring, signed="gz") == keys.good
    monkeypatch.delenv("GNUPGHOME")
    (clean_user / ".gnupg").symlink_to(gnupg)
    assert "not in the keyring" in _fails(release.xz, sig, release.ring, signed="xz")
    assert check_signature(release.gz, release.sign, release.ring, signed="gz") == keys.good
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in gnupg.iterdir()} == before
    assert [p.name for p in clean_user.iterdir()] == [".gnupg"]


# --- a url source with signature and keyring, fetched through the pipeline ------------


def _signed_site(tmp_path: Path, release: Release, sign: Path) -> Path:
    import hashlib

    site = tmp_path / "site"
    (site / "fragments").mkdir(parents=True)
    (site / "kbuild.toml").write_text(
        "[sources.up]\n"
        f'url = "file://{release.xz}"\n'
        f'sha256 = "{hashlib.sha256(release.xz.read_bytes()).hexdigest()}"\n'
        f'signature = "file://{sign}"\n'
        f'keyring = "{release.ring}"\n'
        'signed = "xz"\n')
    return site / "kbuild.toml"


def _fetch(site: Path):
    from kbuild import cli

    return cli.main(["fetch", "--site", str(site)])


def test_signed_url_source_is_fetched_after_gpgv_accepts_it(release, tmp_path, capsys):
    site = _signed_site(tmp_path, release, release.sign)
    assert _fetch(site) == 0, capsys.readouterr().err
    cached = list((site.parent / "artifacts/cache/sha256").rglob("linux-0.0.tar.xz"))
    assert len(cached) == 1 and cached[0].read_bytes() == release.xz.read_bytes()


def test_signed_url_source_with_a_bad_or_missing_signature_is_not_cached(keys, release, tmp_path, capsys):
    other = tmp_path / "other.tar"
    other.write_bytes(_tar(b"VERSION = 7\n"))
    bad = keys.sign(other, keys.good, tmp_path / "bad.sign")  # a good key, but over other content
    site = _signed_site(tmp_path, release, bad)
    assert _fetch(site) == 2
    err = capsys.readouterr().err
    assert "bad signature" in err and "Traceback" not in err
    assert not list((site.parent / "artifacts/cache").rglob("*.tar.xz"))
    site.write_text(site.read_text().replace(str(bad), str(tmp_path / "absent.sign")))
    assert _fetch(site) != 0
    err = capsys.readouterr().err
    assert "absent.sign" in err and "Traceback" not in err
    assert not list((site.parent / "artifacts/cache").rglob("*.tar.xz"))


def test_signature_without_keyring_is_a_site_error(release, tmp_path, capsys):
    site = _signed_site(tmp_path, release, release.sign)
    site.write_text("\n".join(ln for ln in site.read_text().splitlines() if not ln.startswith("keyring")))
    assert _fetch(site) == 2
    assert "needs both signature and keyring" in capsys.readouterr().err
