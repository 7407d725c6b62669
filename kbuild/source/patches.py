"""Patch series: quilt-style lists of patches, each optionally gated to kernel versions.

``patches/<set>/series`` holds one patch per line, ``#`` starts a comment, and
an optional ``packaging`` specifier set after the file name limits the patch to
kernel versions (``uml-xstate.patch  >=4.19,<6.3``). A patched tree lives
beside the pristine one, keyed by (source digest, series digest), so profiles
naming the same series share it. Each patch is tried with ``--dry-run`` before
it is applied; a failure names the patch, the file and the hunk, and leaves the
pristine tree untouched (patching happens in a private copy that only becomes
the patched tree when every patch applied).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from kbuild.errors import InfraError, UserError
from kbuild.site import layout
from kbuild.site.model import Site, Source
from kbuild.util.files import (
    atomic_write_text,
    read_input,
    remove_stale_siblings,
    sha256_text,
    temp_sibling,
)
from kbuild.util.progress import Progress
from kbuild.util.versions import kernel_version, read_kernel_version


@dataclass(frozen=True)
class SeriesEntry:
    """One line of a series file: the patch, its kernel version range, its line."""

    file: str
    spec: SpecifierSet | None
    line: int

    def applies_to(self, version: Version) -> bool:
        return self.spec is None or self.spec.contains(version, prereleases=True)


@dataclass(frozen=True)
class Series:
    """A patch series (patches/<name>/series) and its patches, in order."""

    name: str
    directory: Path
    patches: tuple[SeriesEntry, ...]

    @property
    def series_file(self) -> Path:
        return self.directory / "series"

    def files(self) -> list[Path]:
        return [self.series_file] + [self.directory / e.file for e in self.patches]

    def digest(self) -> str:
        parts = [self.series_file.read_text()]
        for e in self.patches:
            parts.append(e.file)
            parts.append((self.directory / e.file).read_text(errors="replace"))
        return sha256_text("\0".join(parts))

    def applicable(self, kernelversion: str) -> tuple[list[SeriesEntry], list[SeriesEntry]]:
        v = kernel_version(kernelversion)
        used = [e for e in self.patches if e.applies_to(v)]
        skipped = [e for e in self.patches if not e.applies_to(v)]
        return used, skipped


def load_series(site: Site, name: str) -> Series:
    directory = site.patches_dir / name
    path = directory / "series"
    shown = path.relative_to(site.root) if path.is_relative_to(site.root) else path
    data = read_input(path, str(shown), "a patch series",
                      f"create {shown} listing the patches, one per line")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"not UTF-8 text: {e}", path=shown) from None
    entries: list[SeriesEntry] = []
    seen: set[str] = set()
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 1)
        file = parts[0]
        spec = None
        if len(parts) > 1:
            try:
                spec = SpecifierSet(parts[1].replace(" ", ""))
            except InvalidSpecifier:
                raise UserError(f"invalid version range {parts[1]!r} for {file}", path=shown,
                                line=lineno, hint="use packaging specifiers, e.g. >=5.10,<6.3") from None
        if "/" in file or file.startswith(".") or len(file.encode()) > 250 \
                or any(ord(ch) < 32 for ch in file):
            raise UserError(f"patch name {file[:70]!r} must be a file in {directory.name}/ "
                            "(a name of at most 250 bytes)", path=shown,
                            line=lineno)
        if not (directory / file).is_file():
            raise UserError(f"patch {file} is listed but does not exist", path=shown, line=lineno,
                            hint=f"add {directory.relative_to(site.root) / file} or remove the line")
        if file in seen:
            raise UserError(f"patch {file} is listed twice", path=shown, line=lineno)
        seen.add(file)
        entries.append(SeriesEntry(file, spec, lineno))
    return Series(name, directory, tuple(entries))


def patched_tree_path(site: Site, src: Source, series_name: str) -> Path:
    series = load_series(site, series_name)
    base = layout.pristine_tree(site, src)
    return base.parent / f"{base.name}-p{series.digest()[:12]}"


def touched_files(patch_text: str) -> list[str]:
    """Files a -p1 unified diff modifies or creates (``+++ b/path`` lines)."""
    out = []
    for line in patch_text.splitlines():
        if line.startswith("+++ "):
            name = line[4:].split("\t", 1)[0].strip()
            if name == "/dev/null":
                continue
            parts = name.split("/", 1)
            if len(parts) == 2:
                out.append(parts[1])
    for line in patch_text.splitlines():
        if line.startswith("--- ") and "/dev/null" not in line:
            name = line[4:].split("\t", 1)[0].strip()
            parts = name.split("/", 1)
            if len(parts) == 2 and parts[1] not in out:
                out.append(parts[1])
    return out


@dataclass
class PatchReport:
    """A patched tree, the patches applied and skipped (out of range), and the kernel
    version."""

    tree: Path
    applied: list[str]
    skipped: list[str]
    kernelversion: str


def _patch_failure(patch: str, output: str) -> str:
    """Name the file and hunk GNU patch could not apply."""
    current = None
    failures = []
    already = False
    for line in output.splitlines():
        m = re.match(r"^(?:checking|patching) file '?([^']+?)'?$", line.strip())
        if m:
            current = m.group(1)
            continue
        m = re.match(r"^Hunk #(\d+) FAILED at (\d+)", line.strip())
        if m:
            failures.append(f"{current}: hunk #{m.group(1)} (at line {m.group(2)})")
        if "Reversed (or previously applied) patch detected" in line:
            already = True
        m = re.match(r"^can't find file to patch at input line (\d+)", line.strip())
        if m:
            failures.append(f"a file that does not exist in the tree (patch line {m.group(1)})")
    if already:
        return (f"patch {patch} is already applied (or reversed) in this tree"
                + (f": {', '.join(failures)}" if failures else ""))
    if failures:
        return f"patch {patch} does not apply: " + "; ".join(failures)
    return f"patch {patch} does not apply: {output.strip()[-400:]}"


def apply_series(site: Site, src: Source, pristine: Path, series_name: str,
                 progress: Progress | None = None) -> PatchReport:
    series = load_series(site, series_name)
    dest = patched_tree_path(site, src, series_name)
    stamp = layout.tree_stamp(dest)
    kver = read_kernel_version(pristine)
    used, skipped = series.applicable(kver)
    if stamp.is_file():
        return PatchReport(dest, [e.file for e in used], [e.file for e in skipped], kver)
    if shutil.which("patch") is None:
        raise InfraError("GNU patch not found", hint="install the Debian package patch (scripts/setup)")
    tmp = temp_sibling(dest, "patch")
    shutil.rmtree(tmp, ignore_errors=True)
    remove_stale_siblings(dest, "patch")
    try:
        # A hard-linked copy is cheap; files a patch touches get their own inode
        # first, so the pristine tree never changes.
        r = subprocess.run(["cp", "-al", str(pristine.resolve()), str(tmp)], capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise InfraError(f"cannot copy {pristine}: {r.stderr.strip()}")
        layout.tree_stamp(tmp).unlink(missing_ok=True)
        for i, entry in enumerate(used, 1):
            if progress:
                progress(f"patch {series_name}: {i}/{len(used)} {entry.file}")
            patch_path = series.directory / entry.file
            text = patch_path.read_text(errors="replace")
            for rel in touched_files(text):
                f = tmp / rel
                if f.is_file() and not f.is_symlink():
                    data = f.read_bytes()
                    mode = f.stat().st_mode
                    f.unlink()
                    f.write_bytes(data)
                    os.chmod(f, mode)
            argv = ["patch", "-p1", "--batch", "--forward", "--no-backup-if-mismatch",
                    "-d", str(tmp), "-i", str(patch_path)]
            dry = subprocess.run(argv + ["--dry-run"], capture_output=True, text=True)
            if dry.returncode != 0:
                raise UserError(_patch_failure(entry.file, dry.stdout + dry.stderr),
                                path=series.series_file.relative_to(site.root), line=entry.line,
                                hint="refresh the patch against this kernel, or narrow its version range")
            real = subprocess.run(argv, capture_output=True, text=True)
            if real.returncode != 0:  # pragma: no cover - the dry run said it applies
                raise UserError(_patch_failure(entry.file, real.stdout + real.stderr),
                                path=series.series_file.relative_to(site.root), line=entry.line)
        atomic_write_text(layout.tree_stamp(tmp), json.dumps({
            "source": src.name, "sha256": src.sha256, "series": series_name,
            "series_sha256": series.digest(), "kernelversion": kver,
            "applied": [e.file for e in used], "skipped": [e.file for e in skipped],
        }, indent=2) + "\n")
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return PatchReport(dest, [e.file for e in used], [e.file for e in skipped], kver)
