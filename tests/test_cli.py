"""The commands users type, as subprocesses: messages and exit codes, never a traceback."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e import BIN, REPO, command_env, copy_site, fake_build


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=command_env(), capture_output=True, text=True,
                          timeout=300)


def _site_copy(tmp_path: Path, text: str | None = None) -> Path:
    return copy_site(tmp_path, text, link=True)


def test_check_site_on_the_repo():
    r = _run([str(BIN / "kbuild"), "check-site"], REPO)
    assert r.returncode == 0 and "profile nfsroot: x86_64 bzImage" in r.stdout


def test_no_site_file(tmp_path):
    r = _run([str(BIN / "kbuild"), "check-site"], tmp_path)
    assert r.returncode == 2
    assert "error: no kbuild.toml" in r.stderr and "Traceback" not in r.stderr


def test_bad_site_file_through_kbuild_and_doit(tmp_path):
    text = (REPO / "kbuild.toml").read_text().replace('base = "tinyconfig"', 'bsae = "tinyconfig"', 1)
    d = _site_copy(tmp_path, text)
    r = _run([str(BIN / "kbuild"), "check-site"], d)
    assert r.returncode == 2 and "unknown key 'bsae'" in r.stderr and "did you mean 'base'?" in r.stderr
    assert r.stderr.startswith("kbuild.toml:")
    shutil.copy(REPO / "dodo.py", d / "dodo.py")
    r = _run([str(BIN / "doit"), "list"], d)
    assert r.returncode == 2 and "unknown key 'bsae'" in r.stderr and "Traceback" not in r.stderr


def test_pin_rewrites_only_the_sha_line(tmp_path):
    text = (REPO / "kbuild.toml").read_text()
    real = '3051d3934d8bd1cec1b2e0c950ab9ebe958e1753fe3dd45b43fc870893189fe4'
    d = _site_copy(tmp_path, text.replace(real, "0" * 64))
    r = _run([str(BIN / "kbuild"), "pin", "xen-4.17"], d)
    assert r.returncode == 0, r.stderr
    new = (d / "kbuild.toml").read_text()
    assert new == text  # exactly the original, real pin restored, nothing else touched
    r = _run([str(BIN / "kbuild"), "pin", "kernel.org-6.1.127"], d)
    assert r.returncode == 2 and "sha256sums.asc" in r.stderr


@pytest.mark.realtree
def test_publish_dry_run_changes_nothing(tmp_path, nfsroot_config):
    """A site with nothing built says so; once nfsroot is built (here: a stand-in image
    beside the real .config of `doit config:nfsroot`, which publish verifies), a dry run
    lists what it would write and writes nothing."""
    from kbuild.site.load import load_site

    d = _site_copy(tmp_path / "site")
    target = tmp_path / "tftp"
    publish = [str(BIN / "kbuild"), "publish", "--site", str(d / "kbuild.toml"), "--to", str(target),
               "--dry-run"]
    r = _run(publish, d)
    assert r.returncode == 2 and "nothing to stage" in r.stderr and "Traceback" not in r.stderr
    site = load_site(d / "kbuild.toml")
    fake_build(site, site.profiles["nfsroot"], nfsroot_config.read_text())
    r = _run(publish, d)
    assert r.returncode == 0, r.stderr
    assert "would write  pxelinux.cfg/default" in r.stdout
    assert "would write  images/nfsroot/vmlinuz-6.1.192" in r.stdout
    assert not target.exists()
    assert not site.tftp_root.exists()


def test_rollback_without_history(tmp_path):
    r = _run([str(BIN / "kbuild"), "rollback", "--to", str(tmp_path)], REPO)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_explain_boot_needs_an_address():
    r = _run([str(BIN / "kbuild"), "explain-boot"], REPO)
    assert r.returncode == 2 and "give --mac, --ip or --uuid" in r.stderr


def test_verify_json_on_garbage(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("hello\nworld\n")
    r = _run([str(BIN / "kbuild"), "verify", str(f), "--json"], REPO)
    assert r.returncode == 2
    doc = json.loads(r.stdout)            # one document on stdout, for bad input too
    import jsonschema

    jsonschema.Draft202012Validator(json.loads((REPO / "docs/verify-schema.json").read_text())).validate(doc)
    assert (doc["status"], doc["exit_code"]) == ("error", 2)
    assert doc["errors"] == [{
        "path": str(f), "line": None, "severity": "error",
        "message": "not a kernel config: no CONFIG_ assignment in 2 line(s) "
                   "(line 1: not a Kconfig assignment: 'hello')",
        "hint": "pass a .config, a savedefconfig output or a fragment (gzip/xz/bzip2 compressed ones too)"}]
    # the same message for people, on stderr, and nothing else there
    assert r.stderr.startswith(f"{f}: error: not a kernel config") and "Traceback" not in r.stderr


# argv after `kbuild verify` that quick_args reads itself, and ones it must leave to argparse
_QUICK = [["a"], ["a", "b"], ["--json", "a"], ["a", "--json"], ["-q", "a", "--json"],
          ["--problems", "a", "b", "-q"], [""]]
_LEFT = [["a", "--json", "b"], ["--json"], [], ["a", "-"], ["a", "--js"], ["-qa"], ["--", "a"],
         ["a", "--nic", "e1000"], ["--arch", "um", "a"], ["-h"], ["a", "--json=1"]]


@pytest.mark.parametrize("words", _QUICK + _LEFT, ids=lambda w: " ".join(w) or "nothing")
def test_verify_quick_args_are_what_argparse_makes_or_left_to_it(words, capsys):
    """`kbuild verify FILE...` skips argparse (issue 13): the arguments it makes must be
    argparse's, and anything else must be left to argparse (its help, its errors)."""
    from kbuild.cli import _quick_args, build_parser

    argv = ["verify", *words]
    quick = _quick_args(argv)
    try:
        parsed: dict[str, object] | None = vars(build_parser(argv).parse_args(argv))
    except SystemExit:
        parsed = None
    capsys.readouterr()
    if words in _LEFT:
        assert quick is None
    else:
        assert parsed is not None and quick is not None and vars(quick) == parsed


