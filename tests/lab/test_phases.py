"""The boot phases printed after a lab boot, from the console milestones."""
from __future__ import annotations

from kbuild.lab import supervisor
from kbuild.lab.run import phase_line

PXE_CONSOLE = """\
SeaBIOS (version 1.16.2-debian-1.16.2-1)
PXELINUX 6.04 PXE 20200816  Copyright (C) 1994-2015 H. Peter Anvin et al
Loading images/nfsroot/vmlinuz-6.1.192... ok
[    0.000000] Linux version 6.1.192 (kbuild@kbuild) (gcc (Debian 12.2.0-14) 12.2.0)
[    2.100000] IP-Config: Complete:
[    2.500000] VFS: Mounted root (nfs4 filesystem) on device 0:14.
"""


def test_milestones_are_found_in_a_pxe_console_once():
    seen: dict[str, float] = {}
    supervisor._milestones(PXE_CONSOLE.split("Loading")[0], seen, 1.5)
    assert seen == {"loader": 1.5}
    supervisor._milestones(PXE_CONSOLE, seen, 6.0)
    supervisor._milestones(PXE_CONSOLE, seen, 9.0)     # later polls change nothing
    assert seen == {"loader": 1.5, "kernel": 6.0, "network": 6.0, "root": 6.0}


def test_phase_line_names_every_phase():
    line = phase_line({"loader": 2.0, "kernel": 3.5, "network": 7.0, "root": 7.4}, 8.0)
    assert line == "firmware 2.0 s, loader 1.5 s, kernel 3.5 s, NFS mount 0.4 s, init 0.6 s"


def test_unseen_milestones_merge_phases_and_uml_has_no_firmware():
    # iPXE's own output is not on the serial console: firmware and loader are one phase
    assert phase_line({"kernel": 4.0, "network": 6.0, "root": 6.2}, 6.5) == (
        "firmware+loader 4.0 s, kernel 2.0 s, NFS mount 0.2 s, init 0.3 s")
    # UML: the kernel prints from the start
    assert phase_line({"kernel": 0.0, "network": 0.3, "root": 0.4}, 0.5) == (
        "kernel 0.3 s, NFS mount 0.1 s, init 0.1 s")
    assert phase_line({}, None) == ""
