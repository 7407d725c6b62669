"""Will this kernel mount its root over NFS on that machine? Check a .config.

:func:`verify_config` reads any kernel configuration (a full ``.config``, a
distro's, a savedefconfig or fragment, gzip/xz compressed too), works out the
facts of the boot entry it will be booted with (``ip=``, ``nfsroot=``,
console, NICs, Xen dom0, UML) and evaluates the rules of
:mod:`kbuild.rules` that apply to that kernel version. With a source tree it
resolves the config as ``make olddefconfig`` would, explains every failure
with the blocking Kconfig dependency chain, and can search a fix fragment
that is verified by resolving it again. The library returns a
:class:`VerifyReport`; :mod:`kbuild.verify_output` renders it (re-exported
here: :func:`render_table`, :func:`render_summary`, :func:`failed_error`,
:func:`report_json`); nothing here prints.
"""
from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbuild.boot.cmdline import nfsroot_device_bytes, nfsroot_option_bytes, parse_ip, parse_nfsroot
from kbuild.boot.entry import BootSpec, entry_from_cmdline
from kbuild.errors import InputErrors, UserError
from kbuild.kconfig.configfile import ConfigValues, read_values
from kbuild.rules.load import load_rules
from kbuild.rules.model import Nic, Rule, RuleSet
from kbuild.util.versions import parse_kernel_version, read_kernel_version
from kbuild.verify.render import (  # noqa: F401 - the renderers are part of this API
    assignment,
    error_json,
    failed_error,
    render_summary,
    render_table,
    report_json,
)

# The version kbuild is developed and tested against; used, and said, when nothing tells.
DEFAULT_KERNEL = "6.1"
# kbuild's own boot entries look like this; checked when no entry is given.
ASSUMED_CMDLINE = "root=/dev/nfs ip=dhcp"
_MAX_INPUT_ERRORS = 20

_ARCH_BY_HEADER = {"x86_64": "x86_64", "amd64": "x86_64", "i386": "i386", "um": "um",
                   "arm64": "arm64", "arm": "arm", "riscv": "riscv", "powerpc": "powerpc",
                   "s390": "s390", "mips": "mips", "loongarch": "loongarch"}
_NFS_ROOT_DEVICES = ("/dev/nfs", "ff", "00ff", "0xff", "0:255")
_UML_VECTOR = re.compile(r"^vec\d+:")
_UML_TUNTAP = re.compile(r"^eth\d+=tuntap\b")


class BadConfigError(InputErrors):
    """A config file with malformed lines: every one is reported (``path:line:``)."""

    max_shown = _MAX_INPUT_ERRORS
    more_what = "more malformed line(s)"


@dataclass
class Check:
    """One rule evaluated against one config and boot entry."""

    rule: str
    kind: str                      # symbol | any_of | forbid | limit | stale
    subject: str                   # what the table's first column shows
    symbols: list[str]
    wanted: str
    found: str
    verdict: str                   # pass | fail | warn | unknown
    severity: str                  # error | warning
    reason: str
    source: str
    fix: str | None
    rule_where: str
    values: dict[str, str] = field(default_factory=dict)       # symbol -> value found
    lines: dict[str, int] = field(default_factory=dict)        # symbol -> config line
    file_values: dict[str, str] = field(default_factory=dict)  # the file's value, if resolving changed it
    explanation: list[str] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)
    fixable: bool = True

    @property
    def failed(self) -> bool:
        return self.verdict == "fail" or (self.verdict == "unknown" and self.severity == "error")


@dataclass
class EntryInfo:
    source: str                    # "assumed", "--cmdline", "profile NAME", "FILE:LINE"
    format: str
    cmdline: str
    label: str | None = None
    initrd: bool = False
    hypervisor: str | None = None
    assumed: bool = False


@dataclass
class FixInfo:
    path: str | None
    assignments: dict[str, str]
    why: dict[str, str]
    verified: bool
    remaining: list[str]
    left_out: list[str]            # failed checks a config fragment cannot fix
    resolutions: int


