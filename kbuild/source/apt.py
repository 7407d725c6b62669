"""kbuild's own apt state: resolve and download packages from signed Debian indexes.

kbuild never uses the host's apt configuration to resolve a ``deb`` source. It keeps
a private apt state under ``artifacts/apt/<digest>/``: a sources list written from the
site's ``[apt]`` table (each repository with its ``signed-by`` keyring), an empty dpkg
status, and no configuration from ``/etc/apt`` at all (``APT_CONFIG`` points at
kbuild's file, which redirects every ``Dir::Etc`` entry). So the host's sources, pins,
proxies or stale lists neither help nor hurt, and no root and no installed package
are needed.

Trust is Debian's: ``apt-get update`` accepts an index only when its InRelease is
signed by a key of the repository's keyring (``--error-on=any``: a repository that
fails to update is an error, not a warning), and ``apt-get download`` accepts a .deb
only when its hash matches that index. kbuild checks the .deb's sha256 again itself,
against the index record and the lock.

As root, apt drops privileges to ``_apt`` for downloads; its download directory is
therefore a fresh directory in the system temp dir owned by ``_apt`` (the checkout
may be in a directory ``_apt`` cannot enter), and the verified file is moved from
there.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pwd
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from kbuild.errors import InfraError, UserError
from kbuild.site.model import AptConfig
from kbuild.util import versions as debversion
from kbuild.util.files import atomic_write_text, exclusive_lock, sha256_file

Progress = Callable[[str], None]
CHUNK = 1 << 20


@dataclass(frozen=True)
class Candidate:
    """One version of a package as a signed index describes it."""

    package: str
    version: str
    architecture: str
    filename: str           # path in the archive: pool/main/l/linux-6.1/...deb
    size: int
    sha256: str

    @property
    def upstream(self) -> str:
        return debversion.upstream(self.version)


class AptState:
    """A private apt state directory and the commands run against it."""

    def __init__(self, config: AptConfig, root: Path) -> None:
        self.config = config
        self.dir = Path(root) / config.digest()
        self._fresh = False

    # -- set-up --------------------------------------------------------------

    def _prepare(self) -> Path:
        d = self.dir
        for sub in ("etc/apt.conf.d", "etc/sources.list.d", "etc/preferences.d", "etc/trusted.gpg.d",
                    "state/lists/partial", "cache/archives/partial"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        status = d / "state/status"
        if not status.exists():
            status.write_text("")
        atomic_write_text(d / "sources.list", "\n".join(self.config.sources_list()) + "\n")
        conf = {
            "Dir::Etc::Main": "/dev/null",
            "Dir::Etc::Parts": d / "etc/apt.conf.d",
            "Dir::Etc::SourceList": d / "sources.list",
            "Dir::Etc::SourceParts": d / "etc/sources.list.d",
            "Dir::Etc::Preferences": "/dev/null",
            "Dir::Etc::PreferencesParts": d / "etc/preferences.d",
            "Dir::Etc::Trusted": "/dev/null",
            "Dir::Etc::TrustedParts": d / "etc/trusted.gpg.d",
            "Dir::State": d / "state",
            "Dir::State::status": status,
            "Dir::Cache": d / "cache",
            "APT::Architecture": self.config.architecture,
            "APT::Architectures": self.config.architecture,
            "Acquire::Languages": "none",
            "Acquire::AllowInsecureRepositories": "false",
            "Acquire::AllowDowngradeToInsecureRepositories": "false",
            "Acquire::Retries": "2",
        }
        text = "".join(f'{k} "{v}";\n' for k, v in conf.items())
        conf_file = d / "apt.conf"
        atomic_write_text(conf_file, "// written by kbuild: its private apt state\n" + text)
        return conf_file

    def _env(self, conf_file: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("APT_")}
        env.update({"APT_CONFIG": str(conf_file), "LC_ALL": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"})
        return env

    def _run(self, args: list[str], what: str, cwd: Path | None = None,
             timeout: float = 900) -> subprocess.CompletedProcess[str]:
        conf = self._prepare()
        if shutil.which(args[0]) is None:
            raise InfraError(f"{args[0]} not found", hint="install apt (Debian's package tools)")
        try:
            return subprocess.run(args, env=self._env(conf), cwd=cwd, capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise InfraError(f"{what} timed out after {timeout:.0f} s") from None

    # -- index ---------------------------------------------------------------

    def refresh(self) -> None:
        """Fetch the signed indexes (once per process): never resolve against a stale list."""
        if self._fresh:
            return
        with exclusive_lock(self._lockfile(), "apt index update"):
            r = self._run(["apt-get", "-q", "--error-on=any", "update"], "apt-get update")
        if r.returncode != 0:
            detail = _apt_errors(r.stdout + r.stderr)
            raise InfraError(f"cannot update kbuild's package index: {detail}",
                             hint=_index_hint(detail))
        self._fresh = True

    def _lockfile(self) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        return self.dir / ".lock"

    def candidates(self, package: str) -> list[Candidate]:
        """Every version of ``package`` the signed indexes offer, newest first."""
        self.refresh()
        r = self._run(["apt-cache", "show", package], "apt-cache show")
        if r.returncode != 0 or not r.stdout.strip():
            return []
        seen: dict[tuple[str, str], Candidate] = {}
        for rec in _records(r.stdout):
            if rec.get("Package") != package:
                continue
            try:
                c = Candidate(package, rec["Version"], rec.get("Architecture", ""), rec["Filename"],
                              int(rec["Size"]), rec["SHA256"].lower())
                debversion.split(c.version)
            except (KeyError, ValueError):
                continue  # a record without what kbuild needs cannot be verified: ignore it
            seen.setdefault((c.version, c.sha256), c)
        def newest_first(a: Candidate, b: Candidate) -> int:
            return debversion.compare(b.version, a.version)

        return sorted(seen.values(), key=functools.cmp_to_key(newest_first))

    # -- download ------------------------------------------------------------

    def download(self, cand: Candidate, dest_dir: Path, progress: Progress | None = None) -> Path:
        """Download exactly ``cand`` (package=version) and check its sha256; returns the .deb."""
        dest_dir.mkdir(parents=True, exist_ok=True)
        name = PurePosixPath(cand.filename).name
        final = dest_dir / name
        if final.is_file() and sha256_file(final) == cand.sha256:
            return final
        if progress:
            progress(f"fetch {cand.package} {cand.version} ({cand.size / 1e6:.1f} MB) from the signed index")
        with _download_dir() as tmp:
            started = time.monotonic()
            r = self._run(["apt-get", "-q", "download", f"{cand.package}={cand.version}"],
                          "apt-get download", cwd=tmp)
            if r.returncode != 0:
                detail = _apt_errors(r.stdout + r.stderr)
                if "hash sum mismatch" in detail.lower():
                    raise UserError(f"{cand.package} {cand.version}: the .deb served does not match the "
                                    f"signed index (apt: Hash Sum mismatch)",
                                    hint="the mirror serves a tampered or corrupted file; nothing was kept. "
                                         "Try again later or use another mirror")
                raise InfraError(f"apt-get download {cand.package}={cand.version} failed: {detail}",
                                 hint="check the network and the [apt] repositories in kbuild.toml")
            debs = list(tmp.glob("*.deb"))
            if len(debs) != 1:
                raise InfraError(f"apt-get download {cand.package}={cand.version} left "
                                 f"{len(debs)} .deb files, expected one")
            got = sha256_file(debs[0])
            if got != cand.sha256:
                raise UserError(f"{debs[0].name}: sha256 {got} does not match the signed index "
                                f"({cand.sha256})", hint="the download was tampered with or corrupted; "
                                "nothing was kept")
            part = dest_dir / (name + ".part")
            shutil.copyfile(debs[0], part)
            os.replace(part, final)
            if progress:
                progress(f"fetch {name}: {cand.size / 1e6:.1f} MB in {time.monotonic() - started:.1f} s")
        return final


@contextlib.contextmanager
def _download_dir() -> Iterator[Path]:
    """A directory apt's download sandbox (user _apt when run as root) can write."""
    tmp = Path(tempfile.mkdtemp(prefix="kbuild-apt-"))
    try:
        if os.geteuid() == 0:
            with contextlib.suppress(KeyError, OSError):
                os.chown(tmp, pwd.getpwnam("_apt").pw_uid, -1)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _records(text: str) -> Iterator[dict[str, str]]:
    """deb822 paragraphs (only single-line fields are needed here)."""
    for para in text.split("\n\n"):
        rec: dict[str, str] = {}
        for line in para.splitlines():
            if line[:1] in (" ", "\t") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            rec[key.strip()] = value.strip()
        if rec:
            yield rec


