"""Helpers for end-to-end tests: run the real commands the README tells users to run."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass
class Run:
    code: int
    out: str

    @property
    def executed(self) -> list[str]:
        """Tasks doit ran an action for ('.  name' lines)."""
        return re.findall(r"^\.  (\S+)", self.out, re.M)

    @property
    def skipped(self) -> list[str]:
        return re.findall(r"^-- (\S+)", self.out, re.M)


def doit(*args: str, timeout: float = 3600) -> Run:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    r = subprocess.run([str(BIN / "doit"), *args], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=timeout)
    return Run(r.returncode, r.stdout + r.stderr)


def kbuild(*args: str, timeout: float = 600) -> Run:
    r = subprocess.run([str(BIN / "kbuild"), *args], cwd=REPO, capture_output=True, text=True,
                       timeout=timeout)
    return Run(r.returncode, r.stdout + r.stderr)
