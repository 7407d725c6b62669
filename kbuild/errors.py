"""One family of errors for the whole library.

The library raises; only :mod:`kbuild.cli` (and the doit task wrappers) catch,
print ``error: ...`` and turn the error into an exit code.
"""
from __future__ import annotations

from pathlib import Path


class KbuildError(Exception):
    """Base class of every error kbuild reports to a user."""

    exit_code = 1

    def __init__(self, message: str, *, path: str | Path | None = None,
                 line: int | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.hint = hint

    def location(self) -> str:
        if self.path is None:
            return ""
        if self.line is None:
            return f"{self.path}: "
        return f"{self.path}:{self.line}: "

    def __str__(self) -> str:
        text = f"{self.location()}error: {self.message}"
        if self.hint:
            text += f"\n  fix: {self.hint}"
        return text


class UserError(KbuildError):
    """Bad input: a file, a value or an argument the user can fix."""

    exit_code = 2


class InputErrors(UserError):
    """Several problems in one input, all reported together (``path:line: error: ...``)."""

    max_shown: int | None = None
    more_what = "more"

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        first = diagnostics[0]
        super().__init__(first.message, path=first.path, line=first.line, hint=first.hint)

    def __str__(self) -> str:
        shown = self.diagnostics[: self.max_shown] if self.max_shown else self.diagnostics
        text = "\n".join(str(d) for d in shown)
        more = len(self.diagnostics) - len(shown)
        if more > 0:
            text += f"\n... and {more} {self.more_what}"
        return text


class InfraError(KbuildError):
    """The machine failed: a tool is missing, a download broke, make failed."""

    exit_code = 1


class RequirementError(KbuildError):
    """A configuration does not meet the root-over-NFS requirements."""

    exit_code = 1


def describe(exc: BaseException) -> str:
    """Render any exception as one user-facing message (never a traceback)."""
    if isinstance(exc, KbuildError):
        return str(exc)
    return f"error: {type(exc).__name__}: {exc}"


class Diagnostic:
    """One message about one place in an input file (``path:line: severity: msg``)."""

    __slots__ = ("path", "line", "severity", "message", "hint")

    def __init__(self, path: str | Path | None, line: int | None, severity: str,
                 message: str, hint: str | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.severity = severity
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        loc = ""
        if self.path is not None:
            loc = f"{self.path}:{self.line}: " if self.line else f"{self.path}: "
        text = f"{loc}{self.severity}: {self.message}"
        if self.hint:
            text += f"\n  fix: {self.hint}"
        return text

    def __repr__(self) -> str:
        return f"Diagnostic({str(self)!r})"

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "severity": self.severity,
                "message": self.message, "hint": self.hint}