def _apt_errors(text: str) -> str:
    errs = [ln[3:].strip() for ln in text.splitlines() if ln.startswith(("E: ", "W: "))]
    errs = [e for e in errs if "unsandboxed" not in e]
    return "; ".join(errs[:4]) or (text.strip().splitlines() or ["no output"])[-1]


def _index_hint(detail: str) -> str:
    if "NO_PUBKEY" in detail or "signed" in detail or "signature" in detail.lower():
        return ("the index is not signed by a key in the repository's keyring: check keyring in "
                "[apt] of kbuild.toml (Debian: /usr/share/keyrings/debian-archive-keyring.gpg)")
    return "check the network and the [apt] repositories (uri, suites) in kbuild.toml"


# ---------------------------------------------------------------------------
# Taking a file out of a .deb


def extract_member(deb: Path, member: str | None, dest: Path) -> tuple[str, str]:
    """Stream one regular file out of ``deb`` (``dpkg-deb --fsys-tarfile``) into ``dest``.

    ``member`` is a path inside the package (``boot/xen-4.17-amd64.gz``); None picks the
    single kernel tarball. Returns (member, sha256). ``dest`` appears only when complete.
    """
    if shutil.which("dpkg-deb") is None:
        raise InfraError("dpkg-deb not found", hint="install dpkg")
    want = member.lstrip("/") if member else None
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.parent / (dest.name + ".part")
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None
    found: tuple[str, str] | None = None
    names: list[str] = []
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for m in tar:
                name = m.name.removeprefix("./")
                names.append(name)
                hit = name == want if want else _kernel_tarball(name)
                if not hit:
                    continue
                if not m.isfile():
                    raise UserError(f"{name} in {deb.name} is not a regular file", path=deb)
                f = tar.extractfile(m)
                assert f is not None
                h = hashlib.sha256()
                with open(part, "wb") as out:
                    while block := f.read(CHUNK):
                        h.update(block)
                        out.write(block)
                found = (name, h.hexdigest())
                break
    except tarfile.TarError as e:
        raise UserError(f"{deb.name} is not a valid package: {e}", path=deb) from None
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        code = proc.wait()
    if found is None:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
        if code != 0:
            raise UserError(f"dpkg-deb cannot read {deb.name}: {err.strip()}", path=deb)
        what = repr(member) if member else "a kernel tarball (usr/src/linux-source-*.tar.*)"
        shown = ", ".join(n for n in names if n and not n.endswith("/"))[:300]
        raise UserError(f"{deb.name} has no {what}", path=deb,
                        hint=f"set path = \"...\" in the source to one of its files: {shown}")
    os.replace(part, dest)
    return found


def _kernel_tarball(name: str) -> bool:
    p = PurePosixPath(name)
    return p.parent == PurePosixPath("usr/src") and p.name.startswith("linux-source-") and ".tar" in p.name
