"""The task creators run through doit's own entry point (DoitMain with a ModuleTaskLoader),
on a tiny site: what `doit list` shows, a task run twice (success, then up-to-date, also
with processes), a bad site ending doit with exit 2 and one message, and the file
dependencies that come from the package's files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from doit.cmd_base import ModuleTaskLoader
from doit.doit_cmd import DoitMain, reset_vars

from kbuild.tasks import creators
from tests.e2e import REPO
from tests.tinysite import make_site


def doit(*args: str) -> int:
    """doit's command line, with the task creators of kbuild.tasks.creators as the dodo."""
    return DoitMain(ModuleTaskLoader(creators), config_filenames=()).run(list(args))


@pytest.fixture
def site(tmp_path) -> Path:
    return make_site(tmp_path / "site")


def test_doit_list_all_shows_every_stage_and_subtask(site, tmp_path, capsys):
    assert doit("list", "--all", "--db-file", str(tmp_path / "db"), f"site={site}") == 0
    shown = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert shown == {
        "boot": "Boot the staged profile for real (QEMU PXE or UML) and wait for init's marker",
        "boot:nfsroot": "boot nfsroot with root over NFS via QEMU PXE (TCG)",
        "build": "Build the kernel image out of tree (make O=…, ccache, log in artifacts/logs)",
        "build:nfsroot": "build nfsroot's bzImage in artifacts/build/nfsroot",
        "config": "Merge base + fragments with kconfiglib; fail before building if a value did not stick",
        "config:nfsroot": "configure nfsroot: tinyconfig + 1 fragments (x86_64)",
        "fetch": "Download a source (a Debian package from the signed index, or http/https/file) "
                 "into the cache",
        "fetch:tiny": f"fetch linux-tiny.tar.xz (sha256 {creators_site_sha(site)[:12]}…) (kernel)",
        "kernel": "Everything for one profile: fetch, unpack, configure, verify, build, stage",
        "kernel:nfsroot": "tiny test client (x86_64, bzImage)",
        "patch": "Apply a patch series to a hard-linked copy of a source tree (shared by profiles)",
        "stage": "Publish the built kernels and boot entries into artifacts/tftpboot",
        "stage:nfsroot": "stage nfsroot (and every other built profile) into artifacts/tftpboot",
        "unpack": "Unpack a kernel source tarball safely (data filter, temp dir + rename)",
        "unpack:tiny": f"unpack linux-tiny.tar.xz into artifacts/src/tiny-{creators_site_sha(site)[:12]}",
        "verify": "Check a profile's .config against the root-over-NFS rules and its boot entry",
        "verify:nfsroot": "verify nfsroot's .config: NFS root, IP autoconfig, NIC, console",
    }


def creators_site_sha(site: Path) -> str:
    import hashlib

    return hashlib.sha256((site.parent / "linux-tiny.tar.xz").read_bytes()).hexdigest()


def _results(path: Path) -> dict[str, str]:
    return {t["name"]: t["result"] for t in json.loads(path.read_text())["tasks"]}


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_task_runs_then_is_up_to_date(site, tmp_path, processes):
    """`-n 2` runs the actions in other processes: they must pickle (guarded actions too)."""
    db, out = str(tmp_path / "db"), tmp_path / "out.json"
    run = ("run", "-n", processes, "--db-file", db, "--reporter", "json", "--output-file", str(out),
           "unpack:tiny", f"site={site}")
    assert doit(*run) == 0
    assert _results(out) == {"fetch:tiny": "success", "unpack:tiny": "success"}
    tree = next((site.parent / "artifacts" / "src").iterdir())
    assert (tree / "Makefile").read_text().startswith("VERSION = 6")
    assert doit(*run) == 0
    assert _results(out) == {"fetch:tiny": "up-to-date", "unpack:tiny": "up-to-date"}


def test_a_failing_action_fails_its_task_with_the_message_not_a_traceback(site, tmp_path):
    """config:nfsroot on the tiny tree (no Kconfig): the guard turns the UserError into
    TaskFailed with the message, and the tasks after it do not run."""
    report = tmp_path / "report.txt"
    assert doit("run", "--db-file", str(tmp_path / "db"), "--output-file", str(report),
                "verify:nfsroot", f"site={site}") == 1
    text = report.read_text()
    assert "TaskFailed - taskid:config:nfsroot" in text
    assert "error: no Kconfig file: not a kernel source tree" in text
    assert "fix: point --srctree at the top of an unpacked kernel source" in text
    assert "Traceback" not in text and ".  verify:nfsroot" not in text


def test_a_bad_site_ends_doit_with_exit_2_and_the_message(tmp_path, capfd):
    bad = make_site(tmp_path / "bad")
    bad.write_text(bad.read_text().replace('base = "tinyconfig"', 'bsae = "tinyconfig"'))
    with pytest.raises(SystemExit) as e:
        doit("list", "--db-file", str(tmp_path / "db"), f"site={bad}")
    assert e.value.code == 2
    err = capfd.readouterr().err
    assert err.startswith("kbuild.toml:") and "unknown key 'bsae'" in err and "Traceback" not in err


