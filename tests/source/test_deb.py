"""deb sources against a real, signed apt repository made in the test.

The repository is a ``file:`` repository built with ``dpkg-deb``, ``apt-ftparchive``
and ``gpg`` (a key made here), holding two versions of a small source package. kbuild
resolves it with real apt in its private state, exactly as it resolves Debian's.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import textwrap
from pathlib import Path

import pytest

from kbuild.site.lock import read_lock
from kbuild.util import versions as debversion
from tests.e2e import BIN

PKG = "kbtest-source"


def _run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    r = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True)
    assert r.returncode == 0, f"{args}: {r.stdout}\n{r.stderr}"
    return r.stdout


class Keys:
    """A throwaway GnuPG home with one signing key (its agent is stopped after the test)."""

    homes: list[Path] = []

    def __init__(self, home: Path, name: str) -> None:
        self.home = home
        Keys.homes.append(home)
        home.mkdir(mode=0o700, parents=True)
        self.env = {**os.environ, "GNUPGHOME": str(home)}
        _run("gpg", "--batch", "--passphrase", "", "--quick-gen-key", f"{name} <{name}@example.invalid>",
             "ed25519", "sign", "never", env=self.env)
        self.keyring = home / "keyring.gpg"
        self.keyring.write_bytes(subprocess.run(["gpg", "--export"], env=self.env, capture_output=True,
                                                check=True).stdout)

    def clearsign(self, src: Path, dest: Path) -> None:
        _run("gpg", "--batch", "--yes", "--clearsign", "-o", str(dest), str(src), env=self.env)


def _kernel_tarball(version: str) -> bytes:
    """A tiny 'kernel source' tarball: a top directory with a Makefile."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        up = debversion.upstream(version)
        major, minor, sub = (up.split(".") + ["0", "0"])[:3]
        data = f"VERSION = {major}\nPATCHLEVEL = {minor}\nSUBLEVEL = {sub}\nEXTRAVERSION =\n".encode()
        info = tarfile.TarInfo("linux-source-kbt/Makefile")
        info.size = len(data)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _build_deb(work: Path, version: str, extra: bytes = b"") -> Path:
    root = work / f"pkg-{version}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(textwrap.dedent(f"""\
        Package: {PKG}
        Version: {version}
        Architecture: all
        Maintainer: kbuild tests <t@example.invalid>
        Description: a tiny kernel source package for kbuild's tests
        """))
    src = root / "usr" / "src"
    src.mkdir(parents=True)
    (src / "linux-source-kbt.tar.xz").write_bytes(_kernel_tarball(version) + extra)
    (root / "usr" / "share").mkdir(parents=True)
    (root / "usr" / "share" / "readme").write_text(version)
    out = work / f"{PKG}_{version}_all.deb"
    _run("dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(out))
    return out


class Repo:
    """A file: apt repository with suite 'stable', component 'main'."""

    def __init__(self, base: Path, keys: Keys) -> None:
        self.base = base
        self.keys = keys
        self.pool = base / "pool" / "main"
        self.pool.mkdir(parents=True)
        self.debs: dict[str, Path] = {}

    def add(self, version: str, deb: Path) -> None:
        dest = self.pool / deb.name
        shutil.copyfile(deb, dest)
        self.debs[version] = dest

    def remove(self, version: str) -> None:
        self.debs.pop(version).unlink()

    def publish(self, signer: Keys | None = None) -> None:
        """(Re)write the index: Packages, Release, and InRelease signed by ``signer``."""
        d = self.base / "dists" / "stable"
        shutil.rmtree(d, ignore_errors=True)
        binary = d / "main" / "binary-amd64"
        binary.mkdir(parents=True)
        packages = _run("apt-ftparchive", "packages", "pool", cwd=self.base)
        (binary / "Packages").write_text(packages)
        release = _run("apt-ftparchive", "-o", "APT::FTPArchive::Release::Suite=stable",
                       "-o", "APT::FTPArchive::Release::Codename=stable",
                       "-o", "APT::FTPArchive::Release::Architectures=amd64",
                       "-o", "APT::FTPArchive::Release::Components=main", "release", ".", cwd=d)
        (d / "Release").write_text(release)
        if signer is not None:
            signer.clearsign(d / "Release", d / "InRelease")


@pytest.fixture()
def world(tmp_path: Path):
    keys = Keys(tmp_path / "gnupg", "archive")
    repo = Repo(tmp_path / "repo", keys)
    work = tmp_path / "debs"
    work.mkdir()
    for v in ("1.0-1", "1.1-1"):
        repo.add(v, _build_deb(work, v))
    repo.publish(keys)
    site = tmp_path / "site"
    (site / "fragments").mkdir(parents=True)
    (site / "kbuild.toml").write_text(textwrap.dedent(f"""\
        [apt]
        keyring = "{keys.keyring}"

        [[apt.repositories]]
        uri = "file:{repo.base}"
        suites = ["stable"]

        [sources.kbt]
        package = "{PKG}"
        upstream = "1.*"
        """))
    yield {"site": site, "repo": repo, "keys": keys, "work": work, "tmp": tmp_path}
    while Keys.homes:
        subprocess.run(["gpgconf", "--homedir", str(Keys.homes.pop()), "--kill", "gpg-agent"], check=False)


def kb(world, *args: str, env: dict[str, str] | None = None):
    e = {**os.environ, **(env or {})}
    e.pop("KBUILD_LOCKED", None)
    e.update(env or {})
    r = subprocess.run([str(BIN / "kbuild"), *args, "--site", str(world["site"] / "kbuild.toml")],
                       capture_output=True, text=True, env=e, timeout=300)
    return r


def lock_of(world):
    return read_lock(world["site"] / "kbuild.lock")


def test_pin_latest_locks_newest_and_fetch_gets_that_file(world):
    r = kb(world, "pin", "kbt", "--latest")
    assert r.returncode == 0, r.stderr
    entry = lock_of(world)["kbt"]
    assert (entry.package, entry.version, entry.upstream) == (PKG, "1.1-1", "1.1")
    assert entry.file == "usr/src/linux-source-kbt.tar.xz"
    deb = world["repo"].debs["1.1-1"]
    import hashlib

    assert entry.deb_sha256 == hashlib.sha256(deb.read_bytes()).hexdigest()
    assert entry.deb_size == deb.stat().st_size
    r = kb(world, "fetch", "kbt")
    assert r.returncode == 0, r.stderr
    cached = world["site"] / "artifacts/cache/sha256" / entry.sha256 / "linux-source-kbt.tar.xz"
    assert cached.is_file()
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == entry.sha256
    with tarfile.open(cached) as tar:
        assert b"SUBLEVEL = 0" in tar.extractfile("linux-source-kbt/Makefile").read()  # 1.1 -> 1.1.0


def test_fetch_of_the_locked_version_not_the_newest(world):
    assert kb(world, "pin", "kbt", "--version", "1.0-1").returncode == 0
    # nothing cached yet: the fetch downloads the locked 1.0-1 again (the newest is 1.1-1)
    shutil.rmtree(world["site"] / "artifacts/cache")
    r = kb(world, "fetch", "kbt")
    assert r.returncode == 0, r.stderr
    assert "1.0-1" in r.stdout and lock_of(world)["kbt"].version == "1.0-1"
    debs = list((world["site"] / "artifacts/cache/deb").glob("*.deb"))
    assert [d.name for d in debs] == [f"{PKG}_1.0-1_all.deb"]


def test_pin_latest_moves_the_lock(world):
    assert kb(world, "pin", "kbt", "--version", "1.0-1").returncode == 0
    r = kb(world, "pin", "kbt", "--latest")
    assert r.returncode == 0, r.stderr
    assert "locked kbt to kbtest-source 1.1-1" in r.stderr and "was kbtest-source 1.0-1" in r.stderr
    assert lock_of(world)["kbt"].version == "1.1-1"


def test_tampered_deb_is_refused(world):
    repo = world["repo"]
    # same name and size class, different content: the signed index still names the original
    (world["work"] / "evil").mkdir()
    evil = _build_deb(world["work"] / "evil", "1.1-1", extra=b"\0" * 16)
    shutil.copyfile(evil, repo.debs["1.1-1"])
    r = kb(world, "pin", "kbt", "--latest")
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert "hash sum mismatch" in r.stderr.lower() or "does not match the signed index" in r.stderr, r.stderr
    assert not (world["site"] / "kbuild.lock").exists()
    assert not list((world["site"] / "artifacts/cache").rglob("*.deb"))
    assert not list((world["site"] / "artifacts/cache").rglob("*.tar.xz"))


def test_unsigned_index_is_refused(world):
    world["repo"].publish(signer=None)
    r = kb(world, "pin", "kbt", "--latest")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "cannot update kbuild's package index" in r.stderr, r.stderr
    assert "not signed" in r.stderr or "keyring" in r.stderr, r.stderr
    assert not (world["site"] / "kbuild.lock").exists()


def test_index_signed_by_a_wrong_key_is_refused(world):
    stranger = Keys(world["tmp"] / "stranger", "stranger")
    world["repo"].publish(signer=stranger)
    r = kb(world, "pin", "kbt", "--latest")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "NO_PUBKEY" in r.stderr or "not signed" in r.stderr or "signature" in r.stderr, r.stderr
    assert not (world["site"] / "kbuild.lock").exists()


def test_locked_version_gone_re_resolves_by_default_and_fails_when_locked(world):
    assert kb(world, "pin", "kbt", "--version", "1.0-1").returncode == 0
    shutil.rmtree(world["site"] / "artifacts/cache")
    world["repo"].remove("1.0-1")
    world["repo"].publish(world["keys"])
    before = (world["site"] / "kbuild.lock").read_text()

    strict = kb(world, "fetch", "--locked")
    assert strict.returncode == 2, strict.stderr
    assert "kbtest-source 1.0-1 (upstream 1.0) is no longer offered" in strict.stderr
    assert "versions offered in 1.*: 1.1-1" in strict.stderr
    assert "kbuild pin kbt --latest" in strict.stderr
    assert (world["site"] / "kbuild.lock").read_text() == before
    env_strict = kb(world, "fetch", env={"KBUILD_LOCKED": "1"})
    assert env_strict.returncode == 2 and "no longer offered" in env_strict.stderr

    r = kb(world, "fetch")
    assert r.returncode == 0, r.stderr
    moved = [ln for ln in r.stderr.splitlines() if "moved" in ln]
    assert moved == ["kbuild.lock: kbt: kbtest-source 1.0-1 (upstream 1.0) is no longer offered by the "
                     "package index; moved 1.0-1 -> 1.1-1 (upstream 1.0 -> 1.1)"], r.stderr
    assert lock_of(world)["kbt"].version == "1.1-1"


def test_doit_tasks_resolve_the_lock_before_naming_files(world):
    """A fresh site with no lock: doit's fetch and unpack tasks lock and use the same version."""
    env = {**os.environ, "KBUILD_SITE": str(world["site"] / "kbuild.toml"),
           "PATH": f"{BIN}:{os.environ['PATH']}"}
    env.pop("KBUILD_LOCKED", None)
    r = subprocess.run([str(BIN / "doit"), "-f", str(Path(__file__).parents[2] / "dodo.py"),
                        "-d", str(world["site"]), "unpack:kbt"], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "kbuild.lock: locked kbt to kbtest-source 1.1-1 (upstream 1.1)" in r.stderr
    entry = lock_of(world)["kbt"]
    trees = list((world["site"] / "artifacts/src").glob("kbt-*"))
    assert [t.name for t in trees] == [f"kbt-{entry.sha256[:12]}"]
    assert (trees[0] / "Makefile").read_text().startswith("VERSION = 1")


def test_check_site_warns_about_self_pinned_files_and_unlocked_sources(world, tmp_path):
    payload = tmp_path / "file.tar.xz"
    payload.write_bytes(_kernel_tarball("1.0-1"))
    import hashlib

    site = world["site"] / "kbuild.toml"
    site.write_text(site.read_text() + textwrap.dedent(f"""\
        [sources.local]
        url = "file://{payload}"
        sha256 = "{hashlib.sha256(payload.read_bytes()).hexdigest()}"
        """))
    r = kb(world, "check-site")
    assert r.returncode == 0, r.stderr
    assert "source 'local' is a local file pinned by its own content: nothing vouches for it" in r.stderr
    assert "deb source 'kbt' is not in kbuild.lock yet" in r.stderr


def test_doit_locked_variable_refuses_to_move_the_lock(world):
    assert kb(world, "pin", "kbt", "--version", "1.0-1").returncode == 0
    shutil.rmtree(world["site"] / "artifacts/cache")
    world["repo"].remove("1.0-1")
    world["repo"].publish(world["keys"])
    before = (world["site"] / "kbuild.lock").read_text()
    env = {**os.environ, "KBUILD_SITE": str(world["site"] / "kbuild.toml"),
           "PATH": f"{BIN}:{os.environ['PATH']}"}
    env.pop("KBUILD_LOCKED", None)
    r = subprocess.run([str(BIN / "doit"), "-f", str(Path(__file__).parents[2] / "dodo.py"),
                        "-d", str(world["site"]), "locked=1", "fetch:kbt"], capture_output=True, text=True,
                       env=env, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "no longer offered" in out and "versions offered in 1.*: 1.1-1" in out, out
    assert "Traceback" not in out
    assert (world["site"] / "kbuild.lock").read_text() == before
