"""The [nic.NAME] and [renamed.NAME] tables of rule files.

A NIC entry maps a driver (module) name to the symbols it needs; each becomes rules
conditioned on ``nic = NAME``. A renamed entry records a symbol a kernel version no
longer has (and what replaced it): verify warns about it, fragment errors hint at it.
"""
from __future__ import annotations

import re
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from kbuild.rules.model import Condition, KernelRange, Nic, Renamed, Rule, normalize_nic
from kbuild.rules.reader import SYMBOL, RuleChecker
from kbuild.util.toml import KeyPath
from kbuild.util.versions import kernel_release

_NIC = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_NIC_KEYS = {"symbols", "class", "aliases", "what", "source", "kernel", "arch"}
_RENAMED_KEYS = {"since", "what", "use", "source"}
_NIC_CLASSES = ("ethernet", "virtual", "uml")


def _entry(c: RuleChecker, table: str, name: str, body: Any, pattern: re.Pattern[str], bad_name: str,
           allowed: set[str]) -> KeyPath | None:
    """The key path of ``[TABLE.NAME]`` when its name matches and it has only allowed keys."""
    where: KeyPath = (table, name)
    if not pattern.match(name):
        c.error(where, bad_name)
        return None
    return where if c.known_keys(body, where, allowed) else None


def read_renamed(c: RuleChecker, name: str, body: Any) -> Renamed | None:
    where = _entry(c, "renamed", name, body, SYMBOL, f"[renamed.{name}]: not a Kconfig symbol name",
                   _RENAMED_KEYS)
    if where is None:
        return None
    since_raw = c.text(body, "since", where)
    since = kernel_release(since_raw) if since_raw else None
    if since_raw and since is None:
        c.error(where + ("since",), f"since = {since_raw!r} is not a kernel version X.Y[.Z]")
    what = c.text(body, "what", where)
    source = c.text(body, "source", where)
    use = c.text(body, "use", where, required=False)
    if use is not None and not SYMBOL.match(use):
        c.error(where + ("use",), f"use = {use!r}: not a Kconfig symbol name")
        return None
    if since is None or what is None or source is None:
        return None
    return Renamed(name, since, what, use, source, f"{c.shown}:{c.lines.line(where)}")


def nic_line(text: str, name: str) -> int | None:
    m = re.search(rf"^[ \t]*\[[ \t]*nic\.(\"?){re.escape(name)}\1[ \t]*\]", text, re.M)
    return text.count("\n", 0, m.start()) + 1 if m else None


def read_nic(c: RuleChecker, name: str, body: Any) -> Nic | None:
    where = _entry(c, "nic", name, body, _NIC, f"NIC name {name!r}: lower-case module name with '-' "
                   "(not '_')", _NIC_KEYS)
    if where is None:
        return None
    symbols = body.get("symbols")
    if (not isinstance(symbols, list) or not symbols
            or not all(isinstance(s, str) and SYMBOL.match(s) for s in symbols)):
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


def nic_rules(nic: Nic, path: str, line: int | None, kernel_raw: Any, c: RuleChecker) -> list[Rule]:
    kernel = None
    if isinstance(kernel_raw, str):
        try:
            SpecifierSet(kernel_raw)
            kernel = KernelRange(kernel_raw)
        except InvalidSpecifier:
            kernel = None  # already reported by read_nic
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