def test_file_dependencies_are_the_package_files_of_each_stage(site, monkeypatch):
    reset_vars()
    monkeypatch.setenv("KBUILD_SITE", str(site))
    kbuild = REPO / "kbuild"

    def deps(creator) -> set[str]:
        (task,) = [t for t in creator() if t["name"] == "nfsroot"]
        return {str(Path(f).relative_to(kbuild)) for f in task["file_dep"] if Path(f).is_relative_to(kbuild)}

    def files(package: str, pattern: str = "*.py") -> set[str]:
        return {f"{package}/{p.name}" for p in (kbuild / package).glob(pattern)}

    # the module that does configure (was missed by the hand-kept list) is among them
    assert "build/configure.py" in deps(creators.task_config)
    assert deps(creators.task_config) == files("build") | files("kconfig") | files("site")
    assert deps(creators.task_verify) == (files("verify") | files("rules") | files("boot") | files("kconfig")
                                          | files("rules", "*.toml"))
    assert deps(creators.task_stage) == files("publish") | files("boot")


def test_only_the_sources_of_the_requested_tasks_are_resolved_when_not_cached(tmp_path):
    from kbuild.site.load import load_site
    from kbuild.tasks.actions import requested_tasks, sources_needed

    site = load_site(make_site(tmp_path / "site"))
    profile = next(iter(site.profiles.values()))
    assert requested_tasks(["/x/.venv/bin/doit", "config:" + profile.name, "locked=1"]) \
        == ["config:" + profile.name]
    assert requested_tasks(["/x/.venv/bin/doit", "list", "--all"]) == []
    assert requested_tasks(["/x/.venv/bin/doit"]) is None            # default tasks: all
    assert requested_tasks(["/usr/bin/pytest", "config:x"]) is None  # not doit's command line
    assert sources_needed(site, ["config:" + profile.name, "fetch:" + profile.source]) \
        == {profile.source}
    assert sources_needed(site, []) == set()
    assert sources_needed(site, ["config:no-such-profile"]) is None
    assert sources_needed(site, ["stage"]) is None                     # every profile's stage


def test_a_kernel_task_needs_its_profiles_sources_and_those_of_built_profiles(tmp_path):
    """`doit kernel:P` stages every built profile: their sources (Xen's for a dom0) count,
    a profile never built does not (its deb source is not looked up on every no-op)."""
    import shutil

    from kbuild.site import layout
    from kbuild.site.load import load_site
    from kbuild.tasks.actions import sources_needed

    for name in ("fragments", "patches"):
        (tmp_path / name).symlink_to(REPO / name)
    shutil.copy(REPO / "kbuild.lock", tmp_path / "kbuild.lock")
    shutil.copy(REPO / "kbuild.toml", tmp_path / "kbuild.toml")
    site = load_site(tmp_path / "kbuild.toml")
    nfsroot, dom0 = site.profiles["nfsroot"], site.profiles["dom0"]
    assert dom0.xen is not None
    assert sources_needed(site, ["kernel:nfsroot"]) == {nfsroot.source}
    assert sources_needed(site, ["kernel:dom0"]) == {dom0.source, dom0.xen.hypervisor}
    record = layout.build_record(site, dom0)
    record.parent.mkdir(parents=True)
    record.write_text("{}")
    assert sources_needed(site, ["kernel:nfsroot"]) == {nfsroot.source, dom0.source, dom0.xen.hypervisor}
    assert sources_needed(site, ["boot:nfsroot", "stage:nfsroot"]) == sources_needed(site, ["kernel:nfsroot"])


def test_build_overrides_on_the_doit_command_line_reach_the_build(site, tmp_path, monkeypatch):
    """`doit engine=… build:P`: the command-line variable reaches the build and wins over
    the environment (a bad value in each: the message names the command-line one)."""
    from kbuild.site.load import load_site
    from tests.e2e import fake_build

    db, report = str(tmp_path / "db"), tmp_path / "report.txt"
    try:
        assert doit("run", "--db-file", db, "unpack:tiny", f"site={site}") == 0
        s = load_site(site)
        fake_build(s, s.profiles["nfsroot"], "CONFIG_NET=y\n")
        monkeypatch.setenv("KBUILD_BUILD_ENGINE", "bogus-from-env")
        assert doit("run", "-s", "--db-file", db, "--output-file", str(report), "build:nfsroot",
                    f"site={site}", "engine=bogus-from-cmdline") == 1
    finally:
        reset_vars()
    text = report.read_text()
    assert "engine='bogus-from-cmdline' is not one of local, distcc" in text
    assert "bogus-from-env" not in text and "Traceback" not in text
