"""Versions: of Linux kernels, and of Debian packages.

Kernel versions come as ``6.1.192``, ``6.1.0-13-amd64`` (uname -r) or ``v5.10``;
``packaging.version.Version`` rejects most of them, so :func:`parse_kernel_version`
takes the X.Y[.Z] in front (the one parser for patch series, rules and verify).

A deb source accepts a range of *upstream* versions (``6.1.*``); candidates are
ordered the way ``dpkg --compare-versions`` orders them, so "the latest" means
what apt means by it.
"""
from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from kbuild.errors import UserError

TYPE_CHECKING = False   # neither typing nor packaging on `kbuild verify`'s path (issue 13)
if TYPE_CHECKING:
    from packaging.version import Version

# ASCII digits only (``\d`` would take "٦" and "²"), at most 9 of them per part, and
# not followed by another digit: a part too long is no version, never a huge int.
_KERNEL = re.compile(r"^\s*v?([0-9]{1,9})\.([0-9]{1,9})(?![0-9])(?:\.([0-9]{1,9})(?![0-9]))?")
MAX_DIGITS = 9


def is_number(text: str | None, max_digits: int = MAX_DIGITS) -> bool:
    """True for 1..max_digits ASCII digits (the one check before int() of user input)."""
    return (text is not None and 0 < len(text) <= max_digits and text.isascii()
            and text.isdigit())


def parse_number(text: str | None, max_digits: int = MAX_DIGITS) -> int | None:
    """The value of 1..max_digits ASCII digits; None for anything else."""
    return int(text) if text is not None and is_number(text, max_digits) else None


def parse_kernel_version(text: str | None) -> Version | None:
    """X.Y[.Z] from '6.1.192', '6.1.0-13-amd64', 'v5.10'; None when there is none."""
    from packaging.version import Version

    m = _KERNEL.match(text) if text else None
    if not m:
        return None
    return Version(".".join(g for g in m.groups() if g is not None))


class KernelRelease(tuple[int, ...]):
    """X.Y[.Z] as numbers, compared as ``packaging`` compares these versions (6.1 == 6.1.0),
    for the code that must not load ``packaging`` (kbuild verify); also compares with a
    ``packaging`` Version. ``str()`` is the version as packaging writes it."""

    def _key(self) -> tuple[int, ...]:
        end = len(self)
        while end > 1 and self[end - 1] == 0:
            end -= 1
        return tuple(self[:end])

    @property
    def release(self) -> tuple[int, ...]:
        return tuple(self)

    def __str__(self) -> str:
        return ".".join(str(n) for n in self)

    def __repr__(self) -> str:
        return f"KernelRelease('{self}')"

    def __hash__(self) -> int:
        return hash(self._key())

    def __eq__(self, other: object) -> bool:
        o = _release_key(other)
        return NotImplemented if o is None else self._key() == o

    def __ne__(self, other: object) -> bool:
        o = _release_key(other)
        return NotImplemented if o is None else self._key() != o

    def __lt__(self, other: object) -> bool:
        o = _release_key(other)
        return NotImplemented if o is None else self._key() < o

    def __le__(self, other: object) -> bool:
        o = _release_key(other)
        return NotImplemented if o is None else self._key() <= o

    def __gt__(self, other: object) -> bool:
        o = _release_key(other)
        return NotImplemented if o is None else self._key() > o

    def __ge__(self, other: object) -> bool:
        o = _release_key(other)
        return NotImplemented if o is None else self._key() >= o


def _release_key(other: object) -> tuple[int, ...] | None:
    if type(other) is KernelRelease:
        return other._key()
    release = getattr(other, "release", other)
    if not isinstance(release, tuple) or not all(isinstance(n, int) for n in release):
        return None
    key = tuple(release)
    while len(key) > 1 and key[-1] == 0:
        key = key[:-1]
    return key


def kernel_release(text: str | None) -> KernelRelease | None:
    """Like :func:`parse_kernel_version`, as a :class:`KernelRelease` (no ``packaging``)."""
    m = _KERNEL.match(text) if text else None
    if not m:
        return None
    return KernelRelease(int(g) for g in m.groups() if g is not None)


def kernel_version(text: str) -> Version:
    """Like :func:`parse_kernel_version`; a text without a version is a UserError."""
    version = parse_kernel_version(text)
    if version is None:
        raise UserError(f"cannot read a kernel version from {text!r}")
    return version


def read_kernel_version(srctree: Path) -> str:
    """VERSION.PATCHLEVEL.SUBLEVEL+EXTRAVERSION of a source tree, from its top Makefile."""
    makefile = srctree / "Makefile"
    try:
        text = makefile.read_text(errors="replace")[:4096]
    except OSError as e:
        raise UserError(f"not a kernel source tree ({e.strerror})", path=makefile) from None
    fields = {}
    for key in ("VERSION", "PATCHLEVEL", "SUBLEVEL", "EXTRAVERSION"):
        m = re.search(rf"^{key}\s*=\s*(\S*)\s*$", text, re.M)
        fields[key] = m.group(1) if m else ""
    if not fields["VERSION"]:
        raise UserError("no VERSION line: not a kernel source tree", path=makefile)
    ver = fields["VERSION"]
    if fields["PATCHLEVEL"]:
        ver += "." + fields["PATCHLEVEL"]
        if fields["SUBLEVEL"]:
            ver += "." + fields["SUBLEVEL"]
    return ver + fields["EXTRAVERSION"]


# --- Debian package versions ------------------------------------------------------------


# epoch:upstream-revision; upstream starts with a digit; only these characters.
# (compiled on first use: `kbuild verify` never reads a Debian version)
_VERSION = r"(?:(\d{1,9}):)?([0-9][A-Za-z0-9.+~:-]*?)(?:-([A-Za-z0-9.+~]+))?\Z"


class BadVersion(ValueError):
    """Not a Debian version."""


def split(version: str) -> tuple[int, str, str]:
    """(epoch, upstream, revision) of a Debian version; BadVersion if it is not one."""
    if not version.isascii() or len(version) > 200:
        raise BadVersion(f"{version[:60]!r} is not a Debian version")
    m = re.fullmatch(_VERSION, version)
    if not m:
        raise BadVersion(f"{version!r} is not a Debian version")
    epoch, upstream, revision = m.group(1), m.group(2), m.group(3) or ""
    if ":" in upstream and epoch is None:
        raise BadVersion(f"{version!r}: a ':' needs an epoch")
    return int(epoch or 0), upstream, revision


def upstream(version: str) -> str:
    """The upstream part: ``6.1.192-3`` -> ``6.1.192``; ``1:4.17.7+13-g24-0+deb12u1`` -> ``4.17.7+13-g24``."""
    return split(version)[1]


def _order(c: str) -> int:
    if c == "~":
        return -1
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _compare_part(a: str, b: str) -> int:
    """dpkg's comparison of one upstream or revision string."""
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) and not a[i].isdigit() else 0
            bc = _order(b[j]) if j < len(b) and not b[j].isdigit() else 0
            if ac != bc:
                return -1 if ac < bc else 1
            if i < len(a) and not a[i].isdigit():
                i += 1
            if j < len(b) and not b[j].isdigit():
                j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = (a[i] > b[j]) - (a[i] < b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as dpkg --compare-versions orders ``a`` and ``b``."""
    ea, ua, ra = split(a)
    eb, ub, rb = split(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _compare_part(ua, ub) or _compare_part(ra, rb)


def in_range(version: str, pattern: str) -> bool:
    """Does the upstream part of ``version`` match the glob ``pattern`` (``6.1.*``)?"""
    return fnmatch.fnmatchcase(upstream(version), pattern)
