"""After make: the build dir's .config must still be the one kbuild wrote.

make runs the kernel's own ``conf --syncconfig`` first; where kconfiglib and the kernel's
conf disagree, conf silently rewrites .config. The image is then built from a config
kbuild never vouched for, and the next configure writes kbuild's back, so the build runs
again, and again. kbuild stops instead, naming the symbols and the fragments that set them.
"""
from __future__ import annotations

from pathlib import Path

from kbuild.errors import UserError
from kbuild.kconfig.configfile import parse_values, read_values
from kbuild.site.model import Profile, Site
from kbuild.util.files import atomic_write_text

SHOWN = 12   # differing symbols named in the message


def config_differences(written: str, after: str) -> list[tuple[str, str | None, str | None]]:
    """(symbol, kbuild's value, make's value) for every symbol whose value differs; None
    where a file does not mention the symbol. Sorted by symbol."""
    a = parse_values(written, "kbuild").values
    b = parse_values(after, "make").values
    return sorted((name, a.get(name), b.get(name))
                  for name in a.keys() | b.keys() if a.get(name) != b.get(name))


def check_config_kept(site: Site, profile: Profile, config: Path, written: str) -> None:
    """Raise when make left ``config`` other than ``written`` (kbuild's text), after putting
    kbuild's text back (the configure task's target stays what configure wrote)."""
    try:
        after = config.read_text(errors="replace")
    except FileNotFoundError:
        after = ""
    if after == written:
        return
    diffs = config_differences(written, after)
    atomic_write_text(config, written)
    setters = _fragment_setters(site, profile)
    if diffs:
        shown = [f"CONFIG_{name}: kbuild wrote {_show(ours)}, make wrote {_show(theirs)}"
                 + (f" (set in {', '.join(setters[name])})" if name in setters else "")
                 for name, ours, theirs in diffs[:SHOWN]]
        more = f"\n    ... and {len(diffs) - SHOWN} more" if len(diffs) > SHOWN else ""
        what = f"{len(diffs)} symbol(s) differ:\n    " + "\n    ".join(shown) + more
    else:
        what = "same values, other text (order, comments or header)"
    frags = ", ".join(profile.fragments) or "none"
    raise UserError(
        f"profile {profile.name!r}: make's syncconfig rewrote the .config kbuild wrote "
        f"(kbuild's Kconfig and the kernel's conf disagree); {what}",
        path=config,
        hint=f"set these symbols explicitly in a fragment of profile {profile.name!r} "
             f"(fragments: {frags}) so both agree, and report the difference as a kbuild bug; "
             "kbuild's .config was put back, the image was not recorded")


def _show(value: str | None) -> str:
    if value is None:
        return "nothing"
    return "'n' (not set)" if value == "n" else repr(value)


def _fragment_setters(site: Site, profile: Profile) -> dict[str, list[str]]:
    """symbol -> the profile's fragments that assign it."""
    out: dict[str, list[str]] = {}
    for frag in profile.fragments:
        path = site.fragment_path(frag)
        if not path.is_file():
            continue
        for name in read_values(path, display=frag).values:
            out.setdefault(name, []).append(frag)
    return out
