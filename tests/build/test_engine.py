"""The compile engine: per-run overrides, reachability with bounded timeouts, the one
warning of an unreachable pool, and distcc's log read back."""
from __future__ import annotations

import socket

import pytest

from kbuild.build import engine
from kbuild.errors import UserError
from kbuild.site.model import BuildConfig


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_overrides_from_the_environment():
    cfg = engine.effective_config(BuildConfig(), {
        engine.ENV_ENGINE: "distcc", engine.ENV_HOSTS: "10.0.0.1/8 10.0.0.2:4000",
        engine.ENV_JOBS: "12", engine.ENV_REMOTE: "redis://c:6379"})
    assert cfg == BuildConfig("distcc", ("10.0.0.1/8", "10.0.0.2:4000"), 12, "redis://c:6379")
    back = engine.effective_config(cfg, {engine.ENV_ENGINE: "local", engine.ENV_REMOTE: "none"})
    assert back.engine == "local" and back.ccache_remote is None


def test_run_variables_win_over_the_environment_which_wins_over_build():
    site_cfg = BuildConfig("distcc", ("10.0.0.9/4",), None, "redis://site:6379")
    env = {engine.ENV_ENGINE: "local", engine.ENV_JOBS: "3", engine.ENV_REMOTE: "redis://env:6379"}
    assert engine.effective_config(site_cfg, env) == BuildConfig("local", ("10.0.0.9/4",), 3,
                                                                 "redis://env:6379")
    cfg = engine.effective_config(site_cfg, env, {"engine": "distcc", "distcc_hosts": "h1/2 h2/2",
                                                  "build_jobs": None, "ccache_remote": "none"})
    assert cfg == BuildConfig("distcc", ("h1/2", "h2/2"), 3, None)
    assert set(engine.RUN_VARIABLES) == {"engine", "distcc_hosts", "build_jobs", "ccache_remote"}


def test_a_bad_run_variable_is_named_as_given():
    with pytest.raises(UserError) as exc:
        engine.effective_config(BuildConfig(), {engine.ENV_JOBS: "-3"}, {"build_jobs": "many"})
    assert "build_jobs='many' is not a number of jobs" in str(exc.value)


@pytest.mark.parametrize("env, needle", [
    ({engine.ENV_ENGINE: "icecream"}, "is not one of local, distcc"),
    ({engine.ENV_ENGINE: "distcc"}, "engine distcc has no hosts"),
    ({engine.ENV_HOSTS: "a:0"}, "port outside"),
    ({engine.ENV_JOBS: "-3"}, "is not a number of jobs"),
    ({engine.ENV_REMOTE: "redis//x"}, "has scheme"),
])
def test_bad_overrides_are_user_errors(env, needle):
    with pytest.raises(UserError) as exc:
        engine.effective_config(BuildConfig(), env)
    assert needle in str(exc.value)


def test_host_address_defaults():
    assert engine.host_address("h") == ("h", 3632, 4)
    assert engine.host_address("10.0.0.1:4000/8") == ("10.0.0.1", 4000, 8)


def test_local_plan(tmp_path):
    plan = engine.plan_engine(BuildConfig(), 2, tmp_path)
    assert (plan.engine, plan.jobs, plan.env, plan.warnings) == ("local", 2, {}, [])


def test_unreachable_pool_falls_back_with_one_warning(tmp_path):
    port = _closed_port()
    cfg = BuildConfig("distcc", (f"127.0.0.1:{port}/4", f"127.0.0.1:{_closed_port()}"),
                      connect_timeout=0.3)
    plan = engine.plan_engine(cfg, 2, tmp_path)
    assert plan.engine == "local" and plan.jobs == 2 and plan.env == {}
    assert len(plan.warnings) == 1
    assert plan.warnings[0].startswith("distcc pool unreachable: ")
    assert "compiling locally" in plan.warnings[0]


def test_reachable_hosts_set_distcc_and_jobs(tmp_path):
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        dead = _closed_port()
        cfg = BuildConfig("distcc", (f"127.0.0.1:{port}/3", f"127.0.0.1:{dead}/5"))
        plan = engine.plan_engine(cfg, 2, tmp_path)
    assert plan.engine == "distcc" and plan.hosts == (f"127.0.0.1:{port}/3",)
    assert plan.jobs == 3 + 2
    assert plan.env["CCACHE_PREFIX"] == "distcc"
    assert plan.env["DISTCC_HOSTS"] == f"127.0.0.1:{port}/3"
    assert plan.warnings == [f"distcc hosts unreachable, left out: 127.0.0.1:{dead}/5 "
                             "(Connection refused)"]


def test_distcc_log(tmp_path):
    log = tmp_path / "distcc.log"
    log.write_text(
        "distcc[1] cpp /s/a.c on localhost completed ok\n"
        "distcc[1] compile /s/a.c on 192.0.2.11:3632/2 completed ok\n"
        "distcc[2] compile /s/b.c on 192.0.2.12:3632/2 completed ok\n"
        "distcc[3] compile /s/c.c on 192.0.2.12:3632/2 completed ok\n"
        "distcc[4] (dcc_build_somewhere) Warning: failed to distribute /s/d.c to 192.0.2.11:3632/2, "
        "running locally instead\n"
        "distcc[4] compile /s/d.c on localhost completed ok\n"
        "distcc[5] compile (null) on localhost completed ok\n")   # a probe, not a compile
    r = engine.read_distcc_log(log)
    assert r.remote_by_host == {"192.0.2.11:3632": 1, "192.0.2.12:3632": 2}
    assert r.remote == 3 and r.local == 1