@dataclass
class VerifyReport:
    config: str
    kernel_version: str
    version_source: str            # option | header | srctree | assumed
    arch: str
    arch_source: str               # option | profile | config | header | assumed
    complete: bool                 # a full .config (not savedefconfig/fragment)
    resolved: bool                 # values resolved against a source tree
    line_count: int
    assignment_count: int
    entry: EntryInfo
    facts: dict[str, list[str]]
    checks: list[Check]
    rules_applied: int
    rules_total: int
    notes: list[str] = field(default_factory=list)
    srctree: str | None = None
    profile: str | None = None
    fix: FixInfo | None = None

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.failed]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def count(self, verdict: str) -> int:
        return sum(1 for c in self.checks if c.verdict == verdict)


# ---------------------------------------------------------------------------
# Facts of a boot entry


@dataclass
class EntryFacts:
    facts: dict[str, frozenset[str]]
    measures: dict[str, int]
    notes: list[str]


def entry_facts(spec: BootSpec, *, arch: str, nics: Sequence[Nic], rules: RuleSet,
                dom0: bool, assumed: bool) -> EntryFacts:
    """The facts rule conditions test, and the lengths limit rules measure."""
    cmd = spec.cmdline
    facts: dict[str, set[str]] = {"arch": {arch}, "entry": {"assumed" if assumed else "given"},
                                  "dom0": {"true" if dom0 else "false"},
                                  "initrd": {"true" if spec.initrd else "false"},
                                  "loader": {"none" if assumed else spec.format}}
    measures: dict[str, int] = {}
    notes = list(spec.notes)
    if not assumed:
        measures["cmdline"] = spec.cmdline_bytes
    if spec.multiboot_bytes is not None:
        measures["multiboot_cmdlines"] = spec.multiboot_bytes

    root = cmd.get("root")
    nfsroot_raw = cmd.get("nfsroot")
    if spec.initrd and not cmd.has("noinitrd"):
        mount = "initramfs"
    elif root is not None:
        mount = "kernel" if root in _NFS_ROOT_DEVICES else "none"
    else:
        mount = "kernel" if nfsroot_raw is not None else "none"
    facts["mount"] = {mount}
    if mount == "initramfs":
        notes.append("the entry loads an initramfs: it mounts the root, so the kernel-level "
                     "nfsroot rules are not applied; its NFS client and NIC driver may be modules "
                     "inside the initramfs")

    ip_raw = None
    for key, value in cmd.params():
        if key in ("ip", "nfsaddrs") and value is not None:
            ip_raw = value
    ip = parse_ip(ip_raw) if ip_raw is not None else None
    if ip is None:
        facts["ip"] = {"absent"}
    else:
        facts["ip"] = {"given"}
        facts["autoconf"] = {ip.autoconf}
        facts["ip_device"] = {"given" if ip.device else "none"}
        if ip.device is not None:
            measures["ip_device"] = len(ip.device.encode())
        if ip.hostname is not None:
            measures["ip_hostname"] = len(ip.hostname.encode())

    server = None
    if nfsroot_raw is None:
        facts.update(nfsroot={"absent"}, nfsroot_form={"absent"}, nfs_version={"default"},
                     transport={"default"})
    else:
        arg = parse_nfsroot(nfsroot_raw)
        server = arg.server
        facts.update(nfsroot={"given"}, nfsroot_form={arg.form}, nfs_version={arg.version},
                     transport={arg.transport})
        measures["nfsroot_value"] = len(nfsroot_raw.encode()) + (
            len("/tftpboot/") if arg.form == "tftpboot-name" else 0)
    if ip is not None:
        if server is not None:
            facts["nfs_server"] = {"nfsroot"}
        elif ip.server is not None:
            facts["nfs_server"] = {"ip"}
            server = ip.server
        elif ip.autoconf in ("dhcp", "bootp", "rarp", "both", "any"):
            facts["nfs_server"] = {"dhcp"}
        else:
            facts["nfs_server"] = {"none"}
    if nfsroot_raw is not None:
        arg = parse_nfsroot(nfsroot_raw)
        nodename = (ip.hostname or ip.client) if ip is not None else None
        measures["nfsroot_device"] = nfsroot_device_bytes(arg, server, nodename)
        measures["nfsroot_options"] = nfsroot_option_bytes(arg, server)

    consoles = set()
    known = {v for r in rules.rules for c in r.when if c.fact == "console" for v in c.values}
    for value in cmd.all("console"):
        name = value.split(",", 1)[0]
        family = name.rstrip("0123456789") or name
        consoles.add(family)
        if family not in known:
            notes.append(f"console={value}: kbuild has no rule for {family!r} consoles; check "
                         "that its driver is built in")
    facts["console"] = consoles or {"none"}

    devtmpfs = cmd.get("devtmpfs.mount")
    if devtmpfs is None:
        facts["devtmpfs_mount"] = {"default"}
    else:
        facts["devtmpfs_mount"] = {"0" if devtmpfs.strip() in ("0", "") else "1"}
    facts["nfsrootdebug"] = {"true" if cmd.has("nfsrootdebug") else "false"}

    names = [n.name for n in nics]
    if arch == "um":
        for a in cmd.args:
            if _UML_VECTOR.match(a) and "uml-vector" in rules.nics:
                names.append("uml-vector")
            elif _UML_TUNTAP.match(a) and "uml-tuntap" in rules.nics:
                names.append("uml-tuntap")
    names = list(dict.fromkeys(names))
    facts["nic"] = set(names) or {"none"}
    facts["nic_class"] = {rules.nics[n].nic_class for n in names} or {"unknown"}
    facts["nic_count"] = {"0" if not names else "1" if len(names) == 1 else "many"}
    return EntryFacts({k: frozenset(v) for k, v in facts.items()}, measures, notes)


