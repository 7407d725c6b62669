"""UML launch: the command line a UML profile's kernel runs with.

A UML kernel is a process, so its "boot entry" is a launch script carrying the
full command line, the way pxelinux entries do for real machines.
"""
from __future__ import annotations

import shlex
from collections.abc import Sequence

from kbuild.boot.cmdline import KernelCmdline
from kbuild.boot.draft import shell_words
from kbuild.boot.entry import GENERATED, BootSpec
from kbuild.site.model import NfsRoot, Profile


def network_args(transport: str, tap: str, mac: str) -> tuple[list[str], str]:
    """Kernel arguments for the NIC and the name the guest gives it."""
    if transport == "vector":
        # gro=1: the host tap sends GSO frames (large NFS reads); without GRO the
        # vector driver drops them ("Incoming GSO frames and GRO disabled") and NFS stalls.
        return [f"vec0:transport=tap,ifname={tap},mac={mac},gro=1"], "vec0"
    return [f"eth0=tuntap,{tap},{mac}"], "eth0"


def command_args(profile: Profile, nfsroot: NfsRoot | None = None, ip: str | None = None,
                 transport: str | None = None, tap: str | None = None,
                 extra: Sequence[str] = ()) -> list[str]:
    """Everything after the binary: memory, NIC, console, root over NFS."""
    spec = profile.uml
    assert spec is not None, "command_args needs a profile with [uml] settings"
    net, _device = network_args(transport or spec.transport, tap or spec.tap, spec.mac)
    args = [f"mem={spec.mem}", *net, "con=null", "ssl=null", "con0=fd:0,fd:1"]
    args += profile.kernel_args(nfsroot=nfsroot, ip=ip, console=tuple(profile.console))
    return args + list(extra)


def launch_script(profile: Profile, binary_rel: str) -> str:
    """A shell script next to the staged binary: run it, extra args append."""
    args = " \\\n    ".join(shlex.quote(a) for a in command_args(profile))
    return f"""#!/bin/sh
# {GENERATED}
# Launch the {profile.name} UML kernel with root over NFS. The tap device
# {profile.uml.tap if profile.uml else ''} must exist and reach the NFS server; extra arguments are appended.
# uml_dir/umid keep crashed runs from leaving state in ~/.uml.
here=$(cd "$(dirname "$0")/.." && pwd)
: "${{UML_DIR:=${{TMPDIR:-/tmp}}/kbuild-uml}}"
mkdir -p "$UML_DIR"
exec "$here/{binary_rel}" \\
    {args} \\
    uml_dir="$UML_DIR" umid={profile.name} "$@"
"""


def uml_exec(text: str) -> tuple[int, list[str]] | None:
    """The ``exec BINARY ARGS`` line of a launch script (continuations joined), shell-split."""
    joined: list[tuple[int, str]] = []
    start = None
    buf = ""
    for lineno, raw in enumerate(text.splitlines(), 1):
        if start is None:
            start = lineno
        if raw.rstrip().endswith("\\"):
            buf += raw.rstrip()[:-1] + " "
            continue
        joined.append((start, buf + raw))
        buf, start = "", None
    for lineno, line in joined:
        words = shell_words(line.strip())
        if len(words) >= 2 and words[0] == "exec":
            return lineno, words[1:]
    return None


def read_uml(text: str, shown: str) -> BootSpec:
    found = uml_exec(text)
    assert found is not None
    lineno, words = found
    binary, args = words[0], [a for a in words[1:] if a not in ("$@", "$*")]
    cmd = KernelCmdline.from_args(args)
    return BootSpec(cmdline=cmd, source=f"{shown}:{lineno}", format="uml", kernel=binary,
                    initrd=cmd.has("initrd"))
