"""Root-over-NFS requirements as data: the one loader of ``kbuild/rules/*.toml``.

A rule says what a kernel needs to mount its root over NFS, for which kernel
versions (``packaging`` specifiers) and under which condition (what the boot
entry or the host asks for). Four shapes, one per rule:

* ``symbol = "NFS_FS"`` with ``want = "y"``: a Kconfig symbol must have one of
  the wanted values (``y``, ``m``, ``n`` joined by ``|``). ``=m`` where only
  ``y`` will do is a failure with its own message: modules live on the root.
* ``any_of = ["IP_PNP_DHCP", ...]``: at least one of them must match ``want``;
  the first is the one a fix proposes, unless the rule has its own ``fix``
  text: then the choice is the user's and ``--fix`` leaves it out.
  ``"@nic-drivers"`` stands for the driver symbol of every NIC in the table.
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

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from kbuild.errors import Diagnostic, InputErrors, UserError
from kbuild.util.toml import KeyPath, LazyKeyLines, TomlChecker, load_toml
from kbuild.util.versions import parse_kernel_version

RULES_DIR = Path(__file__).resolve().parent
SCHEMA = 1

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

_ID = re.compile(r"^[a-z0-9][a-z0-9:._-]*$")
_SYMBOL = re.compile(r"^[A-Za-z0-9_]+$")
_NIC = re.compile(r"^[a-z0-9][a-z0-9-]*$")

_RULE_KEYS = {"id", "symbol", "any_of", "want", "forbid", "measure", "max", "kernel", "when",
              "severity", "reason", "source", "fix", "module"}
_NIC_KEYS = {"symbols", "class", "aliases", "what", "source", "kernel", "arch"}
_RENAMED_KEYS = {"since", "what", "use", "source"}
_TOP_KEYS = {"schema", "rule", "nic", "renamed"}
_NIC_CLASSES = ("ethernet", "virtual", "uml")


class RulesError(InputErrors):
    """Problems in rule files, all reported together as ``path:line: error: ...``."""


@dataclass(frozen=True)
class Condition:
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


@dataclass(frozen=True)
class Rule:
    """One requirement; see the module docstring for the four shapes."""

    id: str
    kind: str                          # "symbol" | "any_of" | "forbid" | "limit"
    symbols: tuple[str, ...] = ()
    want: tuple[str, ...] = ("y",)     # in order of preference
    measure: str | None = None
    limit: int | None = None
    kernel: SpecifierSet | None = None
    when: tuple[Condition, ...] = ()
    severity: str = "error"
    reason: str = ""
    source: str = ""
    fix: str | None = None
    module: str | None = None
    path: str = ""
    line: int | None = None

    @property
    def want_text(self) -> str:
        return "|".join(self.want)

    @property
    def kernel_text(self) -> str:
        return str(self.kernel) if self.kernel is not None else ""

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path

    def applies_to(self, version: Version | None) -> bool:
        if self.kernel is None or version is None:
            return True
        return self.kernel.contains(version, prereleases=True)

    def condition_holds(self, facts: dict[str, frozenset[str]]) -> bool:
        return all(c.holds(facts) for c in self.when)


@dataclass(frozen=True)
class Nic:
    """A NIC driver: the name users give (module name) and the symbols it needs."""

    name: str
    symbols: tuple[str, ...]
    nic_class: str
    aliases: tuple[str, ...]
    what: str
    source: str
    arch: tuple[str, ...] = ()


@dataclass(frozen=True)
class Renamed:
    """A symbol a kernel from ``since`` on no longer has; ``use`` replaces it, if anything."""

    name: str
    since: Version
    what: str
    use: str | None
    source: str
    where: str


@dataclass(frozen=True)
class RuleSet:
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


# ---------------------------------------------------------------------------
# Loading


# Table order: the NFS root itself first, the boot entry's own checks last.
_FILE_ORDER = ("nfsroot", "xen", "uml", "consoles", "entry")


def builtin_files() -> list[Path]:
    files = sorted(RULES_DIR.glob("*.toml"))
    rank = {name: i for i, name in enumerate(_FILE_ORDER)}
    return sorted(files, key=lambda f: (rank.get(f.stem, len(rank)), f.name))


def load_rules(extra: tuple[str | Path, ...] | list[str | Path] = (), builtin: bool = True) -> RuleSet:
    """The built-in rule files (unless ``builtin`` is false) plus ``extra`` ones: a later
    rule with the same id replaces an earlier one, a later NIC with the same name too.
    Cached per file (path, mtime, size)."""
    files = [*(builtin_files() if builtin else []), *(Path(p) for p in extra)]
    if not files:
        raise UserError("no rule files", hint="pass --rules FILE")
    keys = []
    for f in files:
        try:
            st = f.stat()
        except FileNotFoundError:
            raise UserError("no such rules file", path=f, hint="check the --rules path") from None
        except OSError as e:
            raise UserError(f"cannot read rules file: {e.strerror}", path=f) from None
        keys.append((str(f), st.st_mtime_ns, st.st_size))
    return _load_cached(tuple(keys))


@functools.lru_cache(maxsize=8)
def _load_cached(keys: tuple[tuple[str, int, int], ...]) -> RuleSet:
    diags: list[Diagnostic] = []
    parsed: list[tuple[str, dict[str, Any], _RuleLines]] = []
    for path, _mtime, _size in keys:
        shown = _display(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            diags.append(Diagnostic(shown, None, "error", f"cannot read rules file: {e}"))
            continue
        try:
            data = load_toml(text, shown, RulesError, "check quotes, brackets and '='")
        except RulesError as e:
            diags.extend(e.diagnostics)
            continue
        parsed.append((shown, data, _RuleLines(text)))
    nics: dict[str, Nic] = {}
    nic_rules: dict[str, list[Rule]] = {}
    for shown, data, lines in parsed:
        c = _Checker(shown, lines, diags)
        c.known_keys(data, (), _TOP_KEYS)
        schema = data.get("schema", SCHEMA)
        if schema != SCHEMA:
            c.error(("schema",), f"schema = {schema!r}: this kbuild reads schema {SCHEMA}")
        for name, body in (data.get("nic") or {}).items() if isinstance(data.get("nic"), dict) else ():
            nic = _nic(c, name, body)
            if nic is not None:
                nics[nic.name] = nic
                nic_rules[nic.name] = _nic_rules(nic, shown, _nic_line(lines.text, name),
                                                 body.get("kernel"), c)
    renamed: dict[str, Renamed] = {}
    for shown, data, lines in parsed:
        c = _Checker(shown, lines, diags)
        table = data.get("renamed", {})
        if not isinstance(table, dict):
            c.error(("renamed",), "renamed must be a table of tables: [renamed.NAME]")
            continue
        for name, body in table.items():
            entry = _renamed(c, name, body)
            if entry is not None:
                renamed[name] = entry
    rules: dict[str, Rule] = {}
    for shown, data, lines in parsed:
        c = _Checker(shown, lines, diags)
        entries = data.get("rule", [])
        if not isinstance(entries, list):
            c.error(("rule",), "rule must be an array of tables: [[rule]]")
            continue
        for i, body in enumerate(entries):
            rule = _rule(c, ("rule", i), body, nics)
            if rule is not None:
                rules.pop(rule.id, None)
                rules[rule.id] = rule
    for name, generated in nic_rules.items():
        if name in nics:
            for r in generated:
                rules.setdefault(r.id, r)
    if diags:
        raise RulesError(diags)
    return RuleSet(rules=tuple(rules.values()), nics=nics, files=tuple(k[0] for k in keys),
                   renamed=renamed)


def _display(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return path


_RULE_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*rule[ \t]*\]\]", re.M)


class _RuleLines(LazyKeyLines):
    """Line numbers for rule files: the [[rule]] headers found by one regex pass; the
    full key scanner only when there is an error to report."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._rules = [text.count("\n", 0, m.start()) + 1 for m in _RULE_HEADER.finditer(text)]

    def header(self, where: KeyPath) -> int | None:
        if len(where) == 2 and where[0] == "rule" and isinstance(where[1], int):
            return self._rules[where[1]] if where[1] < len(self._rules) else None
        return self.line(where)