# ---------------------------------------------------------------------------
# Config values


class _Values:
    """Symbol values to check: the file's, or the tree's resolution of it."""

    def __init__(self, cfg: ConfigValues, complete: bool, resolved: dict[str, str] | None,
                 known: frozenset[str] = frozenset()) -> None:
        self.cfg = cfg
        self.complete = complete or resolved is not None
        self.resolved = resolved
        self.known = known      # symbols the source tree defines

    def found(self, name: str) -> str:
        if self.resolved is not None:
            value = self.resolved.get(name)
            if value is not None:
                return value
            # not written: its dependencies are not met, so it is n
            return "n" if name in self.known else "absent"
        value = self.cfg.values.get(name)
        if value is not None:
            return value
        return "absent" if self.complete else "unknown"

    def file_value(self, name: str) -> str | None:
        return self.cfg.value(name)


def _matches(found: str, want: tuple[str, ...]) -> bool:
    if found == "absent":
        return "n" in want
    return found in want


def _module_message(rule: Rule, name: str) -> str:
    return rule.module or (f"{name}=m: a module lives on the root filesystem, which is not "
                           f"mounted yet when it is needed; {rule.reason}")


def evaluate(rules: RuleSet, version: Any, facts: EntryFacts, values: _Values) -> tuple[list[Check], int]:
    """Every applicable rule as a :class:`Check`; also how many rules applied."""
    checks = []
    for rule in rules.rules:
        if not rule.applies_to(version) or not rule.condition_holds(facts.facts):
            continue
        if rule.kind == "limit":
            assert rule.measure is not None and rule.limit is not None
            measured = facts.measures.get(rule.measure)
            if measured is None:
                continue
            ok = measured <= rule.limit
            checks.append(_check(rule, subject=rule.measure, symbols=[], wanted=f"<= {rule.limit} bytes",
                                 found=f"{measured} bytes", ok=ok, reason=rule.reason, fix=rule.fix,
                                 fixable=False))
        elif rule.kind == "forbid":
            conditions = " ".join(str(c) for c in rule.when)
            checks.append(_check(rule, subject="entry", symbols=[], wanted="-", found=conditions,
                                 ok=False, reason=rule.reason, fix=rule.fix, fixable=False))
        else:
            checks.append(_symbol_check(rule, values))
    return checks, len(checks)


