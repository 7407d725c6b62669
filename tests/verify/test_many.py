"""`kbuild verify A B C` / `kbuild verify DIR`: a verdict per file, the worst exit status,
and the same verdict as checking each file alone."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.e2e import command_env
from tests.verify.test_check import write_config

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kbuild", "verify", *args], cwd=REPO,
                          env=command_env(), capture_output=True, text=True, timeout=600)


def _configs(tmp_path: Path) -> dict[str, Path]:
    d = tmp_path / "configs"
    d.mkdir()
    good = write_config(d, name="good.config")
    bad = write_config(d, {"ROOT_NFS": "n"}, name="noroot.config")
    junk = d / "notes.txt"
    junk.write_text("shopping list\n")
    return {"good": good, "bad": bad, "junk": junk}


def test_each_file_gets_its_own_verdict_and_the_worst_exit_status(tmp_path):
    c = _configs(tmp_path)
    r = run(str(c["good"]), str(c["bad"]), "--nic", "e1000")
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"{c['good']}: PASS: ")
    assert lines[1].startswith(f"{c['bad']}: FAIL: ") and "(ROOT_NFS)" in lines[1]
    assert lines[-1] == "2 configs: 1 pass, 1 fail, 0 bad input"
    # the same verdict as a single run of each file
    alone = run(str(c["bad"]), "--nic", "e1000")
    assert alone.returncode == 1
    assert "result: " + lines[1].split(": ", 1)[1] in alone.stdout
    r = run(str(c["good"]), str(c["good"]), "--nic", "e1000")
    assert r.returncode == 0 and r.stdout.endswith("2 configs: 2 pass, 0 fail, 0 bad input\n")


def test_a_directory_is_every_file_in_it_bad_input_on_stderr(tmp_path):
    c = _configs(tmp_path)
    r = run(str(tmp_path / "configs"), "--nic", "e1000", "-q")
    assert r.returncode == 2
    assert r.stderr.startswith(f"{c['junk']}: error: not a kernel config")
    assert "Traceback" not in r.stderr
    # -q: the passing file has no line
    assert r.stdout.splitlines() == [f"{c['bad']}: FAIL: 1 of 16 checks failed (ROOT_NFS)",
                                     "3 configs: 1 pass, 1 fail, 1 bad input"]
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run(str(empty))
    assert r.returncode == 2 and "no config files in this directory" in r.stderr


def test_json_is_one_document_with_a_report_per_file(tmp_path):
    c = _configs(tmp_path)
    r = run(str(tmp_path / "configs"), "--json", "--nic", "e1000")
    doc = json.loads(r.stdout)
    assert r.returncode == doc["exit_code"] == 2
    by_path = {item["path"]: item for item in doc["configs"]}
    assert by_path[str(c["good"])]["status"] == "pass"
    assert by_path[str(c["bad"])]["status"] == "fail"
    assert by_path[str(c["junk"])]["status"] == "error"
    assert by_path[str(c["junk"])]["errors"][0]["message"].startswith("not a kernel config")


def test_options_that_name_one_config_are_refused_with_several(tmp_path):
    c = _configs(tmp_path)
    r = run(str(c["good"]), str(c["bad"]), "--fix", str(tmp_path / "fix.config"))
    assert r.returncode == 2 and "--fix checks one config" in r.stderr


def _mixed_dir(tmp_path: Path) -> Path:
    """Enough files for the parallel path: passes, failures and bad input, interleaved."""
    d = tmp_path / "mixed"
    d.mkdir()
    for i in range(11):
        if i % 3 == 0:
            write_config(d, name=f"{i:02d}-good.config")
        elif i % 3 == 1:
            write_config(d, {"ROOT_NFS": "n"}, name=f"{i:02d}-noroot.config")
        else:
            (d / f"{i:02d}-junk.config").write_text(f"not a config, line {i}\n")
    return d


def test_parallel_checks_print_exactly_what_one_process_prints(tmp_path):
    """KBUILD_VERIFY_JOBS=3 forks two children; stdout, stderr and the exit status are
    those of one process, byte for byte, with and without --json and -q."""
    d = _mixed_dir(tmp_path)
    for extra in ([], ["-q"], ["--json"]):
        runs = {}
        for jobs in ("1", "3"):
            runs[jobs] = subprocess.run([sys.executable, "-m", "kbuild", "verify", str(d), "--nic", "e1000",
                                         *extra], cwd=REPO, env={**command_env(), "KBUILD_VERIFY_JOBS": jobs},
                                        capture_output=True, text=True, timeout=600)
        one, three = runs["1"], runs["3"]
        assert one.returncode == 2, one.stderr
        assert "11 configs: 4 pass, 4 fail, 3 bad input" in one.stdout or '"exit_code": 2' in one.stdout
        assert (three.returncode, three.stdout, three.stderr) == (one.returncode, one.stdout, one.stderr)


def test_a_bad_jobs_variable_is_bad_input(tmp_path):
    d = _mixed_dir(tmp_path)
    r = subprocess.run([sys.executable, "-m", "kbuild", "verify", str(d)], cwd=REPO,
                       env={**command_env(), "KBUILD_VERIFY_JOBS": "two"}, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 2 and "KBUILD_VERIFY_JOBS='two'" in r.stderr and "Traceback" not in r.stderr


def test_a_child_that_dies_is_not_trusted(tmp_path, monkeypatch):
    """A child killed mid-way (or failing with a bug) has its files checked again in the
    parent: the results are those of one process, and a bug surfaces as without children."""
    import argparse
    import os
    import signal

    from kbuild.commands import verify_many
    from kbuild.rules.load import load_rules

    d = _mixed_dir(tmp_path)
    files = verify_many.config_files([str(d)])
    args = argparse.Namespace(kernel_version=None, arch=None, srctree=None, trait=[], json=False,
                              problems=False)
    options = verify_many.Options(None, ["e1000"], load_rules(), None)
    alone = [verify_many._check(p, args, options) for p in files]
    parent = os.getpid()
    real = verify_many._check

    def dies_in_children(path, a, o):
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(path, a, o)

    monkeypatch.setattr(verify_many, "_check", dies_in_children)
    assert verify_many._parallel(files, 3, args, options) == alone

    def bug(path, a, o):
        raise RuntimeError("a bug in a check")

    monkeypatch.setattr(verify_many, "_check", bug)
    try:
        verify_many._parallel(files, 3, args, options)
    except RuntimeError as e:
        assert "a bug in a check" in str(e)
    else:
        raise AssertionError("the bug was hidden")


def test_shares_balance_bytes_when_big_and_small_files_alternate(tmp_path):
    from kbuild.commands.verify_many import _shares

    files = []
    for i in range(40):
        f = tmp_path / f"{i:02d}.config"
        f.write_bytes(b"x" * (100_000 if i % 2 == 0 else 100))
        files.append(str(f))
    files.append(str(tmp_path / "missing.config"))
    parts = _shares(files, 2)
    assert sorted(i for p in parts for i in p) == list(range(len(files)))   # each file once
    assert all(p == sorted(p) for p in parts)
    big = [sum(1 for i in p if i % 2 == 0 and i < 40) for p in parts]
    assert big == [10, 10]              # not all 20 big files in one process (i % 2 would)