class _Checker(TomlChecker):
    """The TOML checker, naming the tables of a rule file as it writes them."""

    lines: _RuleLines

    def label(self, where: KeyPath) -> str:
        if not where:
            return "a rules file"
        if len(where) == 2 and where[0] == "rule":
            return "[[rule]]"
        return super().label(where)

    def text(self, data: dict[str, Any], key: str, where: KeyPath, required: bool = True) -> str | None:
        return self.string(data, key, where, required=required, nonempty=True)

    def kernel(self, data: dict[str, Any], where: KeyPath) -> SpecifierSet | None:
        raw = data.get("kernel")
        if raw is None:
            return None
        if not isinstance(raw, str):
            self.error(where + ("kernel",), "kernel must be a string of version specifiers")
            return None
        try:
            return SpecifierSet(raw)
        except InvalidSpecifier:
            self.error(where + ("kernel",), f"kernel = {raw!r} is not a version specifier",
                       'write e.g. ">=3.2" or ">=4.17,<6.16"')
            return None


def _want(c: _Checker, raw: Any, where: KeyPath) -> tuple[str, ...] | None:
    if raw is None:
        return ("y",)
    if not isinstance(raw, str):
        c.error(where + ("want",), "want must be a string such as \"y\" or \"y|m\"")
        return None
    parts = tuple(p.strip() for p in raw.split("|"))
    if not parts or any(p not in TRISTATE for p in parts) or len(set(parts)) != len(parts):
        c.error(where + ("want",), f"want = {raw!r}: use y, m, n or several joined by '|'")
        return None
    return parts