def _check(rule: Rule, *, subject: str, symbols: list[str], wanted: str, found: str, ok: bool,
           reason: str, fix: str | None, fixable: bool, unknown: bool = False) -> Check:
    if ok:
        verdict = "pass"
    elif unknown:
        verdict = "unknown"
    else:
        verdict = "fail" if rule.severity == "error" else "warn"
    return Check(rule=rule.id, kind=rule.kind, subject=subject, symbols=symbols, wanted=wanted,
                 found=found, verdict=verdict, severity=rule.severity, reason=reason,
                 source=rule.source, fix=None if ok else fix, rule_where=rule.where,
                 fixable=fixable)


def _symbol_check(rule: Rule, values: _Values) -> Check:
    found = {name: values.found(name) for name in rule.symbols}
    ok = any(_matches(v, rule.want) for v in found.values())
    unknown = not ok and any(v == "unknown" for v in found.values())
    first = rule.symbols[0]
    reason = rule.reason
    if not ok and rule.kind == "symbol" and found[first] == "m" and "y" in rule.want \
            and "m" not in rule.want:
        reason = _module_message(rule, first)
    if rule.kind == "symbol":
        subject, found_text = first, found[first]
        wanted = rule.want_text
        fix = rule.fix or assignment(first, rule.want[0])
    else:
        subject = "any of " + ",".join(rule.symbols) if len(rule.symbols) <= 4 \
            else f"any of {len(rule.symbols)} NIC drivers" if rule.id == "some-nic" \
            else f"any of {len(rule.symbols)} symbols"
        found_text = _any_of_found(found, rule.want, unknown)
        wanted = rule.want_text
        fix = rule.fix or (assignment(first, rule.want[0])
                           + (f" (or another of {', '.join(rule.symbols[1:])})"
                              if len(rule.symbols) > 1 else ""))
    check = _check(rule, subject=subject, symbols=list(rule.symbols), wanted=wanted,
                   found=found_text, ok=ok, reason=reason, fix=fix,
                   fixable=rule.kind == "symbol" or rule.fix is None, unknown=unknown)
    check.values = found
    for name in rule.symbols:
        line = values.cfg.line(name)
        if line is not None:
            check.lines[name] = line
        if values.resolved is not None:
            fv = values.file_value(name)
            if fv is not None and fv != found[name] and not (fv == "n" and found[name] == "absent"):
                check.file_values[name] = fv
    return check


def _any_of_found(found: dict[str, str], want: tuple[str, ...], unknown: bool) -> str:
    good = [f"{n}={v}" for n, v in found.items() if _matches(v, want)]
    if good:
        return ", ".join(good)
    if len(found) <= 4:
        set_ = [f"{n}={v}" for n, v in found.items() if v not in ("absent", "n", "unknown")]
        return ", ".join(set_) if set_ else ("unknown" if unknown else "none set")
    counts: dict[str, int] = {}
    for v in found.values():
        counts[v] = counts.get(v, 0) + 1
    return "none: " + ", ".join(f"{k} {v}" for v, k in sorted(counts.items(), key=lambda i: -i[1]))


def stale_symbols(rules: RuleSet, version: Any, cfg: ConfigValues) -> list[Check]:
    """Warnings for symbols the config sets that this kernel no longer has."""
    out = []
    for name, r in rules.renamed.items():
        value = cfg.value(name)
        if value is None or value == "n" or version < r.since:
            continue
        fix = f"drop the line; set CONFIG_{r.use} instead" if r.use else "drop the line"
        check = Check(rule=f"renamed:{name}", kind="stale", subject=name, symbols=[name],
                      wanted="-", found=value, verdict="warn", severity="warning",
                      reason=f"CONFIG_{name}: {r.what} (Linux {r.since}); this kernel ignores "
                             "the line", source=r.source, fix=fix, rule_where=r.where,
                      fixable=False)
        check.values = {name: value}
        line = cfg.line(name)
        if line is not None:
            check.lines[name] = line
        out.append(check)
    return out


# ---------------------------------------------------------------------------
# The whole check


def detect_arch(cfg: ConfigValues) -> tuple[str, str]:
    """The kernel's arch from its symbols (UML, X86_64, X86_32), else the header."""
    v = cfg.value
    if v("UML") == "y":
        return "um", "config"
    if v("X86_64") == "y":
        return "x86_64", "config"
    if v("X86_32") == "y" or (v("X86") == "y" and v("64BIT") in ("n", None)):
        return "i386", "config"
    if cfg.header_arch:
        arch = _ARCH_BY_HEADER.get(cfg.header_arch)
        if arch:
            return arch, "header"
    return "x86_64", "assumed"


