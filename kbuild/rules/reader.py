"""What the readers of rule files share: line numbers of [[rule]] headers, the checker."""
from __future__ import annotations

import re
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from kbuild.rules.model import KernelRange
from kbuild.util.toml import KeyPath, LazyKeyLines, TomlChecker

RULE_ID = re.compile(r"^[a-z0-9][a-z0-9:._-]*$")
SYMBOL = re.compile(r"^[A-Za-z0-9_]+$")
_RULE_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*rule[ \t]*\]\]", re.M)


class RuleLines(LazyKeyLines):
    """Line numbers for rule files: the [[rule]] headers found by one regex pass; the
    full key scanner only when there is an error to report."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._rules = [text.count("\n", 0, m.start()) + 1 for m in _RULE_HEADER.finditer(text)]

    def header(self, where: KeyPath) -> int | None:
        if len(where) == 2 and where[0] == "rule" and isinstance(where[1], int):
            return self._rules[where[1]] if where[1] < len(self._rules) else None
        return self.line(where)


class RuleChecker(TomlChecker):
    """The TOML checker, naming the tables of a rule file as it writes them."""

    lines: RuleLines

    def label(self, where: KeyPath) -> str:
        if not where:
            return "a rules file"
        if len(where) == 2 and where[0] == "rule":
            return "[[rule]]"
        return super().label(where)

    def text(self, data: dict[str, Any], key: str, where: KeyPath, required: bool = True) -> str | None:
        return self.string(data, key, where, required=required, nonempty=True)

    def kernel(self, data: dict[str, Any], where: KeyPath) -> KernelRange | None:
        raw = data.get("kernel")
        if raw is None:
            return None
        if not isinstance(raw, str):
            self.error(where + ("kernel",), "kernel must be a string of version specifiers")
            return None
        try:
            SpecifierSet(raw)
            return KernelRange(raw)
        except InvalidSpecifier:
            self.error(where + ("kernel",), f"kernel = {raw!r} is not a version specifier",
                       'write e.g. ">=3.2" or ">=4.17,<6.16"')
            return None
