"""What kbuild keeps in a published tree: ``kbuild-manifest.json`` (the files it owns,
their digests and provenance, and an interrupted publish's ``pending`` section) and
``.kbuild/`` (generations/<N>.json, the manifest's shards and the content store).
Reading, checking and rendering them, and dropping what the kept generations no longer use.

Format 2 (written since issue 13) keeps the files in shards: the manifest itself holds
the generation, its predecessor, the directories kbuild made, ``shard_bits`` and
``shards`` (bucket -> sha256), and ``.kbuild/shards/<sha256>.json`` holds the
``files`` (and ``stamps``) of the relpaths whose CRC-32's top ``shard_bits`` bits are
that bucket. A shard is named by the digest of its bytes, checked on every read, and
shared by every generation that has the same entries; so a publish that changes one
host writes one shard and a small manifest instead of every entry again. Format 1 (the
files inline) is still read; the next publish writes format 2. Either way
:func:`load_manifest` returns the whole document, ``files`` and ``stamps`` included.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kbuild.errors import UserError

MANIFEST_NAME = "kbuild-manifest.json"
STORE_NAME = ".kbuild"
FORMAT = 2
SHARDS = "shards"
SHARD_ENTRIES = 1024            # a shard holds about this many files at most (see shard_bits)
_MAX_SHARD_BITS = 20
_SHA_RE = re.compile(r"[0-9a-f]{64}")
SHARD_FILE_RE = re.compile(r"^[0-9a-f]{64}\.json$")
ROLES = ("payload", "entry")
_MAX_NAME = 255
# Temp names embed a truncated final name so that cleanup only ever deletes temp
# files of names kbuild was writing; the stem is cut to keep the name under NAME_MAX.
TMP_STEM_BYTES = 200
TMP_RE = re.compile(r"^\.(?P<stem>.+)\.kbuild-[0-9a-f]{8}\.tmp$", re.DOTALL)
# Relative paths that pass every check of check_relpath at sight: components that do
# not start with '.' (so not '.', '..', .kbuild or a temp name) and are short.
_PLAIN_PART = r"[A-Za-z0-9_+@=-][A-Za-z0-9._+@=-]{0,62}"
_PLAIN_RELPATH = re.compile(rf"{_PLAIN_PART}(?:/{_PLAIN_PART})*")


def read_manifest(target: Path, cache: ShardCache | None = None) -> Manifest | None:
    """The live manifest of ``target``, or None if nothing was ever published there.

    A manifest with a ``pending`` key describes an interrupted publish (see the
    module docstring for what that promises).
    """
    path = Path(target) / MANIFEST_NAME
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise UserError("is not a regular file; kbuild will not read or replace it", path=path,
                        hint="move it away (kbuild then treats every file in the tree as foreign)")
    return load_manifest(path, cache=cache)


def generations(target: Path) -> list[int]:
    """Numbers of the generations kept in ``target``'s content store, oldest first."""
    gdir = store_dir(Path(target)) / "generations"
    try:
        names = os.listdir(gdir)
    except FileNotFoundError:
        return []
    return sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit())


def check_relpath(rel: object) -> tuple[str, ...]:
    if isinstance(rel, str) and _PLAIN_RELPATH.fullmatch(rel) and rel != MANIFEST_NAME:
        return tuple(rel.split("/"))      # 50,000 host entries: the common case, fast
    return _check_relpath(rel)


def _check_relpath(rel: object) -> tuple[str, ...]:
    def bad(why: str) -> UserError:
        return UserError(f"bad relpath {rel!r}: {why}",
                         hint="use a relative POSIX path like 'pxelinux.cfg/default'")
    if not isinstance(rel, str) or not rel:
        raise bad("it must be a non-empty string")
    if rel.startswith("/"):
        raise bad("it is absolute")
    if "\0" in rel:
        raise bad("it contains a NUL byte")
    parts = tuple(rel.split("/"))
    for part in parts:
        if part in ("", ".", ".."):
            raise bad("empty, '.' and '..' components are not allowed")
        if len(part) > _MAX_NAME // 4 and len(os.fsencode(part)) > _MAX_NAME:
            raise bad(f"component {part[:20]!r}... is longer than {_MAX_NAME} bytes")
        if TMP_RE.match(part):
            raise bad("the name looks like a kbuild temporary file")
    if parts[0] == STORE_NAME or rel == MANIFEST_NAME:
        raise bad(f"{STORE_NAME}/ and {MANIFEST_NAME} are kbuild's own bookkeeping")
    return parts


