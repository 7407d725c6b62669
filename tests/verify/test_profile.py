"""A profile's checks: `kbuild verify --profile` and `doit verify:` are one function, so
they give the same verdict, hosts included."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from doit.cmd_base import ModuleTaskLoader
from doit.doit_cmd import DoitMain

from kbuild import cli
from kbuild.site import layout
from kbuild.site.load import load_site
from kbuild.tasks import creators
from kbuild.verify.profile import verify_profile
from tests.tinysite import make_site
from tests.verify.test_check import GOOD, config_text

# ws02's console is hvc0: the profile's config has no HVC_XEN/VIRTIO_CONSOLE, so this
# host's entry cannot work although the profile's own entry (ttyS0) does.
HOSTS = """
[[hosts]]
name = "ws01"
mac = "52:54:00:00:00:01"
profile = "nfsroot"
nic = "e1000"

[[hosts]]
name = "ws02"
mac = "52:54:00:00:00:02"
profile = "nfsroot"
console = ["hvc0"]
"""


@pytest.fixture
def site_file(tmp_path) -> Path:
    path = make_site(tmp_path / "site", hosts=HOSTS)
    site = load_site(path)
    config = layout.config_path(site, site.profiles["nfsroot"])
    config.parent.mkdir(parents=True)
    config.write_text(config_text(GOOD))
    return path


def command(site_file: Path, *extra: str) -> tuple[int, dict]:
    """`kbuild verify --profile nfsroot --json`: exit code and the report."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["verify", "--profile", "nfsroot", "--site", str(site_file), "--json", *extra])
    return code, json.loads(out.getvalue())


def task(site_file: Path, tmp_path: Path) -> tuple[int, str]:
    """`doit verify:nfsroot` through doit's entry point: exit code and the task's report
    (--single: the tiny site's tree cannot run the configure task before it)."""
    out = tmp_path / "doit.txt"
    code = DoitMain(ModuleTaskLoader(creators), config_filenames=()).run(
        ["run", "--single", "--db-file", str(tmp_path / "db"), "--output-file", str(out),
         "verify:nfsroot", f"site={site_file}"])
    return code, out.read_text()


def test_the_command_and_the_task_give_the_same_verdict_on_a_site_with_hosts(site_file, tmp_path):
    code, doc = command(site_file)
    failed = sorted((c["subject"], c["rule"]) for c in doc["checks"] if c["verdict"] == "fail")
    assert failed == [("host ws02: any of HVC_XEN,VIRTIO_CONSOLE", "console-hvc")]
    assert (code, doc["status"]) == (1, "fail")

    doit_code, text = task(site_file, tmp_path)
    assert doit_code == 1
    assert "TaskFailed - taskid:verify:nfsroot" in text
    assert "1 root-over-NFS requirement(s) not met" in text
    assert "host ws02: any of HVC_XEN,VIRTIO_CONSOLE" in text

    report = verify_profile(load_site(site_file), load_site(site_file).profiles["nfsroot"])
    assert [(c.subject, c.rule) for c in report.failures] == failed
    assert doc["config"]["path"] == report.config == "artifacts/build/nfsroot/.config"


def test_without_the_failing_host_both_pass(site_file, tmp_path):
    site_file.write_text(site_file.read_text().replace('console = ["hvc0"]', 'console = ["ttyS1"]'))
    code, doc = command(site_file)
    assert (code, doc["status"], doc["summary"]["fail"]) == (0, "pass", 0)
    assert task(site_file, tmp_path)[0] == 0


def test_an_entry_given_on_the_command_line_replaces_the_profiles_and_its_hosts(site_file):
    code, doc = command(site_file, "--cmdline", "console=ttyS0 ip=dhcp root=/dev/nfs "
                                                 "nfsroot=10.0.2.2:/nfsroot,vers=4.2,tcp")
    assert code == 0 and doc["entry"]["source"] == "--cmdline"
    assert not [c for c in doc["checks"] if c["subject"].startswith("host ")]


def test_an_unconfigured_profile_is_the_same_error_for_both(tmp_path, capsys):
    site_file = make_site(tmp_path / "site", hosts=HOSTS)
    assert cli.main(["verify", "--profile", "nfsroot", "--site", str(site_file)]) == 2
    assert "profile 'nfsroot' is not configured yet" in capsys.readouterr().err
    with pytest.raises(Exception, match="not configured yet"):
        verify_profile(load_site(site_file), load_site(site_file).profiles["nfsroot"])