def _conditions(c: _Checker, raw: Any, where: KeyPath, nics: dict[str, Nic]) -> tuple[Condition, ...] | None:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        c.error(where + ("when",), "when must be a table of facts, e.g. when = { autoconf = \"dhcp\" }")
        return None
    out = []
    for fact, value in raw.items():
        w = where + ("when",)
        if fact not in FACTS:
            c.error(w, f"unknown fact {fact!r} in when", "facts: " + ", ".join(sorted(FACTS)))
            continue
        values = value if isinstance(value, list) else [value]
        strs = []
        for v in values:
            if isinstance(v, bool):
                strs.append("true" if v else "false")
            elif isinstance(v, str) and v:
                strs.append(v)
            else:
                c.error(w, f"{fact}: values must be strings or booleans")
                strs = []
                break
        if not strs:
            continue
        negs = [s.startswith("!") for s in strs]
        if any(negs) and not all(negs):
            c.error(w, f"{fact}: mix of negated ('!x') and plain values", "use one kind per fact")
            continue
        plain = frozenset(s[1:] if s.startswith("!") else s for s in strs)
        allowed = FACTS[fact]
        if fact == "nic":
            allowed = frozenset(nics) | {"none"}
        if allowed is not None:
            bad = sorted(plain - allowed)
            if bad:
                c.error(w, f"{fact}: unknown value(s) {', '.join(bad)}",
                        "allowed: " + ", ".join(sorted(allowed)))
                continue
        out.append(Condition(fact, plain, all(negs)))
    return tuple(out)


def _rule(c: _Checker, where: KeyPath, body: Any, nics: dict[str, Nic]) -> Rule | None:
    if not c.known_keys(body, where, _RULE_KEYS):
        return None
    rid = c.text(body, "id", where)
    if rid is not None and not _ID.match(rid):
        c.error(where + ("id",), f"id {rid!r}: use lower-case letters, digits, ':', '.', '_', '-'")
        rid = None
    shapes = [k for k in ("symbol", "any_of", "forbid", "measure") if k in body]
    if len(shapes) != 1:
        c.error(where, f"rule {rid or '?'}: give exactly one of symbol, any_of, forbid, measure"
                + (f" (found {', '.join(shapes)})" if shapes else ""))
        return None
    kind = {"symbol": "symbol", "any_of": "any_of", "forbid": "forbid", "measure": "limit"}[shapes[0]]
    reason = c.text(body, "reason", where)
    source = c.text(body, "source", where)
    severity = body.get("severity", "error")
    if severity not in SEVERITIES:
        c.error(where + ("severity",), f"severity = {severity!r}: use error or warning")
    kernel = c.kernel(body, where)
    when = _conditions(c, body.get("when"), where, nics)
    fix = c.text(body, "fix", where, required=kind in ("forbid", "limit"))
    module = c.text(body, "module", where, required=False)
    symbols: tuple[str, ...] = ()
    want: tuple[str, ...] | None = ("y",)
    measure = None
    limit = None
    if kind == "symbol":
        sym = body["symbol"]
        if not isinstance(sym, str) or not _SYMBOL.match(sym):
            c.error(where + ("symbol",), f"symbol {sym!r}: a Kconfig name without CONFIG_")
            return None
        symbols = (sym,)
        want = _want(c, body.get("want"), where)
    elif kind == "any_of":
        raw = body["any_of"]
        if not isinstance(raw, list) or not raw or not all(isinstance(s, str) for s in raw):
            c.error(where + ("any_of",), "any_of must be a non-empty list of symbol names")
            return None
        expanded: list[str] = []
        for s in raw:
            if s == NIC_DRIVERS:
                expanded += [n.symbols[0] for n in nics.values() if "um" not in n.arch]
            elif _SYMBOL.match(s):
                expanded.append(s)
            else:
                c.error(where + ("any_of",), f"any_of: {s!r} is not a symbol name (nor {NIC_DRIVERS})")
                return None
        symbols = tuple(dict.fromkeys(expanded))
        want = _want(c, body.get("want"), where)
    elif kind == "forbid":
        if body["forbid"] is not True:
            c.error(where + ("forbid",), "forbid must be true (the condition itself is the failure)")
            return None
        if not body.get("when"):
            c.error(where, f"rule {rid or '?'}: forbid needs a when condition")
            return None
        if "want" in body:
            c.error(where + ("want",), "forbid rules have no want")
    else:
        measure = body["measure"]
        if measure not in MEASURES:
            c.error(where + ("measure",), f"unknown measure {measure!r}",
                    "measures: " + ", ".join(sorted(MEASURES)))
            return None
        limit = body.get("max")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            c.error(where + ("max",) if "max" in body else where,
                    "a measure rule needs max = <positive integer>")
            return None
    if None in (rid, reason, source, want, when) or severity not in SEVERITIES:
        return None
    if "kernel" in body and kernel is None:
        return None
    assert rid is not None and reason is not None and source is not None
    assert want is not None and when is not None
    return Rule(id=rid, kind=kind, symbols=symbols, want=want, measure=measure, limit=limit,
                kernel=kernel, when=when, severity=severity, reason=reason, source=source,
                fix=fix, module=module, path=c.shown, line=c.lines.header(where))


