"""Kconfig syntax newer than kconfiglib 14.1.0, rewritten while kconfiglib reads it.

* Linux 5.13 turned ``option modules`` into a bare ``modules`` attribute.
* Linux 6.18 added ``transitional`` (read from an old .config, never written).

And one difference in what is *written*: the kernel's conf writes ``# CONFIG_X is not
set`` for a bool/tristate symbol that something implies (``imply X if COND`` with COND
true) even when X's own dependencies are unmet; kconfiglib 14.1.0 writes it only when
they are met. x86's ``imply IMA_SECURE_AND_OR_TRUSTED_BOOT if EFI`` makes every EFI
kernel show it (``make olddefconfig`` is the authority; tests/build/test_configure.py).

Both are rewritten line by line before kconfiglib's tokenizer sees them, so file names
and line numbers stay exact. Help text is copied verbatim: a help paragraph may well
contain a line that reads just "modules".
"""
from __future__ import annotations

import io
import re
from typing import Any

import kconfiglib

_ATTR = re.compile(r"^(?P<indent>[ \t]+)(?P<word>modules|transitional)[ \t]*(#.*)?$")
_CONFIG_LINE = re.compile(r"^[ \t]*(?:menu)?config[ \t]+([A-Za-z0-9_]+)")


_HELP_LINE = re.compile(r"^(?P<indent>[ \t]*)(?:help|---help---)[ \t]*(#.*)?$")


def _indent_width(text: str) -> int:
    width = 0
    for ch in text:
        if ch == " ":
            width += 1
        elif ch == "\t":
            width = (width // 8 + 1) * 8
        else:
            break
    return width


def rewrite_kconfig_source(text: str) -> tuple[str, set[str]]:
    """Rewrite new Kconfig syntax into what kconfiglib 14.1.0 parses.

    Returns the rewritten text (same number of lines) and the names of the
    symbols marked ``transitional``.
    """
    out: list[str] = []
    transitional: set[str] = set()
    current: str | None = None
    help_indent: int | None = None  # set while inside a help block
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        if help_indent is not None:
            if not body.strip() or _indent_width(body) > help_indent:
                out.append(line)
                continue
            help_indent = None
        m = _CONFIG_LINE.match(body)
        if m:
            current = m.group(1)
        h = _HELP_LINE.match(body)
        if h:
            help_indent = _indent_width(h.group("indent"))
            out.append(line)
            continue
        a = _ATTR.match(body)
        if a:
            newline = line[len(body):]
            if a.group("word") == "modules":
                out.append(f"{a.group('indent')}option modules{newline}")
            else:
                if current is not None:
                    transitional.add(current)
                # A prompt makes kconfiglib honour the value read from an old
                # .config; the symbol is filtered out again when writing.
                out.append(f'{a.group("indent")}prompt "transitional"{newline}')
            continue
        out.append(line)
    return "".join(out), transitional


_kconfiglib_config_string = kconfiglib.Symbol.config_string.fget


def _config_string(sym: Any) -> str:
    text: str = _kconfiglib_config_string(sym)
    # Read once every value is known (at write time), so no evaluation order changes.
    if (not text and sym.orig_type in (kconfiglib.BOOL, kconfiglib.TRISTATE)
            and not sym.choice and sym.tri_value == 0
            and kconfiglib.expr_value(sym.weak_rev_dep)):
        return f"# {sym.kconfig.config_prefix}{sym.name} is not set\n"
    return text


kconfiglib.Symbol.config_string = property(_config_string, doc=kconfiglib.Symbol.config_string.__doc__)


class CompatKconfig(kconfiglib.Kconfig):
    """kconfiglib.Kconfig that parses Kconfig trees of Linux up to 6.18."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.kbuild_transitional: set[str] = set()
        self._kbuild_parsing = True
        try:
            super().__init__(*args, **kwargs)
        finally:
            self._kbuild_parsing = False

    def __getstate__(self) -> Any:
        """For the parsed-tree cache (treecache.py): everything but the last file's
        ``readline`` (a closed file, used only while parsing). kconfiglib keeps its state
        in ``__slots__``, this class in ``__dict__``: the state is (dict, slots)."""
        state, slots = super().__getstate__()  # type: ignore[misc]
        slots = dict(slots or {})
        slots["_readline"] = None
        return state, slots

    def _open(self, filename: str, mode: str) -> Any:  # noqa: D401 - kconfiglib hook
        if mode == "r" and getattr(self, "_kbuild_parsing", False):
            with open(filename, encoding=self._encoding) as f:
                text, transitional = rewrite_kconfig_source(f.read())
            self.kbuild_transitional |= transitional
            return io.StringIO(text)
        return super()._open(filename, mode)
