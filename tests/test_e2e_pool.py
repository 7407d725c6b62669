"""One read-only root for a pool (issue 11): 16 UML clients boot one export of
nfs-ganesha at the same time, in ro-shared and in overlay mode, each with its own MAC,
IP and hostname. Each keeps its own token in RAM; no client can write the shared root,
not even after remounting it read-write (the server refuses: the control run with a
read-write export shows the same write succeeding); the export is byte-identical
afterwards."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from kbuild.lab.pool import boot_pool

pytestmark = [pytest.mark.build, pytest.mark.boot]

N = 16


@pytest.fixture
def built(work_site):
    work_site.kernel("uml")
    return work_site.site


@pytest.mark.parametrize("mode", ["ro-shared", "overlay"])
def test_pool_of_16_clients_on_one_read_only_root(built, mode, capsys):
    site = built
    result = boot_pool(site, site.profile("uml"), mode, n=N)
    with capsys.disabled():
        print("\n" + result.summary())
    assert result.failures == {}, result.summary()
    assert result.n == N and result.all_up_seconds is not None and result.tree_unchanged
    tokens, hosts = set(), set()
    for name, console in result.consoles.items():
        text = Path(console).read_text(errors="replace")
        m = re.search(rf"kbuild-pool: {name} ram-token ({name}-[0-9a-f-]+)", text)
        assert m, text[-2000:]
        tokens.add(m.group(1))
        hosts.add(re.search(r"kbuild-root: \S+: .* for (\S+)", text).group(1))   # the ip= hostname
        assert "Read-only file system" in text.split(f"{name} shared-write refused")[1].split("\n")[0] \
            or "Read-only file system" in text.split(f"{name} server-refused")[1].split("\n")[0]
        assert f"ro init=/sbin/kbuild-root kbroot={mode} kbroot_init=/init" in text
    assert len(tokens) == N and hosts == set(result.consoles)


def test_rw_export_control_lets_a_remounted_client_write(built):
    """The same check against a read-write export: the remounted client's write goes
    through, so the refusal in the pool comes from the server's read-only export."""
    site = built
    result = boot_pool(site, site.profile("uml"), "ro-shared", n=1, access="RW")
    text = Path(result.consoles["pool00"]).read_text(errors="replace")
    assert "kbuild-pool: pool00 shared-write refused" in text      # the ro mount still holds
    assert "kbuild-pool: pool00 FAIL the server accepted a write" in text
    assert not result.tree_unchanged                                 # it did write the export
