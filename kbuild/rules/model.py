"""Root-over-NFS requirements as data: what a rule, a NIC and a renamed symbol are.

A rule says what a kernel needs to mount its root over NFS, for which kernel
versions (``packaging`` specifiers, :class:`KernelRange`) and under which condition (what the boot
entry or the host asks for). Four shapes, one per rule:

* ``symbol = "NFS_FS"`` with ``want = "y"``: a Kconfig symbol must have one of
  the wanted values (``y``, ``m``, ``n`` joined by ``|``). ``=m`` where only
  ``y`` will do is a failure with its own message: modules live on the root.
* ``any_of = ["IP_PNP_DHCP", ...]``: at least one of them must match ``want``;
  the first is the one a fix proposes, unless the rule has its own ``fix``
  text: then the choice is the user's and ``--fix`` leaves it out.
  ``"@nic-drivers"`` stands for the driver symbol of every NIC in the table.
  An item ``"NAME=v"`` wants its own value (``"MODULES=n"`` beside ``"MODULE_SIG"``);
  such a rule needs its own ``fix`` text.
* ``forbid = true``: the condition alone is the failure (a boot entry mistake
  such as UDP with NFSv4).
* ``measure = "cmdline"`` with ``max = 2048``: a length limit of the kernel.

Conditions (``when``) are a table of facts; every key must match, a list
matches any of its values, ``"!x"`` values match anything but x. The facts a
boot entry and a host yield are listed in :data:`FACTS`.

The NIC table (``[nic.NAME]``) maps a driver name to its symbols; the loader
turns each entry into rules conditioned on ``nic = NAME``.
"""
from __future__ import annotations

import operator
import re

from kbuild.errors import UserError
from kbuild.util.record import field, record
from kbuild.util.versions import KernelRelease

TYPE_CHECKING = False   # neither typing nor packaging on `kbuild verify`'s path (issue 13)
if TYPE_CHECKING:
    from packaging.version import Version

# fact -> allowed values (None: free text, checked elsewhere)
FACTS: dict[str, frozenset[str] | None] = {
    "arch": None,
    "entry": frozenset({"given", "assumed"}),
    "mount": frozenset({"kernel", "initramfs", "none"}),
    "ip": frozenset({"given", "absent"}),
    "autoconf": frozenset({"dhcp", "bootp", "rarp", "both", "any", "static", "off"}),
    "ip_device": frozenset({"given", "none"}),
    "nfsroot": frozenset({"given", "absent"}),
    "nfsroot_form": frozenset({"server-path", "path", "tftpboot-name", "bad-server", "absent"}),
    "nfs_server": frozenset({"nfsroot", "ip", "dhcp", "none"}),
    "nfs_version": frozenset({"2", "3", "4", "4.0", "4.1", "4.2", "default"}),
    "transport": frozenset({"tcp", "udp", "rdma", "default"}),
    "nic": None,
    "nic_class": frozenset({"ethernet", "virtual", "uml", "unknown"}),
    "nic_count": frozenset({"0", "1", "many"}),
    "console": None,
    "dom0": frozenset({"true", "false"}),
    "initrd": frozenset({"true", "false"}),
    "devtmpfs_mount": frozenset({"0", "1", "default"}),
    "nfsrootdebug": frozenset({"true", "false"}),
    "loader": frozenset({"pxelinux", "grub2", "grub-legacy", "ipxe", "uml", "cmdline", "none"}),
    "root_mode": frozenset({"rw", "ro-shared", "overlay"}),
    # profile traits (a UEFI loader; [secure_boot]) or `kbuild verify --trait`
    "efi": frozenset({"true", "false"}),
    "secure_boot": frozenset({"true", "false"}),
    # lockdown= on the command line (security/lockdown/lockdown.c), "none" without it
    "lockdown": frozenset({"none", "integrity", "confidentiality"}),
    # which tree the kernel is built from: Debian's patched linux-source, another one, or
    # not known (docs/verify.md: how verify tells)
    "tree": frozenset({"debian", "upstream", "unknown"}),
}


MEASURES = {
    "cmdline": "bytes of the kernel command line",
    "nfsroot_value": "bytes of the nfsroot= value",
    "nfsroot_device": "bytes of server-ip:path as the kernel builds it",
    "nfsroot_options": "bytes of the NFS mount option string the kernel builds",
    "ip_device": "bytes of the ip= device field",
    "ip_hostname": "bytes of the ip= hostname field",
    "multiboot_cmdlines": "bytes of all multiboot command lines together (iPXE)",
}


SEVERITIES = ("error", "warning")


TRISTATE = ("y", "m", "n")


NIC_DRIVERS = "@nic-drivers"


@record(frozen=True)
class Condition:
    """One fact of a rule's ``when``: the values it matches, or (negated) must not match."""

    fact: str
    values: frozenset[str]
    negated: bool

    def holds(self, facts: dict[str, frozenset[str]]) -> bool:
        have = facts.get(self.fact, frozenset())
        if self.negated:
            return not (have & self.values)
        return bool(have & self.values)

    def __str__(self) -> str:
        vals = "|".join(sorted(self.values))
        return f"{self.fact}{'!=' if self.negated else '='}{vals}"


_COMPARE = {"==": operator.eq, "!=": operator.ne, ">=": operator.ge, "<=": operator.le,
            ">": operator.gt, "<": operator.lt}


