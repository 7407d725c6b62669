"""The one loader of rule files: kbuild/rules/*.toml (built in) and the user's ``--rules``.

Every file is checked when loaded; all mistakes of all files are reported together
as ``file:line: error: ...`` (:class:`RulesError`). A later rule with the id of an
earlier one replaces it, a later NIC with the same name too. See
:mod:`kbuild.rules.model` for the shapes of rules and docs/verify.md for the format.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

from kbuild.errors import Diagnostic, InputErrors, UserError
from kbuild.rules.model import (
    FACTS,
    MEASURES,
    NIC_DRIVERS,
    SEVERITIES,
    TRISTATE,
    Condition,
    Nic,
    Renamed,
    Rule,
    RuleSet,
)

TYPE_CHECKING = False   # typing is not imported on `kbuild verify`'s path (issue 13)
if TYPE_CHECKING:   # the TOML side is imported only when a rule set is not cached
    from typing import Any

    from kbuild.rules.reader import RuleChecker, RuleLines
    from kbuild.util.toml import KeyPath

RULES_DIR = Path(__file__).resolve().parent       # the built-in *.toml (package data)
SCHEMA = 1

_RULE_KEYS = {"id", "symbol", "any_of", "want", "forbid", "measure", "max", "kernel", "when",
              "severity", "reason", "source", "fix", "module"}
_TOP_KEYS = {"schema", "rule", "nic", "renamed"}


class RulesError(InputErrors):
    """Problems in rule files, all reported together as ``path:line: error: ...``."""


# Table order: the NFS root itself first, the boot entry's own checks last.
_FILE_ORDER = ("nfsroot", "xen", "uml", "efi", "consoles", "entry")


def builtin_files() -> list[Path]:
    # not RULES_DIR.glob("*.toml"): fnmatch compiles a regex for it, on every `kbuild verify`
    files = sorted(RULES_DIR / name for name in os.listdir(RULES_DIR) if name.endswith(".toml"))
    rank = {name: i for i, name in enumerate(_FILE_ORDER)}
    return sorted(files, key=lambda f: (rank.get(f.stem, len(rank)), f.name))


def load_rules(extra: tuple[str | Path, ...] | list[str | Path] = (), builtin: bool = True) -> RuleSet:
    """The built-in rule files (unless ``builtin`` is false) plus ``extra`` ones: a later
    rule with the same id replaces an earlier one, a later NIC with the same name too.
    Cached in process per file (path, mtime, size), and across processes by content
    (:mod:`kbuild.rules.cache`)."""
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
    from kbuild.rules.cache import cached, ruleset_key

    contents: list[tuple[str, str, bytes | OSError]] = []
    for path, _mtime, _size in keys:
        raw: bytes | OSError
        try:
            raw = Path(path).read_bytes()
        except OSError as e:
            raw = e
        contents.append((path, _display(path), raw))
    if any(isinstance(d, OSError) for _p, _s, d in contents):
        return _parse(contents)
    # The path is part of the key: a RuleSet records the files it was read from, so two
    # checkouts with equal rule files must not share an entry.
    key = ruleset_key([(f"{path}\0{shown}", d) for path, shown, d in contents if isinstance(d, bytes)])
    return cached("rules", key, lambda: _parse(contents))


def _parse(contents: list[tuple[str, str, bytes | OSError]]) -> RuleSet:
    """The rule set of the files read (path, shown name, bytes or the error reading them)."""
    from kbuild.rules.reader import RuleChecker, RuleLines
    from kbuild.rules.tables import nic_line, nic_rules, read_nic, read_renamed
    from kbuild.util.toml import load_toml

    diags: list[Diagnostic] = []
    parsed: list[tuple[str, dict[str, Any], RuleLines]] = []
    for _path, shown, raw in contents:
        try:
            if isinstance(raw, OSError):
                raise raw
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            diags.append(Diagnostic(shown, None, "error", f"cannot read rules file: {e}"))
            continue
        try:
            data = load_toml(text, shown, RulesError, "check quotes, brackets and '='")
        except RulesError as e:
            diags.extend(e.diagnostics)
            continue
        parsed.append((shown, data, RuleLines(text)))
    nics: dict[str, Nic] = {}
    generated_rules: dict[str, list[Rule]] = {}
    for shown, data, lines in parsed:
        c = RuleChecker(shown, lines, diags)
        c.known_keys(data, (), _TOP_KEYS)
        schema = data.get("schema", SCHEMA)
        if schema != SCHEMA:
            c.error(("schema",), f"schema = {schema!r}: this kbuild reads schema {SCHEMA}")
        for name, body in (data.get("nic") or {}).items() if isinstance(data.get("nic"), dict) else ():
            nic = read_nic(c, name, body)
            if nic is not None:
                nics[nic.name] = nic
                generated_rules[nic.name] = nic_rules(nic, shown, nic_line(lines.text, name),
                                                      body.get("kernel"), c)
    renamed: dict[str, Renamed] = {}
    for shown, data, lines in parsed:
        c = RuleChecker(shown, lines, diags)
        table = data.get("renamed", {})
        if not isinstance(table, dict):
            c.error(("renamed",), "renamed must be a table of tables: [renamed.NAME]")
            continue
        for name, body in table.items():
            entry = read_renamed(c, name, body)
            if entry is not None:
                renamed[name] = entry
    rules: dict[str, Rule] = {}
    for shown, data, lines in parsed:
        c = RuleChecker(shown, lines, diags)
        entries = data.get("rule", [])
        if not isinstance(entries, list):
            c.error(("rule",), "rule must be an array of tables: [[rule]]")
            continue
        for i, body in enumerate(entries):
            rule = _rule(c, ("rule", i), body, nics)
            if rule is not None:
                rules.pop(rule.id, None)
                rules[rule.id] = rule
    for name, generated in generated_rules.items():
        if name in nics:
            for r in generated:
                rules.setdefault(r.id, r)
    if diags:
        raise RulesError(diags)
    return RuleSet(rules=tuple(rules.values()), nics=nics, files=tuple(c[0] for c in contents),
                   renamed=renamed)


def _display(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return path


def _want(c: RuleChecker, raw: Any, where: KeyPath) -> tuple[str, ...] | None:
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


def _conditions(c: RuleChecker, raw: Any, where: KeyPath,
                nics: dict[str, Nic]) -> tuple[Condition, ...] | None:
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


def _rule(c: RuleChecker, where: KeyPath, body: Any, nics: dict[str, Nic]) -> Rule | None:
    from kbuild.rules.reader import RULE_ID, SYMBOL

    if not c.known_keys(body, where, _RULE_KEYS):
        return None
    rid = c.text(body, "id", where)
    if rid is not None and not RULE_ID.match(rid):
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
    want_of: list[tuple[str, tuple[str, ...]]] = []
    if kind == "symbol":
        sym = body["symbol"]
        if not isinstance(sym, str) or not SYMBOL.match(sym):
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
            name, eq, value = s.partition("=")
            if s == NIC_DRIVERS:
                expanded += [n.symbols[0] for n in nics.values() if "um" not in n.arch]
            elif eq and SYMBOL.match(name) and value in TRISTATE:
                expanded.append(name)
                want_of.append((name, (value,)))
            elif SYMBOL.match(s):
                expanded.append(s)
            else:
                c.error(where + ("any_of",), f"any_of: {s!r} is not a symbol name (nor {NIC_DRIVERS})")
                return None
        symbols = tuple(dict.fromkeys(expanded))
        want = _want(c, body.get("want"), where)
        if want_of and fix is None:
            c.error(where, f"rule {rid or '?'}: an any_of with NAME=value items needs a fix text")
            return None
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
                fix=fix, module=module, path=c.shown, line=c.lines.header(where),
                want_of=tuple(want_of))