def _renamed(c: _Checker, name: str, body: Any) -> Renamed | None:
    where: KeyPath = ("renamed", name)
    if not _SYMBOL.match(name):
        c.error(where, f"[renamed.{name}]: not a Kconfig symbol name")
        return None
    if not c.known_keys(body, where, _RENAMED_KEYS):
        return None
    since_raw = c.text(body, "since", where)
    since = parse_kernel_version(since_raw) if since_raw else None
    if since_raw and since is None:
        c.error(where + ("since",), f"since = {since_raw!r} is not a kernel version X.Y[.Z]")
    what = c.text(body, "what", where)
    source = c.text(body, "source", where)
    use = c.text(body, "use", where, required=False)
    if use is not None and not _SYMBOL.match(use):
        c.error(where + ("use",), f"use = {use!r}: not a Kconfig symbol name")
        return None
    if since is None or what is None or source is None:
        return None
    return Renamed(name, since, what, use, source, f"{c.shown}:{c.lines.line(where)}")


def _nic_line(text: str, name: str) -> int | None:
    m = re.search(rf"^[ \t]*\[[ \t]*nic\.(\"?){re.escape(name)}\1[ \t]*\]", text, re.M)
    return text.count("\n", 0, m.start()) + 1 if m else None


def _nic(c: _Checker, name: str, body: Any) -> Nic | None:
    where: KeyPath = ("nic", name)
    if not _NIC.match(name):
        c.error(where, f"NIC name {name!r}: lower-case module name with '-' (not '_')")
        return None
    if not c.known_keys(body, where, _NIC_KEYS):
        return None
    symbols = body.get("symbols")
    if (not isinstance(symbols, list) or not symbols
            or not all(isinstance(s, str) and _SYMBOL.match(s) for s in symbols)):
        c.error(where + ("symbols",), "symbols must be a non-empty list of Kconfig names")
        return None
    nic_class = body.get("class", "ethernet")
    if nic_class not in _NIC_CLASSES:
        c.error(where + ("class",), f"class = {nic_class!r}: use one of {', '.join(_NIC_CLASSES)}")
        return None
    aliases = body.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        c.error(where + ("aliases",), "aliases must be a list of strings")
        return None
    arch = body.get("arch", [])
    if isinstance(arch, str):
        arch = [arch]
    if not isinstance(arch, list) or not all(isinstance(a, str) for a in arch):
        c.error(where + ("arch",), "arch must be a string or a list of strings")
        return None
    what = c.text(body, "what", where)
    source = c.text(body, "source", where)
    c.kernel(body, where)
    if what is None or source is None:
        return None
    return Nic(name=name, symbols=tuple(symbols), nic_class=nic_class,
               aliases=tuple(normalize_nic(a) for a in aliases), what=what, source=source,
               arch=tuple(arch))


def _nic_rules(nic: Nic, path: str, line: int | None, kernel_raw: Any, c: _Checker) -> list[Rule]:
    kernel = None
    if isinstance(kernel_raw, str):
        try:
            kernel = SpecifierSet(kernel_raw)
        except InvalidSpecifier:
            kernel = None  # already reported by _nic
    when: list[Condition] = [Condition("nic", frozenset({nic.name}), False)]
    if nic.arch:
        when.append(Condition("arch", frozenset(nic.arch), False))
    out = []
    for i, sym in enumerate(nic.symbols):
        first = i == 0
        out.append(Rule(
            id=f"nic:{nic.name}" if first else f"nic:{nic.name}:{sym.lower()}",
            kind="symbol", symbols=(sym,), want=("y",), kernel=kernel, when=tuple(when),
            reason=(f"{nic.what}: the boot NIC's driver must be built in, IP autoconfiguration "
                    "and the NFS mount run before any module can be loaded") if first else
                   f"{nic.name} needs {sym} built in to reach its device",
            source=nic.source,
            module=f"{sym}=m: the {nic.name} driver would be a module on the NFS root it has to reach",
            path=path, line=line))
    return out
