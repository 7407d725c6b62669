"""What verify finds: one :class:`Check` per rule, in a :class:`VerifyReport`.

The library returns these; :mod:`kbuild.verify.render` shows them (table, summary,
JSON) and nothing else decides how. Plain data: only :class:`BadConfigError` is raised,
by :func:`kbuild.verify.check.verify_config`.
"""
from __future__ import annotations

from kbuild.errors import InputErrors
from kbuild.util.record import field, record

_MAX_INPUT_ERRORS = 20


class BadConfigError(InputErrors):
    """A config file with malformed lines: every one is reported (``path:line:``)."""

    max_shown = _MAX_INPUT_ERRORS
    more_what = "more malformed line(s)"


@record
class Check:
    """One rule evaluated against one config and boot entry.

    Holds the rule's id, kind and where it is written, what the table shows (subject,
    wanted, found), the verdict (pass, fail, warn, unknown) and severity, the reason
    with its source and the fix; per symbol the value found, its config line and, when a
    source tree resolved it differently, the file's own value; with --srctree the
    Kconfig chain that explains a failure and the assignments it needs.
    """

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


@record
class EntryInfo:
    """The boot entry a report was made for: where it came from, its loader format and
    label, its command line, and whether it loads an initramfs or a hypervisor."""

    source: str                    # "assumed", "--cmdline", "profile NAME", "FILE:LINE"
    format: str
    cmdline: str
    label: str | None = None
    initrd: bool = False
    hypervisor: str | None = None
    assumed: bool = False


@record
class FixInfo:
    """The outcome of --fix: the assignments found (and why each), whether resolving the
    config with them passed (then ``path`` names the fragment written), what still fails,
    and the failures no fragment can fix (entry problems)."""

    path: str | None
    assignments: dict[str, str]
    why: dict[str, str]
    verified: bool
    remaining: list[str]
    left_out: list[str]            # failed checks a config fragment cannot fix
    resolutions: int


@record
class VerifyReport:
    """Everything ``kbuild verify`` found about one config and one boot entry.

    Holds the config as shown and its shape (full or minimal, resolved against a tree or
    not, lines and assignments), the kernel version and arch the rules were chosen for
    and where each came from, the entry and its facts, every :class:`Check`, how many
    rules applied, notes, and the --fix outcome. :attr:`passed` and :attr:`exit_code`
    give the verdict (warnings pass; failures and undecided errors do not). Nothing
    here raises.
    """

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
