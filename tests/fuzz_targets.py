"""The parsers under fuzzing, each as ``target(data: bytes, workdir: Path) -> str``:
the input goes through the same functions the `kbuild` command (or publish, rollback
and explain-boot) calls. A target returns "accepted" or "refused" (a kbuild
UserError), raises :class:`GarbageAccepted` when the input is garbage by the
definition in docs/verify.md yet was accepted, and lets any other exception through
(that is a crash: a bug). Shared by tests/test_fuzz.py and bench/fuzz_campaign.py.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from kbuild.boot.entry import entry_from_cmdline
from kbuild.boot.read import read_entry
from kbuild.errors import UserError
from kbuild.kconfig.configfile import read_config, read_values
from kbuild.publish.manifest import load_manifest
from kbuild.site.load import load_site
from kbuild.source.patches import load_series
from kbuild.util.versions import parse_kernel_version


class GarbageAccepted(AssertionError):
    """An input that docs/verify.md calls garbage was accepted."""


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")
_LINE_OK = re.compile(r"CONFIG_[A-Za-z0-9_]+=\S.*")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")


def _refused(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "accepted", fn()
    except UserError as e:
        assert e.path or e.message, "a UserError names its input"
        return "refused", None


def config(data: bytes, workdir: Path) -> str:
    """A .config (read for checking, as `kbuild verify` does) and a fragment."""
    path = workdir / "fuzz.config"
    path.write_bytes(data)
    status, cfg = _refused(lambda: read_values(path))
    if status == "refused":
        return status
    parse_kernel_version(cfg.header_version)
    frag = read_config(path)
    flagged = {d.line for d in frag.diagnostics} | {d.line for d in cfg.diagnostics}
    text = data.decode("utf-8", "replace")
    for lineno, line in enumerate(text.split("\n"), 1):
        stripped = line.strip(" \t\r\v\f")
        if stripped and not stripped.startswith("#") and not _LINE_OK.fullmatch(stripped) \
                and lineno not in flagged:
            raise GarbageAccepted(f"line {lineno} {stripped[:60]!r} has no diagnostic")
    return status


def entry(data: bytes, workdir: Path) -> str:
    """A boot entry file (`kbuild verify --entry`)."""
    path = workdir / "fuzz.entry"
    path.write_bytes(data)
    status, spec = _refused(lambda: read_entry(path))
    if status == "accepted" and spec.format == "cmdline":
        text = data.decode("utf-8", "replace").replace("\r\n", "\n")
        if any(_CONTROL.search(ln.rstrip("\r")) for ln in text.split("\n")):
            raise GarbageAccepted("a command line with control bytes was accepted")
    return status


def cmdline(data: bytes, workdir: Path) -> str:
    """`kbuild verify --cmdline ARGS` (argv bytes arrive surrogate-escaped)."""
    text = os.fsdecode(data)
    status, _ = _refused(lambda: entry_from_cmdline(text, "--cmdline"))
    if status == "accepted" and _CONTROL.search(text):
        raise GarbageAccepted("a command line with control bytes was accepted")
    return status


def site(data: bytes, workdir: Path) -> str:
    """kbuild.toml (`kbuild check-site`, every command that reads the site)."""
    path = workdir / "kbuild.toml"
    path.write_bytes(data)
    status, s = _refused(lambda: load_site(path))
    if status == "accepted":
        root = path.parent.resolve()
        if not (s.sources or s.profiles or s.hosts):
            pass  # a site holding only [site]/[nfs]/[apt] settings: not empty
        for src in s.sources.values():
            if src.url and not _HEX64.fullmatch(src.sha256):
                raise GarbageAccepted(f"source {src.name!r} with sha256 {src.sha256!r}")
        for h in s.hosts:
            if not _NAME.fullmatch(h.name) or (h.mac and not _MAC.fullmatch(h.mac)):
                raise GarbageAccepted(f"host {h.name!r} / {h.mac!r}")
        for p in s.profiles.values():
            if not p.nfsroot.path or not p.nfsroot.server:
                raise GarbageAccepted(f"profile {p.name!r}: empty nfsroot path or server")
        if not s.artifacts.is_relative_to(root) or s.artifacts == root or s.tftp_root == root:
            raise GarbageAccepted(f"artifacts {s.artifacts} / tftp_root {s.tftp_root}")
    _changed_tables(data.decode("utf-8", "replace"))
    return status


_PLAIN_SITE = "[site]\nkeep_generations = 2\n" + "".join(
    f'\n[[hosts]]\nname = "h{i}"\nip = "10.0.0.{i}"\n' for i in range(3))


def _changed_tables(text: str) -> None:
    """The hosts' short path compares the site text with the one it kept (as it was
    published): any text against a plain one, both ways, must cut both into the same
    outer tables and the region between (or decline), never crash."""
    from kbuild.publish import hoststate

    for old, new in ((_PLAIN_SITE, text), (text, _PLAIN_SITE)):
        got = hoststate.changed_tables(old, new)
        split_old, split_new = hoststate.split_site(old), hoststate.split_site(new)
        if got is None or split_old is None or split_new is None \
                or hoststate._plain_tables(old) is None:
            continue
        t_old, t_new = split_old[1], split_new[1]
        after = len(t_old) - got.first - len(got.old)
        if (got.count_old != len(t_old) or t_old[got.first:got.first + len(got.old)] != got.old
                or t_new[:got.first] != t_old[:got.first]
                or t_new[got.first:got.first + len(got.new)] != got.new
                or t_new[got.first + len(got.new):] != t_old[len(t_old) - after:]):
            raise GarbageAccepted(f"changed_tables cut {old[:60]!r} / {new[:60]!r} wrongly")


def manifest(data: bytes, workdir: Path) -> str:
    """The publish manifest rollback and explain-boot read back: the bytes as the manifest
    itself, then as the one shard a format 2 manifest names (by the bytes' digest)."""
    path = workdir / "manifest.json"
    path.write_bytes(data)
    status, doc = _refused(lambda: load_manifest(path))
    _check_manifest(status, doc)
    shards = workdir / ".kbuild" / "shards"
    shards.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()
    (shards / f"{digest}.json").write_bytes(data)
    path.write_text(json.dumps({"format": 2, "generation": 1, "dirs": [], "shard_bits": 0,
                                "shards": {"0": digest}}))
    shard_status, doc = _refused(lambda: load_manifest(path))
    _check_manifest(shard_status, doc)
    return "accepted" if "accepted" in (status, shard_status) else "refused"


def _check_manifest(status: str, doc: Any) -> None:
    if status == "accepted":
        pending = doc.get("pending") or {}
        for rel in [*doc["files"], *doc["dirs"], *pending.get("write", ()),
                    *pending.get("remove", ()), *pending.get("dirs", ())]:
            if not isinstance(rel, str) or rel.startswith("/") or ".." in rel.split("/"):
                raise GarbageAccepted(f"manifest path {rel!r} accepted")


def series(data: bytes, workdir: Path) -> str:
    """A patch series file (patches/<set>/series)."""
    directory = workdir / "patches" / "s"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "a.patch").touch()
    (directory / "series").write_bytes(data)
    fake: Any = SimpleNamespace(root=workdir, patches_dir=workdir / "patches")
    status, s = _refused(lambda: load_series(fake, "s"))
    if status == "accepted":
        for e in s.patches:
            if not (directory / e.file).is_file():
                raise GarbageAccepted(f"series names missing patch {e.file!r}")
    return status


def version(data: bytes, workdir: Path) -> str:
    """A kernel version (config headers, --kernel-version, series ranges, Makefiles)."""
    v = parse_kernel_version(data.decode("utf-8", "replace"))
    if v is not None and not all(0 <= p < 10**9 for p in v.release):
        raise GarbageAccepted(f"version {v}")
    return "accepted" if v is not None else "refused"


TARGETS: dict[str, Callable[[bytes, Path], str]] = {
    "config": config, "entry": entry, "cmdline": cmdline, "site": site,
    "manifest": manifest, "series": series, "version": version,
}