def verify_config(config: str | Path, *, display: str | None = None,
                  kernel_version: str | None = None, arch: str | None = None,
                  arch_source: str = "option", entry: BootSpec | None = None,
                  nics: Sequence[str] = (), dom0: bool | None = None,
                  rules: RuleSet | None = None, srctree: str | Path | None = None,
                  fix: str | Path | None = None, profile: str | None = None,
                  workdir: str | Path | None = None,
                  values: ConfigValues | None = None) -> VerifyReport:
    """Check one config file against the rules for one boot entry; see the module doc.

    ``values`` is the file already read (to check many entries against one config).
    Raises :class:`UserError` (exit 2) for unreadable or malformed input, never
    for requirements that fail: those are in the returned report.
    """
    shown = display or str(config)
    cfg = values if values is not None else read_values(config, shown)
    if cfg.assignment_count == 0:
        first = cfg.errors[0] if cfg.errors else None
        raise UserError(f"not a kernel config: no CONFIG_ assignment in {cfg.line_count} line(s)"
                        + (f" (line {first.line}: {first.message})" if first else ""), path=shown,
                        hint="pass a .config, a savedefconfig output or a fragment "
                             "(gzip/xz/bzip2 compressed ones too)")
    if cfg.errors:
        raise BadConfigError(cfg.errors)
    if fix is not None and srctree is None:
        raise UserError("--fix needs --srctree: a fragment is offered only after the kernel's "
                        "Kconfig has confirmed it", hint="add --srctree DIR (an unpacked kernel source)")
    ruleset = rules or load_rules()
    notes: list[str] = []
    if arch is None:
        arch, arch_source = detect_arch(cfg)
        if arch_source == "assumed":
            notes.append("arch unknown (no header, no UML/X86_64 symbols): assuming x86_64; "
                         "pass --arch")
    complete = cfg.generated or cfg.header_version is not None

    version_text, version_source = kernel_version, "option"
    tree_version = None
    if srctree is not None:
        tree_version = read_kernel_version(Path(srctree))
    if version_text is None:
        if cfg.header_version:
            version_text, version_source = cfg.header_version, "header"
        elif tree_version:
            version_text, version_source = tree_version, "srctree"
        else:
            version_text, version_source = DEFAULT_KERNEL, "assumed"
            notes.append(f"kernel version unknown (no '# Linux/... Kernel Configuration' header): "
                         f"assuming {DEFAULT_KERNEL}; pass --kernel-version")
    version = parse_kernel_version(version_text)
    if version is None:
        raise UserError(f"kernel version {version_text!r} is not X.Y or X.Y.Z",
                        hint="pass --kernel-version 6.1 (or 6.1.192)")
    if tree_version and parse_kernel_version(tree_version) != version:
        notes.append(f"the config says Linux {version_text}, the source tree is {tree_version}: "
                     "values are resolved against the tree")

    nic_specs = [ruleset.nic(n) for n in dict.fromkeys(nics)]
    assumed = entry is None
    spec = entry or entry_from_cmdline(ASSUMED_CMDLINE, "assumed")
    is_dom0 = bool(spec.hypervisor) if dom0 is None else dom0
    facts = entry_facts(spec, arch=arch, nics=nic_specs, rules=ruleset, dom0=is_dom0,
                        assumed=assumed)
    notes.extend(facts.notes)
    if assumed:
        notes.append(f"no boot entry given: checking kbuild's default entry \"{ASSUMED_CMDLINE}\" "
                     "(pass --cmdline, --entry or --profile)")
    if "none" in facts.facts.get("nic", ()) and arch != "um":
        notes.append("no NIC given: the boot NIC's driver must be built in; name it with --nic")

    with contextlib.ExitStack() as scratch:
        tree = None
        resolved = None
        known: frozenset[str] = frozenset()
        if srctree is not None:
            tree, resolved = _resolve(Path(srctree), arch, Path(config), workdir, scratch)
            known = frozenset(s.name for s in tree.kconf.unique_defined_syms)
            if not complete:
                notes.append("minimal config (savedefconfig or fragment): defaults resolved "
                             "against the source tree")
            complete = True
        elif not complete:
            notes.append("minimal config (no '# Linux/... Kernel Configuration' header: a savedefconfig "
                         "or fragment): symbols it does not set have their Kconfig defaults, which are "
                         "unknown without --srctree, so those verdicts are 'unknown'")
        checks, applied = evaluate(ruleset, version, facts, _Values(cfg, complete, resolved, known))
        checks += stale_symbols(ruleset, version, cfg)

        report = VerifyReport(
            config=shown, kernel_version=version_text, version_source=version_source, arch=arch,
            arch_source=arch_source, complete=complete, resolved=resolved is not None,
            line_count=cfg.line_count, assignment_count=cfg.assignment_count,
            entry=EntryInfo(source=spec.source, format="assumed" if assumed else spec.format,
                            cmdline=spec.cmdline.text, label=spec.label, initrd=spec.initrd,
                            hypervisor=spec.hypervisor or ("xen" if is_dom0 else None),
                            assumed=assumed),
            facts={k: sorted(v) for k, v in sorted(facts.facts.items())},
            checks=checks, rules_applied=applied, rules_total=len(ruleset.rules), notes=notes,
            srctree=str(srctree) if srctree is not None else None, profile=profile)
        if tree is not None:
            _explain(tree, report)
            if fix is not None:
                report.fix = _search_fix(tree, Path(config), Path(fix), report, ruleset, version, facts,
                                         _Values(cfg, True, None, known))
    return report


