"""The architectures kbuild builds for: make's names, the image each builds, its path.

One table for the site (which arches a profile may name), Kconfig's environment
(ARCH, SRCARCH, SUBARCH) and the build (which image make produces, and where).
"""
from __future__ import annotations

from kbuild.errors import UserError

# kbuild arch name -> (ARCH for make, SRCARCH, extra variables)
_ARCHES: dict[str, tuple[str, str, dict[str, str]]] = {
    "x86_64": ("x86_64", "x86", {}),
    "um": ("um", "um", {"SUBARCH": "x86", "HEADER_ARCH": "x86"}),
}


IMAGES = {"x86_64": "bzImage", "um": "linux"}


IMAGE_PATHS = {"x86_64": "arch/x86/boot/bzImage", "um": "linux"}


def known_arches() -> list[str]:
    return sorted(_ARCHES)


def arch_variables(arch: str) -> dict[str, str]:
    try:
        make_arch, srcarch, extra = _ARCHES[arch]
    except KeyError:
        raise UserError(f"unknown arch {arch!r}",
                        hint=f"use one of: {', '.join(known_arches())}") from None
    return {"ARCH": make_arch, "SRCARCH": srcarch, **extra}
