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
