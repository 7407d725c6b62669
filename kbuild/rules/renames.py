"""Hints for symbols a kernel no longer knows, from the renamed/removed table in
kbuild/rules/renames.toml (one table for verify and for fragment errors)."""
from __future__ import annotations

from kbuild.errors import KbuildError


def describe(name: str, kernel_version: str | None) -> str | None:
    """A hint for an unknown symbol that kbuild knows was renamed or removed."""
    from kbuild.rules.load import load_rules
    from kbuild.util.versions import kernel_release

    try:
        entry = load_rules().renamed.get(name)
    except KbuildError:
        return None
    if entry is None:
        return None
    text = f"CONFIG_{name} was {entry.what} in Linux {entry.since}"
    if entry.use:
        text += f"; use CONFIG_{entry.use}"
    version = kernel_release(kernel_version)
    if version is not None and version < entry.since:
        text += f" (this kernel, {kernel_version}, predates that: check the spelling)"
    return text
