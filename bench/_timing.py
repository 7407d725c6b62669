"""What every bench script shares: the run loop, the statistics and the row contract.

A bench script measures kbuild against an anchor, alternating the two for ``--runs N``,
and prints rows; with ``--json``, one JSON list on stdout that bench/compare.py reads:
{"figure", "target", "kbuild": {"median", "min", "max"}, "anchor_name", "anchor" (the
same, or null), "ratio" (or null), "ok"}. Seconds throughout.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

# Bytecode caches as users have them: this machine exports PYTHONDONTWRITEBYTECODE=1,
# which makes every process compile every module it imports from source.
USER_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def stats(samples: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def run_timed(argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path = REPO,
              check: bool = True) -> tuple[float, str]:
    """Wall seconds of one command, and its stdout+stderr; a failure ends the bench when
    ``check`` (a figure of a failing command would mean nothing)."""
    t = time.perf_counter()
    r = subprocess.run(list(argv), cwd=cwd, env=dict(env if env is not None else USER_ENV),
                       capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if check and r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed (exit {r.returncode}):\n{r.stdout}{r.stderr}")
    return elapsed, r.stdout + r.stderr


def alternate(runs: int, measures: Mapping[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Each measure once per round, in the given order, for ``runs`` rounds: the samples of
    each name (alternating, so load that comes and goes hits every side alike)."""
    samples: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(runs):
        for name, measure in measures.items():
            samples[name].append(measure())
    return samples


def row(figure: str, target: str, kbuild: Sequence[float], ok: Callable[[dict[str, float]], bool],
        anchor_name: str = "", anchor: Sequence[float] | None = None) -> dict[str, Any]:
    k = stats(kbuild)
    a = stats(anchor) if anchor else None
    return {"figure": figure, "target": target, "kbuild": k, "anchor_name": anchor_name,
            "anchor": a, "ratio": k["median"] / a["median"] if a else None, "ok": ok(k)}


def load_note(runs: int) -> str:
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; n={runs}"


def emit(rows: list[dict[str, Any]], as_json: bool, runs: int, unit: str = "s") -> None:
    """The rows: one JSON list, or one line each with the load."""
    if as_json:
        print(json.dumps(rows))
        return
    scale, fmt = (1000.0, "{:.1f} ms") if unit == "ms" else (1.0, "{:.2f} s")

    def show(s: dict[str, float]) -> str:
        return (fmt.format(s["median"] * scale) + f" (min {fmt.format(s['min'] * scale)}, "
                f"max {fmt.format(s['max'] * scale)})")

    print(load_note(runs))
    for r in rows:
        line = f"{r['figure']}: median {show(r['kbuild'])}"
        if r["anchor"]:
            line += f"; {r['anchor_name']} {show(r['anchor'])}; ratio {r['ratio']:.2f}"
        print(line + f"; target {r['target']}: {'ok' if r['ok'] else 'MISSED'}")