def test_verify_quick_path_keeps_argparse_errors(tmp_path):
    f = tmp_path / "x.config"
    f.write_text("CONFIG_NET=y\n")
    r = _run([str(BIN / "kbuild"), "verify", str(f), "--json", str(f)], REPO)
    assert r.returncode == 2 and "unrecognized arguments" in r.stderr and r.stdout == ""
    r = _run([str(BIN / "kbuild"), "verify", "--trait", "bogus", str(f)], REPO)
    assert r.returncode == 2 and "invalid choice: 'bogus'" in r.stderr



@pytest.mark.parametrize(("args", "status"), [(["--json", "no/such.config"], 2),
                                              (["tests/corpus/config"], 141)])
def test_a_reader_that_goes_away_is_not_a_traceback(args, status, tmp_path):
    """`kbuild verify ... | head`: the reader has gone before kbuild writes (its end of the
    pipe is closed at once); that is not a traceback, and the message still reaches stderr
    (the installed script; verify skips the teardown). A bad input keeps its status 2; a
    verdict list cut off is 141, as for SIGPIPE, never 0 (docs/verify.md)."""
    err = tmp_path / "stderr"
    with open(err, "w") as errf:
        p = subprocess.Popen([str(BIN / "kbuild"), "verify", *args], cwd=REPO, env=command_env(),
                             stdout=subprocess.PIPE, stderr=errf)
        assert p.stdout is not None
        p.stdout.close()
        code = p.wait(timeout=300)
    text = err.read_text()
    assert "Traceback" not in text and "Broken pipe" not in text, text
    assert code == status
    assert "error:" in text
