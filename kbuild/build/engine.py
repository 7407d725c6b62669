"""Where compiles run: locally, or over a distcc pool with ccache in front.

kbuild sets distcc's environment (``DISTCC_HOSTS``, ``CCACHE_PREFIX=distcc``) and a ``-j``
the pool can take; it probes every host with a bounded TCP connect first, so a dead pool
means one warning and a local build, never a hang. What ran where is read back from
distcc's own log (``DISTCC_LOG``)."""
from __future__ import annotations

import os
import re
import shutil
import socket
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from kbuild.errors import UserError
from kbuild.site.load_build import HOST_SPEC, host_problem, remote_problem
from kbuild.site.model import BUILD_ENGINES, BuildConfig

DISTCC_PORT = 3632
DISTCC_DEFAULT_LIMIT = 4      # distcc's own default for a remote host
# Per-run overrides of [build]: the environment (`KBUILD_BUILD_ENGINE=local doit ...`), and
# over it doit's command-line variables (`doit engine=local kernel:dom0`)
ENV_ENGINE = "KBUILD_BUILD_ENGINE"
ENV_HOSTS = "KBUILD_DISTCC_HOSTS"
ENV_JOBS = "KBUILD_BUILD_JOBS"
ENV_REMOTE = "KBUILD_CCACHE_REMOTE"
RUN_VARIABLES = {"engine": ENV_ENGINE, "distcc_hosts": ENV_HOSTS, "build_jobs": ENV_JOBS,
                 "ccache_remote": ENV_REMOTE}


@dataclass
class EnginePlan:
    """What a build runs with: the engine, reachable hosts, ``-j``, extra environment,
    and the warnings to show once (an unreachable pool)."""

    engine: str
    jobs: int
    hosts: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    distcc_log: Path | None = None


@dataclass
class DistccReport:
    """Compiles distcc finished on each host, and those it ran locally after a failure."""

    remote_by_host: dict[str, int]
    local: int

    @property
    def remote(self) -> int:
        return sum(self.remote_by_host.values())


def effective_config(cfg: BuildConfig, environ: Mapping[str, str] | None = None,
                     run_vars: Mapping[str, str | None] | None = None) -> BuildConfig:
    """``[build]`` with the per-run overrides applied (checked): doit's command-line
    variables (``run_vars``, see RUN_VARIABLES) win over the environment, which wins over
    the site's ``[build]``."""
    env = os.environ if environ is None else environ
    given = run_vars or {}

    def pick(var: str, env_name: str) -> tuple[str, str | None]:
        """(the name to show in a message, the value) of one knob, None when not given."""
        value = given.get(var)
        if value is not None:
            return var, value
        return env_name, env.get(env_name)

    out = cfg
    name, engine = pick("engine", ENV_ENGINE)
    if engine:
        if engine not in BUILD_ENGINES:
            raise UserError(f"{name}={engine!r} is not one of {', '.join(BUILD_ENGINES)}",
                            hint=f"leave out {name} to use [build] engine")
        out = replace(out, engine=engine)
    name, hosts = pick("distcc_hosts", ENV_HOSTS)
    if hosts:
        specs = tuple(hosts.split())
        for spec in specs:
            problem = host_problem(spec)
            if problem:
                raise UserError(f"{name}: {spec[:70]!r} {problem}",
                                hint="write hosts as HOST[:PORT][/LIMIT], separated by spaces")
        out = replace(out, hosts=specs)
    name, jobs = pick("build_jobs", ENV_JOBS)
    if jobs:
        if not (jobs.isascii() and jobs.isdigit() and 0 < int(jobs) <= 4096):
            raise UserError(f"{name}={jobs[:20]!r} is not a number of jobs (1-4096)")
        out = replace(out, jobs=int(jobs))
    name, remote = pick("ccache_remote", ENV_REMOTE)
    if remote is not None:
        if remote in ("", "none"):
            out = replace(out, ccache_remote=None)
        else:
            problem = remote_problem(remote)
            if problem:
                raise UserError(f"{name} {problem}",
                                hint='give "redis://HOST[:PORT]" or "http://HOST[:PORT]/PATH"')
            out = replace(out, ccache_remote=remote)
    if out.engine == "distcc" and not out.hosts:
        raise UserError("engine distcc has no hosts",
                        hint=f"set [build] hosts, distcc_hosts=\"HOST/LIMIT ...\" on the doit "
                             f"command line or {ENV_HOSTS}")
    return out