def _resolve(srctree: Path, arch: str, config: Path, workdir: str | Path | None,
             scratch: contextlib.ExitStack) -> tuple[Any, dict[str, str]]:
    from kbuild.kconfig import environment as toolchain
    from kbuild.kconfig import fixsearch as kconfig_fixsearch
    from kbuild.kconfig import tree as kconfig
    from kbuild.site import arches as toolchain_arches

    if arch not in toolchain_arches.known_arches():
        raise UserError(f"--srctree supports the arches {', '.join(toolchain_arches.known_arches())}, "
                        f"not {arch!r}", hint="pass --arch")
    srctree = srctree.resolve()
    env = toolchain.kconfig_environment(srctree, arch, toolchain.detect_toolchain())
    # $(cc-option) probes write scratch files; without a workdir they go to a temp dir
    # that lives until the caller's ExitStack closes
    work = Path(workdir) if workdir is not None else Path(
        scratch.enter_context(tempfile.TemporaryDirectory(prefix="kbuild-verify-")))
    tree = kconfig.load_tree(srctree, arch, env, work)
    return tree, kconfig_fixsearch.resolve_config(tree, config)


def _explain(tree: Any, report: VerifyReport) -> None:
    from kbuild.kconfig import whynot as kconfig

    for check in report.checks:
        if check.verdict == "pass" or check.kind not in ("symbol", "any_of"):
            continue
        rule_want = check.wanted.split("|")[0]
        names = check.symbols[:1] if check.kind == "symbol" or len(check.symbols) > 4 \
            else check.symbols
        for name in names:
            exp = kconfig.explain_value(tree, name, rule_want)
            check.explanation.extend(exp.reasons + exp.effects)
            if name == check.symbols[0]:
                check.needs = exp.needs


