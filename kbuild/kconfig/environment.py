"""The environment ``make`` and kconfiglib see, kept identical for both.

The kernel's Kconfig files shell out to the compiler (``$(cc-option,...)``,
``$(CC_VERSION_TEXT)``), so kconfiglib only reproduces ``make olddefconfig``
when it sees the same variables the top-level Makefile exports. The same
function also fixes what breaks ccache hits between runs: locale, build user,
build host.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kbuild.errors import InfraError
from kbuild.site.arches import arch_variables
from kbuild.util.versions import read_kernel_version


@dataclass(frozen=True)
class Toolchain:
    """The compiler kbuild builds with; ``launcher`` is ccache when present."""

    cc: str = "gcc"
    ld: str = "ld"
    launcher: str | None = None

    @property
    def cc_command(self) -> str:
        return f"{self.launcher} {self.cc}" if self.launcher else self.cc


def detect_toolchain(use_ccache: bool = True) -> Toolchain:
    cc = shutil.which("gcc")
    if cc is None:
        raise InfraError("gcc not found", hint="run scripts/setup (installs build-essential)")
    launcher = shutil.which("ccache") if use_ccache else None
    return Toolchain(cc="gcc", ld="ld", launcher="ccache" if launcher else None)


@functools.lru_cache(maxsize=8)
def cc_version_text(cc_command: str) -> str:
    """What the kernel Makefile exports as CC_VERSION_TEXT (first line of --version, no '#')."""
    argv = cc_command.split() + ["--version"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=False,
                             env={**os.environ, "LC_ALL": "C"}).stdout
    except OSError as e:
        raise InfraError(f"cannot run {argv[0]}: {e.strerror}") from None
    first = out.splitlines()[0] if out else ""
    return first.replace("#", "")


_STABLE = {
    "LC_ALL": "C",
    "LANG": "C",
    "KBUILD_BUILD_USER": "kbuild",
    "KBUILD_BUILD_HOST": "kbuild",
}

# Variables that would change compiler flags or paths behind kbuild's back.
_SCRUB = ("CROSS_COMPILE", "KCFLAGS", "KCPPFLAGS", "KAFLAGS", "KBUILD_OUTPUT",
          "ARCH", "SUBARCH", "CC", "LD", "O", "V", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")


def base_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env.update(_STABLE)
    return env


def kconfig_environment(srctree: Path, arch: str, toolchain: Toolchain) -> dict[str, str]:
    """The variables the kernel Makefile exports to its Kconfig run."""
    srctree = Path(srctree).resolve()
    env = base_environment()
    env.update(arch_variables(arch))
    env.update({
        "srctree": str(srctree),
        "KERNELVERSION": read_kernel_version(srctree),
        "CC": toolchain.cc_command,
        "LD": toolchain.ld,
        "AR": "ar",
        "NM": "nm",
        "OBJCOPY": "objcopy",
        "PAHOLE": "pahole",
        "RUSTC": "rustc",
        "BINDGEN": "bindgen",
        "CLANG_FLAGS": "",
        "USERCFLAGS": "",
        "USERLDFLAGS": "",
        "CC_VERSION_TEXT": cc_version_text(toolchain.cc_command),
    })
    return env
