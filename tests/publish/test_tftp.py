"""A real TFTP server (tftpd-hpa) and client read a tree while kbuild publishes
new generations into it: every file read is one whole version, never partial."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.boot
SCRIPT = Path(__file__).parent / "tftp_concurrent.py"


@pytest.mark.skipif(shutil.which("in.tftpd") is None, reason="tftpd-hpa missing: run scripts/setup")
def test_concurrent_tftp_reads_never_see_partial_files(tmp_path):
    r = subprocess.run(["unshare", "--net", "--", sys.executable, str(SCRIPT), str(tmp_path / "tftp"), "8"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    stats = json.loads(r.stdout.strip().splitlines()[-1])
    assert stats["publishes"] == 8
    assert stats["fetches"] >= 10
    assert stats["bad"] == [], stats["bad"][:3]
    # the reads really overlapped the publishes: both versions were served
    assert stats["seen"]["A"] > 0 and stats["seen"]["B"] > 0