def _search_fix(tree: Any, config: Path, out: Path, report: VerifyReport, ruleset: RuleSet,
                version: Any, facts: EntryFacts, base: _Values) -> FixInfo:
    from kbuild.kconfig import fixsearch as kconfig
    from kbuild.util.files import atomic_write_text

    required: dict[str, tuple[str, str]] = {}
    left_out = []
    for c in report.failures:
        if c.kind in ("symbol", "any_of") and c.fixable:
            name, value = c.symbols[0], c.wanted.split("|")[0]
            required.setdefault(name, (value, f"rule {c.rule}: {c.reason}"))
        else:
            left_out.append(f"{c.rule}: {c.fix or c.reason}")

    def still_failing(values: dict[str, str]) -> list[str]:
        checks, _ = evaluate(ruleset, version, facts, _Values(base.cfg, True, values, base.known))
        return [c.rule for c in checks if c.failed and c.kind in ("symbol", "any_of") and c.fixable]

    search = kconfig.find_fix(tree, config, required, still_failing)
    verified = not search.remaining
    if verified:
        atomic_write_text(out, fix_fragment_text(report, search.assignments, search.why))
    return FixInfo(path=str(out) if verified else None, assignments=search.assignments,
                   why=search.why, verified=verified, remaining=search.remaining, left_out=left_out,
                   resolutions=search.resolutions)


def fix_fragment_text(report: VerifyReport, assignments: dict[str, str], why: dict[str, str]) -> str:
    lines = [f"# kbuild verify --fix for {report.config}",
             f"# Linux {report.kernel_version} {report.arch}; entry: {report.entry.cmdline}",
             "# Verified: the config with these lines merged resolves (as make olddefconfig) "
             "to one that meets every config requirement."]
    if not assignments:
        lines.append("# Nothing to add.")
    for name, value in assignments.items():
        lines.append(f"# {why.get(name, '')}".rstrip())
        lines.append(assignment(name, value))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# Profiles (the doit task and `kbuild verify --profile`)


def profile_entry(profile: Any) -> BootSpec:
    """The boot entry kbuild writes for a profile (for UML: its launch line), as verify sees it."""
    if profile.arch == "um" and profile.uml is not None:
        from kbuild.boot import uml

        args = uml.command_args(profile)
    else:
        args = profile.kernel_args()
    return entry_from_cmdline(" ".join(args), f"profile {profile.name}", dom0=profile.xen is not None)


def profile_nics(site: Any, profile: Any) -> list[str]:
    """The profile's NICs, every host's NIC, and UML's transport."""
    names = list(profile.nics)
    names += [h.nic for h in site.hosts if h.profile == profile.name and h.nic]
    if profile.arch == "um" and profile.uml is not None:
        names.append("uml-vector" if profile.uml.transport == "vector" else "uml-tuntap")
    return list(dict.fromkeys(names))


def verify_profile(site: Any, profile: Any, rules: RuleSet | None = None) -> VerifyReport:
    """Check a profile's built .config against its own boot entry, NICs, dom0/UML."""
    from kbuild.site import layout

    config = layout.config_path(site, profile)
    if not config.is_file():
        raise UserError(f"profile {profile.name!r} is not configured yet", path=config,
                        hint=f"run: doit config:{profile.name}")
    try:
        shown = str(config.relative_to(site.root))
    except ValueError:
        shown = str(config)
    cfg = read_values(config, shown)
    ruleset = rules or load_rules()
    nics = profile_nics(site, profile)
    common = dict(display=shown, arch=profile.arch, arch_source="profile", nics=nics,
                  dom0=profile.xen is not None, rules=ruleset, profile=profile.name, values=cfg)
    entry = profile_entry(profile)
    report = verify_config(config, entry=entry, **common)  # type: ignore[arg-type]
    if profile.arch == "um":
        return report
    # Hosts may change the entry (console, extra arguments, their own NFS path):
    # check each distinct one, and add what it gets wrong that the profile does not.
    from kbuild.boot.entry import host_nfsroot

    seen = {entry.cmdline.args}
    known = {(c.rule, c.found, c.verdict) for c in report.checks}
    for host in site.hosts:
        if host.profile != profile.name:
            continue
        args = profile.kernel_args(nfsroot=host_nfsroot(profile, host), console=host.console,
                                   extra=host.extra)
        spec = entry_from_cmdline(" ".join(args), f"host {host.name}", dom0=profile.xen is not None)
        if spec.cmdline.args in seen:
            continue
        seen.add(spec.cmdline.args)
        for c in verify_config(config, entry=spec, **common).checks:  # type: ignore[arg-type]
            if c.verdict != "pass" and (c.rule, c.found, c.verdict) not in known:
                c.subject = f"host {host.name}: {c.subject}"
                report.checks.append(c)
    return report