def _trimmed(release: tuple[int, ...]) -> tuple[int, ...]:
    """Trailing zeros dropped: packaging compares 6.1 and 6.1.0 as equal."""
    end = len(release)
    while end > 1 and release[end - 1] == 0:
        end -= 1
    return release[:end]


# Compiled on first use (re's cache): a cached rule set is unpickled without __init__, so
# `kbuild verify` need not pay for compiling it.
_CLAUSE = r"(>=|<=|==|!=|>|<)v?([0-9]{1,9}(?:\.[0-9]{1,9}){0,3})(\.\*)?"


class KernelRange:
    """The kernel versions a rule applies to: a ``packaging`` specifier set (the text was
    checked by :class:`packaging.specifiers.SpecifierSet` when the rules were read).
    Clauses of the forms kbuild's rules use (``>=``, ``>``, ``<=``, ``<``, ``==``, ``!=``
    on X.Y[.Z], ``==X.Y.*``) are evaluated here, as packaging evaluates them for release
    versions, so that checking a config never loads packaging (about 6 ms of every
    ``kbuild verify``); any other text is left to packaging."""

    __slots__ = ("text", "_clauses")

    def __init__(self, text: str) -> None:
        self.text = text
        clauses: list[tuple[str, tuple[int, ...], bool]] | None = []
        for part in text.replace(" ", "").split(","):
            if not part:
                continue
            m = re.fullmatch(_CLAUSE, part)
            if m is None or (m.group(3) and m.group(1) not in ("==", "!=")):
                clauses = None
                break
            assert clauses is not None
            want = tuple(int(n) for n in m.group(2).split("."))
            clauses.append((m.group(1), want if m.group(3) else _trimmed(want), bool(m.group(3))))
        self._clauses = clauses

    def contains(self, version: KernelRelease | Version, prereleases: bool = True) -> bool:
        """Does ``version`` (a release: X.Y[.Z]) satisfy every clause?"""
        if self._clauses is None:
            from packaging.specifiers import SpecifierSet
            from packaging.version import Version

            return SpecifierSet(self.text).contains(Version(str(version)), prereleases=True)
        release = tuple(version.release)
        have = _trimmed(release)
        for op, want, prefix in self._clauses:
            if prefix:
                padded = release + (0,) * max(0, len(want) - len(release))
                ok = (padded[:len(want)] == want) == (op == "==")
            else:
                ok = _COMPARE[op](have, want)
            if not ok:
                return False
        return True

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"KernelRange({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KernelRange) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __getstate__(self) -> str:
        return self.text

    def __setstate__(self, text: str) -> None:
        self.__init__(text)  # type: ignore[misc]


@record(frozen=True)
class Rule:
    """One requirement; see the module docstring for the four shapes."""

    id: str
    kind: str                          # "symbol" | "any_of" | "forbid" | "limit"
    symbols: tuple[str, ...] = ()
    want: tuple[str, ...] = ("y",)     # in order of preference
    measure: str | None = None
    limit: int | None = None
    kernel: KernelRange | None = None
    when: tuple[Condition, ...] = ()
    severity: str = "error"
    reason: str = ""
    source: str = ""
    fix: str | None = None
    module: str | None = None
    path: str = ""
    line: int | None = None
    # any_of items "NAME=v": symbol -> its own wanted values (others use ``want``)
    want_of: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def want_text(self) -> str:
        if self.want_of:
            return "|".join(f"{s}={'/'.join(self.want_for(s))}" for s in self.symbols)
        return "|".join(self.want)

    def want_for(self, symbol: str) -> tuple[str, ...]:
        for name, want in self.want_of:
            if name == symbol:
                return want
        return self.want

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path

    def applies_to(self, version: KernelRelease | Version | None) -> bool:
        if self.kernel is None or version is None:
            return True
        return self.kernel.contains(version, prereleases=True)

    def condition_holds(self, facts: dict[str, frozenset[str]]) -> bool:
        return all(c.holds(facts) for c in self.when)


@record(frozen=True)
class Nic:
    """A NIC driver: the name users give (module name) and the symbols it needs."""

    name: str
    symbols: tuple[str, ...]
    nic_class: str
    aliases: tuple[str, ...]
    what: str
    source: str
    arch: tuple[str, ...] = ()


@record(frozen=True)
class Renamed:
    """A symbol a kernel from ``since`` on no longer has; ``use`` replaces it, if anything."""

    name: str
    since: KernelRelease
    what: str
    use: str | None
    source: str
    where: str


@record(frozen=True)
class RuleSet:
    """The loaded rules in table order, the NICs by name, the files they came from and the
    renamed symbols. :meth:`nic` raises UserError for an unknown NIC."""

    rules: tuple[Rule, ...]
    nics: dict[str, Nic]
    files: tuple[str, ...]
    renamed: dict[str, Renamed] = field(default_factory=dict)

    def nic(self, name: str) -> Nic:
        """The NIC entry for a driver, module or QEMU device name."""
        key = normalize_nic(name)
        for nic in self.nics.values():
            if key == nic.name or key in nic.aliases:
                return nic
        raise UserError(f"unknown NIC {name!r}",
                        hint="known NICs: " + ", ".join(sorted(self.nics))
                        + " (add one to kbuild/rules/nics.toml, or pass --rules FILE)")

    def by_id(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


def normalize_nic(name: str) -> str:
    """Module names use '-' and '_' interchangeably (modprobe does the same)."""
    return name.strip().lower().replace("_", "-")