def store_dir(target: Path) -> Path:
    return target / STORE_NAME


def collect_garbage(target: Path, doc: dict[str, Any], keep: int,
                    known: dict[str, Any] | None = None, cache: ShardCache | None = None) -> None:
    """Keep the live generation and its keep-1 predecessors, and the shards and objects
    they use. ``known``: a generation's document already in memory (the manifest that was
    live), so that 50,000 entries are not parsed again; ``cache``: shards already read."""
    def load(path: Path, generation: int) -> dict[str, Any]:
        if known is not None and known.get("generation") == generation:
            return known
        return load_manifest(path, check_paths=False, cache=cache)

    chain = keep_generations(target, doc, keep, load)
    used: set[str] = set()
    used_shards: set[str] = set()
    for d in chain.values():
        parts = getattr(d, "parts", None)
        if parts is None:
            used.update(e["sha256"] for e in d["files"].values())
            continue
        for digest, files, _stamps in parts.values():
            if digest not in used_shards:       # generations share most shards
                used_shards.add(digest)
                used.update(e["sha256"] for e in files.values())
    objects = store_dir(target) / "objects"
    for name in os.listdir(objects):
        if name not in used:
            (objects / name).unlink(missing_ok=True)
    sweep_shards(target, used_shards)


def keep_generations(target: Path, doc: dict[str, Any], keep: int,
                     load: Callable[[Path, int], dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The live generation ``doc`` and its keep-1 predecessors (each read by ``load``,
    which may raise: then nothing is removed), by number; every other generation's
    document is removed."""
    gdir = store_dir(target) / "generations"
    chain = {doc["generation"]: doc}
    prev = doc.get("previous")
    while type(prev) is int and len(chain) < keep and (gdir / f"{prev}.json").exists():
        pdoc = load(gdir / f"{prev}.json", prev)
        chain[prev] = pdoc
        prev = pdoc.get("previous")
    for g in generations(target):
        if g not in chain:
            (gdir / f"{g}.json").unlink(missing_ok=True)
    return chain


def sweep_shards(target: Path, used: set[str]) -> None:
    """Remove every shard file not in ``used`` (digests)."""
    shards = store_dir(target) / SHARDS
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(shards):
            if SHARD_FILE_RE.match(name) and name[:-5] not in used:
                (shards / name).unlink(missing_ok=True)


_MULTILINE = {"files", "pending", "write", "remove", "stamps"}


def _encoder() -> Any:
    """json.dumps(value, sort_keys=True) as one call of the C encoder, made once: the
    encoder's ``encode`` makes a new C encoder on every call, which for 100,000 small
    entries is most of the time."""
    plain = json.JSONEncoder(sort_keys=True)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return plain.encode
    # no cycle check (markers None): manifest values are plain JSON data kbuild built
    c_encode = make(None, plain.default, json.encoder.encode_basestring_ascii, None,
                    ": ", ", ", True, False, True)

    def encode(value: Any) -> str:
        return "".join(c_encode(value, 0))
    return encode


_ENCODE = _encoder()


def render_manifest(value: Any, depth: int = 0, key: str = "") -> str:
    """JSON with one file per line: readable and diffable, yet encoded by the C encoder."""
    if isinstance(value, dict) and value and (depth == 0 or key in _MULTILINE):
        pad = " " * (depth + 1)
        enc = _ENCODE    # a leaf needs no recursive call (100,000 files: a third of the time)
        items = [f"{pad}{enc(k)}: {render_manifest(v, depth + 1, k) if k in _MULTILINE else enc(v)}"
                 for k, v in sorted(value.items())]
        return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}"
    return _ENCODE(value)


def render_compact(value: Any) -> str:
    """The same JSON document on one line."""
    return _ENCODE(value)


# bucket -> (its files, its stamps), as partition makes them
Buckets = dict[str, tuple[dict[str, Any], "dict[str, Any] | None"]]
# bucket -> (shard digest, its files, its stamps)
Parts = dict[str, tuple[str, dict[str, Any], "dict[str, Any] | None"]]


class Manifest(dict[str, Any]):
    """A manifest as :func:`load_manifest` returns it: the whole document (``files`` and
    ``stamps`` put together from the shards) and, for format 2, ``parts``: bucket ->
    (shard digest, its files, its stamps), so that the next publish re-encodes only the
    shards whose entries changed."""

    parts: Parts | None = None


ShardCache = dict[str, tuple[dict[str, Any], "dict[str, Any] | None"]]


def shard_dir_of(path: Path) -> Path:
    """Where the shards of the manifest at ``path`` are: ``.kbuild/shards`` of its tree
    (``path`` is the live manifest or one of ``.kbuild/generations/``)."""
    path = Path(path)
    if path.parent.name == "generations" and path.parent.parent.name == STORE_NAME:
        return path.parent.parent / SHARDS
    return path.parent / STORE_NAME / SHARDS


def shard_bits(count: int, current: int | None) -> int:
    """Buckets (as bits) for ``count`` files: about SHARD_ENTRIES files a shard, and the
    live manifest's number kept while it is within a factor of two (no reshuffle)."""
    ideal = 0
    while (count >> ideal) > SHARD_ENTRIES and ideal < _MAX_SHARD_BITS:
        ideal += 1
    if current is not None and ideal - 1 <= current <= ideal + 1 and 0 <= current <= _MAX_SHARD_BITS:
        return current
    return ideal


def bucket_key(bucket: int, bits: int) -> str:
    return f"{bucket:0{max(1, (bits + 3) // 4)}x}"


def bucket_of(rel: str, bits: int) -> str:
    """The bucket of one path (partition inlines this for 100,000 paths)."""
    return bucket_key(zlib.crc32(rel.encode()) >> (32 - bits) if bits else 0, bits)


def partition(files: dict[str, Any], stamps: dict[str, Any] | None, bits: int) -> Buckets:
    """``files`` and ``stamps`` split by bucket: key -> (files, stamps)."""
    if bits == 0:
        return {bucket_key(0, 0): (dict(files), None if stamps is None else dict(stamps))} \
            if files else {}
    shift = 32 - bits
    crc = zlib.crc32
    by: dict[int, dict[str, Any]] = {}
    for rel, e in files.items():
        k = crc(rel.encode()) >> shift
        d = by.get(k)
        if d is None:
            d = by[k] = {}
        d[rel] = e
    sby: dict[int, dict[str, Any]] = {k: {} for k in by}
    if stamps is not None:
        for rel, v in stamps.items():
            k = crc(rel.encode()) >> shift
            if k in sby:
                sby[k][rel] = v
    return {bucket_key(k, bits): (d, None if stamps is None else sby[k]) for k, d in by.items()}


def render_shard(files: dict[str, Any], stamps: dict[str, Any] | None) -> bytes:
    value: dict[str, Any] = {"files": files}
    if stamps is not None:
        value["stamps"] = stamps
    return (render_manifest(value) + "\n").encode()


def load_manifest(path: Path, check_paths: bool = True,
                  cache: ShardCache | None = None) -> Manifest:
    """The manifest at ``path`` (format 1 or 2) as one document. ``cache``: shards already
    read (by digest), used instead of reading them again and filled with those read."""
    def bad(why: str) -> UserError:
        return UserError(f"is not a kbuild manifest: {why}", path=path,
                         hint=f"restore it from {STORE_NAME}/generations/<N>.json, or move it "
                         "away (kbuild then treats every file in the tree as foreign)")
    try:
        doc = json.loads(path.read_bytes())
    except ValueError as exc:
        raise bad(f"invalid JSON ({exc})") from None
    except RecursionError:
        raise bad("invalid JSON (nested too deep)") from None
    fmt = doc.get("format") if isinstance(doc, dict) else None
    if fmt not in (1, 2) or type(fmt) is not int:
        if type(fmt) is int and fmt > FORMAT:
            raise UserError(f"is a kbuild manifest of format {fmt}, newer than this kbuild "
                            f"reads (1 and {FORMAT})", path=path,
                            hint="publish with the kbuild that wrote it, or a newer one")
        raise bad(f"no \"format\": 1 or {FORMAT}")
    if not isinstance(doc.get("generation"), int) or not isinstance(doc.get("dirs"), list) \
            or (fmt == 1 and not isinstance(doc.get("files"), dict)):
        raise bad("generation, files or dirs missing")
    pending = doc.get("pending")
    if pending is not None and not (isinstance(pending, dict)
                                    and {"generation", "write", "remove", "dirs"} <= pending.keys()
                                    and all(isinstance(pending[k], (list, dict))
                                            for k in ("write", "remove", "dirs"))):
        raise bad("incomplete pending section")
    doc = Manifest(doc)
    if fmt == 2:
        _join_shards(path, doc, bad, cache)
    if not check_paths:
        return doc
    keys = {"sha256", "size", "mode", "role", "meta"}
    for rel, e in doc["files"].items():
        if not isinstance(e, dict) or not keys <= e.keys():
            raise bad(f"incomplete entry for {rel!r}")
    # kbuild deletes what the manifest lists: a tampered path must not reach outside.
    for rel in [*doc["files"], *(pending or {}).get("write", ()), *(pending or {}).get("remove", ()),
                *doc["dirs"], *(pending or {}).get("dirs", ())]:
        try:
            check_relpath(rel)
        except UserError as exc:
            raise bad(exc.message) from None
    return doc


def _join_shards(path: Path, doc: Manifest, bad: Any, cache: ShardCache | None) -> None:
    """Put ``files`` and ``stamps`` of a format 2 manifest together from its shards."""
    shards, bits = doc.get("shards"), doc.get("shard_bits")
    if "files" in doc or "stamps" in doc:
        raise bad("format 2 keeps files and stamps in shards, not in the manifest")
    if not isinstance(shards, dict) or type(bits) is not int or not 0 <= bits <= _MAX_SHARD_BITS:
        raise bad("shards or shard_bits missing")
    sdir = shard_dir_of(path)
    files: dict[str, Any] = {}
    stamps: dict[str, Any] | None = None
    parts: Parts = {}
    count = 0
    for key, digest in shards.items():
        if not isinstance(digest, str) or not _SHA_RE.fullmatch(digest) \
                or not re.fullmatch(r"[0-9a-f]{1,5}", key):
            raise bad(f"bad shard entry {key!r}: {str(digest)[:70]!r}")
        got = cache.get(digest) if cache is not None else None
        if got is None:
            got = _read_shard(sdir / f"{digest}.json", digest, bad)
            if cache is not None:
                cache[digest] = got
        files.update(got[0])
        count += len(got[0])
        if got[1] is not None:
            stamps = {} if stamps is None else stamps
            stamps.update(got[1])
        parts[key] = (digest, got[0], got[1])
    if count != len(files):
        raise bad("a file is listed in two shards")
    doc["files"] = files
    if stamps is not None:
        doc["stamps"] = stamps
    doc.parts = parts


def _read_shard(spath: Path, digest: str, bad: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    def lost(why: str) -> UserError:
        # every generation with these entries shares this one file: no other copy of it
        return UserError(f"manifest shard {why}", path=spath,
                         hint="restore it from a backup; or copy an older "
                         f"{STORE_NAME}/generations/<N>.json whose shards are all there over "
                         f"{MANIFEST_NAME} (the next publish compares every file by content and "
                         "rewrites what differs); or publish into an empty directory")
    try:
        raw = spath.read_bytes()
    except FileNotFoundError:
        raise lost("is missing") from None
    if hashlib.sha256(raw).hexdigest() != digest:
        raise lost("does not match its digest (damaged or edited)")
    try:
        sdoc = json.loads(raw)
    except (ValueError, RecursionError):
        raise bad(f"its shard {spath} is not valid JSON") from None
    if not isinstance(sdoc, dict) or not isinstance(sdoc.get("files"), dict) \
            or not isinstance(sdoc.get("stamps", {}), dict):
        raise bad(f"its shard {spath} has no files")
    return sdoc["files"], sdoc.get("stamps")


def stamp(st: os.stat_result) -> str:
    """What identifies one version of a file without reading it: device, inode, size,
    modification and change times (any write changes the change time; nobody can set it)."""
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def trusted_stamps(live: dict[str, Any] | None) -> dict[str, str]:
    """The live manifest's stamps, when they may stand in for reading the files: none
    while a publish is pending (a file may be torn), none when malformed."""
    if not live or live.get("pending") is not None:
        return {}
    stamps = live.get("stamps")
    if not isinstance(stamps, dict):
        return {}
    return {k: v for k, v in stamps.items() if isinstance(k, str) and isinstance(v, str)}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def expected_image_digest(doc: dict[str, Any], profile: str) -> str | None:
    """The ``image_sha256`` a manifest's files record for ``profile`` (the image as make
    built it, before signing), or None when it records none."""
    for e in doc["files"].values():
        meta = e.get("meta") if isinstance(e, dict) else None
        if isinstance(meta, dict) and meta.get("profile") == profile and meta.get("image_sha256"):
            return str(meta["image_sha256"])
    return None
