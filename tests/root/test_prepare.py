"""``kbuild root prepare``: moves, dry run, idempotence, hostile trees, SIGKILL at every
step (completed by a re-run, or undone), undo."""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kbuild import cli
from kbuild.errors import UserError
from kbuild.root import prepare as rp

REPO = Path(__file__).resolve().parents[2]
PATHS = ("/var/log", "/var/tmp", "/tmp", "/var/lib/misc", "/etc/kbuild")


def make_tree(root: Path) -> Path:
    """A small root: some declared paths exist with content, some do not."""
    for d in ("bin", "etc/kbuild", "var/log/apt", "var/lib", "tmp", "usr/sbin"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "etc/kbuild/a.conf").write_text("a\n")
    (root / "var/log/syslog").write_text("log line\n")
    (root / "var/log/apt/history.log").write_text("history\n")
    (root / "tmp/.hidden").write_text("x")
    os.symlink("/etc/kbuild/a.conf", root / "var/log/abs-link")       # absolute: stays inside
    os.symlink("apt/history.log", root / "var/log/rel-link")
    os.symlink("usr/sbin", root / "sbin")                             # Debian's merged /usr
    return root


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under root: type and content (files), target (links), mode (dirs)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = os.lstat(p)
            if p.is_symlink():
                out[rel] = "link " + os.readlink(p)
            elif p.is_dir():
                out[rel] = f"dir {st.st_mode:o}"
            else:
                out[rel] = "file " + p.read_text()
    return out


def resolve_in(root: Path, rel: str) -> Path:
    """A path as a client or chroot sees it (absolute link targets inside the root)."""
    cur = root
    for part in rel.split("/"):
        cur = cur / part
        for _ in range(8):
            if not cur.is_symlink():
                break
            target = os.readlink(cur)
            cur = root / target.lstrip("/") if target.startswith("/") else cur.parent / target
    return cur


def contents(d: Path) -> dict[str, str]:
    return {k: v for k, v in snapshot(d).items()} if d.is_dir() else {"<missing>": ""}


def test_prepare_moves_links_is_idempotent_and_undoes(tmp_path):
    root = make_tree(tmp_path / "root")
    before = snapshot(root)
    dry = rp.prepare(root, PATHS, dry_run=True)
    assert snapshot(root) == before                      # a dry run changes nothing
    assert dry.lines() == [
        "would move /var/log -> /flash/var/log, link /var/log -> /flash/var/log",
        "would create /flash/var/tmp, link /var/tmp -> /flash/var/tmp",
        "would move /tmp -> /flash/tmp, link /tmp -> /flash/tmp",
        "would create /flash/var/lib/misc, link /var/lib/misc -> /flash/var/lib/misc",
        "would move /etc/kbuild -> /flash/etc/kbuild, link /etc/kbuild -> /flash/etc/kbuild",
        "would install the early-boot program as /usr/sbin/kbuild-root"]
    rp.prepare(root, PATHS)
    for p in PATHS:
        rel = p.lstrip("/")
        assert os.readlink(root / rel) == f"/flash/{rel}"
        assert (root / "flash" / rel).is_dir()
    assert (root / "flash/var/log/syslog").read_text() == "log line\n"
    assert os.readlink(root / "flash/var/log/abs-link") == "/etc/kbuild/a.conf"
    prog = root / "usr/sbin/kbuild-root"                 # through the merged-/usr link
    assert prog.read_bytes() == rp.program_text() and os.access(prog, os.X_OK)
    after = snapshot(root)
    assert rp.prepare(root, PATHS).steps == []           # idempotent
    assert snapshot(root) == after
    rp.undo(root)
    assert snapshot(root) == before


@pytest.mark.parametrize("case,message", [
    ("link-out", "symlink {root}/var/log/escape -> ../../../etc/shadow points out of the tree"),
    ("declared-file", "/var/log is a file, not a directory"),
    ("declared-link", "/var/log is a symlink to ../../outside (out of the tree)"),
    ("parent-link", "/var/log: its parent {root}/var is a symlink (-> /elsewhere)"),
    ("unreadable", "directory {root}/var/log/private is unreadable (mode 000)"),
    ("outside", "writable path '/var/../../etc' is not a plain path inside the tree"),
    ("kernel-owned", "writable path '/proc/x' cannot be moved to /flash"),
    ("flash-file", "{root}/flash exists and is not a directory"),
])
def test_hostile_trees_are_refused_and_left_unchanged(tmp_path, capsys, case, message):
    root = make_tree(tmp_path / "root")
    paths = ["/tmp", "/var/log"]
    if case == "link-out":
        os.symlink("../../../etc/shadow", root / "var/log/escape")
    elif case == "declared-file":
        shutil.rmtree(root / "var/log")
        (root / "var/log").write_text("a file\n")
    elif case == "declared-link":
        shutil.rmtree(root / "var/log")
        os.symlink("../../outside", root / "var/log")
    elif case == "parent-link":
        shutil.rmtree(root / "var")
        os.symlink("/elsewhere", root / "var")
    elif case == "unreadable":
        (root / "var/log/private").mkdir(mode=0o000)
        os.chmod(root / "var/log/private", 0o000)
    elif case == "outside":
        paths = ["/tmp", "/var/../../etc"]
    elif case == "kernel-owned":
        paths = ["/tmp", "/proc/x"]
    elif case == "flash-file":
        (root / "flash").write_text("not a dir")
    before = snapshot(root)
    code = cli.main(["root", "prepare", str(root), *[f"--path={p}" for p in paths]])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message.format(root=root) in err, err
    assert "fix: " in err or case in ("outside",) or "hint" not in err
    assert "Traceback" not in err
    assert snapshot(root) == before                      # a refused prepare changes nothing
    assert not (root / rp.JOURNAL).exists()