def host_address(spec: str) -> tuple[str, int, int]:
    """(host, port, job limit) of a distcc host spec."""
    m = HOST_SPEC.match(spec)
    assert m is not None, spec   # validated when the site or override was read
    return (m.group("host"), int(m.group("port") or DISTCC_PORT),
            int(m.group("limit") or DISTCC_DEFAULT_LIMIT))


def reachable(host: str, port: int, timeout: float) -> str | None:
    """None when a TCP connection opens within ``timeout`` seconds, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except OSError as e:
        return e.strerror or str(e)


def plan_engine(cfg: BuildConfig, local_jobs: int, log_dir: Path) -> EnginePlan:
    """The engine a build runs with. An unreachable pool gives a local plan with one warning."""
    if cfg.engine != "distcc":
        return EnginePlan("local", cfg.jobs or local_jobs)
    if shutil.which("distcc") is None:
        return EnginePlan("local", cfg.jobs or local_jobs, warnings=[
            "distcc is not installed; compiling locally (run scripts/setup)"])
    addrs = [host_address(spec) for spec in cfg.hosts]
    with ThreadPoolExecutor(max_workers=min(16, len(addrs))) as pool:
        why = list(pool.map(lambda a: reachable(a[0], a[1], cfg.connect_timeout), addrs))
    up = tuple(spec for spec, w in zip(cfg.hosts, why, strict=True) if w is None)
    down = [f"{spec} ({w})" for spec, w in zip(cfg.hosts, why, strict=True) if w is not None]
    if not up:
        return EnginePlan("local", cfg.jobs or local_jobs, warnings=[
            f"distcc pool unreachable: {', '.join(down)}; compiling locally"])
    warnings = [f"distcc hosts unreachable, left out: {', '.join(down)}"] if down else []
    capacity = sum(host_address(spec)[2] for spec in up)
    log = log_dir / "distcc.log"
    env = {
        "CCACHE_PREFIX": "distcc",
        "DISTCC_HOSTS": " ".join(up),
        "DISTCC_LOG": str(log),
        "DISTCC_FALLBACK": "1",        # a failed remote compile is retried locally
        "DISTCC_IO_TIMEOUT": "120",    # a server that stops answering mid-job
        "DISTCC_BACKOFF_PERIOD": "60",
    }
    return EnginePlan("distcc", cfg.jobs or capacity + local_jobs, hosts=up, env=env,
                      warnings=warnings, distcc_log=log)


# "compile (null) on localhost": make's probes (cc-option, --version), not compiles of a file
_DONE = re.compile(r"\bcompile (?!\(null\) )\S+ on (\S+) completed ok\b")
_FALLBACK = re.compile(r"running locally instead|failed to distribute", re.I)


def read_distcc_log(path: Path) -> DistccReport:
    """Remote completions per host; local ones are distcc's ``on localhost`` completions
    (or, when it logged none, its "running locally instead" fallbacks)."""
    by_host: Counter[str] = Counter()
    local = fallbacks = 0
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return DistccReport({}, 0)
    for line in text.splitlines():
        m = _DONE.search(line)
        if m:
            host = m.group(1).split("/", 1)[0]
            if host == "localhost":
                local += 1
            else:
                by_host[host] += 1
        elif _FALLBACK.search(line):
            fallbacks += 1
    return DistccReport(dict(by_host), local or fallbacks)
