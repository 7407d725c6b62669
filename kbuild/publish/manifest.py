"""What kbuild keeps in a published tree: ``kbuild-manifest.json`` (the files it owns,
their digests and provenance, and an interrupted publish's ``pending`` section) and
``.kbuild/`` (generations/<N>.json and the content store). Reading, checking and
rendering them, and dropping what the kept generations no longer use.
"""
from __future__ import annotations

import json
import os
import re
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kbuild.errors import UserError

MANIFEST_NAME = "kbuild-manifest.json"
STORE_NAME = ".kbuild"
FORMAT = 1
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


def read_manifest(target: Path) -> dict[str, Any] | None:
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
    return load_manifest(path)


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
                    known: dict[str, Any] | None = None) -> None:
    """Keep the live generation and its keep-1 predecessors, and the objects they use.
    ``known``: a generation's document already in memory (the manifest that was live),
    so that 50,000 entries are not parsed again."""
    gdir = store_dir(target) / "generations"
    chain = {doc["generation"]: doc}
    prev = doc.get("previous")
    while prev is not None and len(chain) < keep and (gdir / f"{prev}.json").exists():
        if known is not None and known.get("generation") == prev:
            pdoc = known
        else:
            pdoc = load_manifest(gdir / f"{prev}.json", check_paths=False)
        chain[prev] = pdoc
        prev = pdoc.get("previous")
    for g in generations(target):
        if g not in chain:
            (gdir / f"{g}.json").unlink(missing_ok=True)
    used = {e["sha256"] for d in chain.values() for e in d["files"].values()}
    objects = store_dir(target) / "objects"
    for name in os.listdir(objects):
        if name not in used:
            (objects / name).unlink(missing_ok=True)


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


def load_manifest(path: Path, check_paths: bool = True) -> dict[str, Any]:
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
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise bad(f"no \"format\": {FORMAT}")
    if not isinstance(doc.get("generation"), int) or not isinstance(doc.get("files"), dict) \
            or not isinstance(doc.get("dirs"), list):
        raise bad("generation, files or dirs missing")
    pending = doc.get("pending")
    if pending is not None and not (isinstance(pending, dict)
                                    and {"generation", "write", "remove", "dirs"} <= pending.keys()
                                    and all(isinstance(pending[k], (list, dict))
                                            for k in ("write", "remove", "dirs"))):
        raise bad("incomplete pending section")
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