def test_undo_without_journal_is_a_clear_error(tmp_path, capsys):
    root = make_tree(tmp_path / "root")
    assert cli.main(["root", "prepare", str(root), "--undo"]) == 2
    assert "has no .kbuild-root.journal: nothing kbuild did to undo" in capsys.readouterr().err


def test_overlay_mode_only_installs_the_program_and_run(tmp_path):
    root = make_tree(tmp_path / "root")
    out = rp.prepare(root, mode="overlay")
    assert [s.kind for s in out.steps] == ["mkdir", "install"]
    assert (root / "run").is_dir() and not (root / "flash").exists()
    assert os.readlink(root / "var/log") if (root / "var/log").is_symlink() else True
    assert (root / "var/log/syslog").read_text() == "log line\n"


# The child prepares the tree and SIGKILLs itself at the K-th file-system call it makes
# (before or after the call): every point of a prepare is a possible death.
_CHILD = """
import os, signal, sys
from pathlib import Path
from kbuild.root import prepare as rp
k, when, root = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
paths = tuple(sys.argv[4:])
n = 0
def wrap(mod, name):
    real = getattr(mod, name)
    def f(*a, **kw):
        global n
        n += 1
        if n == k and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        r = real(*a, **kw)
        if n == k and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return r
    setattr(mod, name, f)
for name in ("mkdir", "symlink", "replace", "write", "fsync", "unlink", "rename", "chmod"):
    wrap(os, name)
wrap(rp, "_exchange")
rp.prepare(root, paths)
print(n)
"""


def _child(k: int, when: str, root: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", _CHILD, str(k), when, str(root), *PATHS],
                          capture_output=True, text=True, env=env)


def test_sigkill_at_every_step_is_completed_or_undone(tmp_path):
    """SIGKILL at 48 random file-system calls of a prepare (before or after each call);
    after each death the tree is usable (every declared path resolves to its original
    content), a re-run completes it or --undo restores the original exactly."""
    pristine = make_tree(tmp_path / "pristine")
    original = snapshot(pristine)
    full = {p: contents(resolve_in(pristine, p.lstrip("/"))) for p in PATHS}
    probe = tmp_path / "probe"
    subprocess.run(["cp", "-a", str(pristine), str(probe)], check=True)
    r = _child(0, "never", probe)
    assert r.returncode == 0, r.stderr
    calls = int(r.stdout)
    assert calls > 20
    points = [(k, w) for k in range(1, calls + 1) for w in ("before", "after")]
    points = random.Random(11).sample(points, min(len(points), 48))   # random points, fixed seed
    deaths = 0
    for i, (k, when) in enumerate(points):
        root = tmp_path / f"t{i}"
        subprocess.run(["cp", "-a", str(pristine), str(root)], check=True)
        r = _child(k, when, root)
        assert r.returncode == -signal.SIGKILL, (k, when, r.stderr)
        deaths += 1
        for p in PATHS:                                   # usable: clients and chroot
            now = contents(resolve_in(root, p.lstrip("/")))
            if full[p] != {"<missing>": ""}:
                assert now == full[p], (k, when, p)
        if i % 2:
            rp.prepare(root, PATHS)
            assert rp.prepare(root, PATHS).steps == []
            for p in PATHS:
                assert contents(resolve_in(root, p.lstrip("/"))) == contents(resolve_in(probe, p.lstrip("/")))
            assert snapshot(root) == snapshot(probe) | {rp.JOURNAL: snapshot(root)[rp.JOURNAL]}
        else:
            if (root / rp.JOURNAL).exists():
                rp.undo(root)
            assert snapshot(root) == original, (k, when)
    assert deaths == len(points)


def test_journal_lines_are_json_and_name_every_move(tmp_path):
    root = make_tree(tmp_path / "root")
    rp.prepare(root, PATHS)
    recs = [json.loads(line) for line in (root / rp.JOURNAL).read_text().splitlines()]
    assert [r["path"] for r in recs if r["op"] in ("move", "create")] == [
        "var/log", "var/tmp", "tmp", "var/lib/misc", "etc/kbuild"]
    assert recs[-1] == {"op": "complete"}


def test_refused_without_a_directory(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert cli.main(["root", "prepare", str(f)]) == 2
    assert f"{f} is not a directory" in capsys.readouterr().err
    with pytest.raises(UserError, match="overlap"):
        rp.plan(make_tree(tmp_path / "r"), ("/var", "/var/log"))


@pytest.mark.parametrize("shell", [["dash", "-n"], ["busybox", "sh", "-n"]])
def test_the_early_boot_program_parses_as_posix_sh(tmp_path, shell):
    prog = tmp_path / "kbuild-root"
    prog.write_bytes(rp.program_text())
    r = subprocess.run([*shell, str(prog)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert rp.program_text().startswith(b"#!/bin/sh\n")
