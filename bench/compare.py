#!/usr/bin/env python3
"""Every bench row of issue 13 in one table: kbuild vs its anchor, median/min/max, ratio, target.

Runs each bench/*.py that speaks the bench contract (options `--runs N` and `--json`: one
JSON list of rows {figure, target, kbuild{median,min,max}, anchor_name, anchor|null,
ratio|null, ok} on stdout; bench/_timing.py makes them), one after the other, and prints
one table in the issue's row order. A row of the issue that no script measured is
printed as "not measured"; a script that fails is named with its last line of error
output. Asserts nothing.

Usage: .venv/bin/python bench/compare.py [--runs 5] [--only NAME ...] [--skip NAME ...]
       [--json]   (the rows, merged, as one JSON list)
       [--from FILE ...]   (the table of rows saved from the scripts' --json output)
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
# The rows of issue 13, each found among the scripts' figures by all of its words.
ISSUE_ROWS = [
    (("verify", "process"), "`kbuild verify CONFIG` as a whole process"),
    (("verify", "500"), "`kbuild verify` on 500 configs in one call"),
    (("configure",), "configure with an unchanged Kconfig tree"),
    (("cold", "build"), "cold build, same .config, empty cache"),
    (("warm",), "warm-cache rebuild of the whole tree"),
    (("no-op",), "no-op `doit kernel:PROFILE`"),
    (("unpack",), "unpack of linux-source"),
    (("hosts", "cold"), "50,000 hosts: publish cold"),
    (("hosts", "nothing changed"), "50,000 hosts: nothing changed"),
    (("hosts", "one host changed"), "50,000 hosts: one host changed"),
    (("hosts", "another host changed"), "50,000 hosts: another host changed (steady state)"),
    (("boot",), "boot to marker in the lab"),
]
_SELF = {"compare.py"}
_OPTION = re.compile(r'add_argument\(\s*"--(runs|json)"')


def contract_scripts() -> list[Path]:
    """bench/*.py that take the options --runs and --json (helpers, ``_*.py``, are not run)."""
    out = []
    for path in sorted(BENCH.glob("*.py")):
        if path.name in _SELF or path.name.startswith("_"):
            continue
        options = set(_OPTION.findall(path.read_text(errors="replace")))
        if options == {"runs", "json"}:
            out.append(path)
    return out


def run_script(path: Path, runs: int) -> tuple[list[dict[str, Any]], str | None]:
    """The rows a script prints, or the reason it gave none."""
    proc = subprocess.run([sys.executable, str(path), "--runs", str(runs), "--json"],
                          capture_output=True, text=True, cwd=BENCH.parent)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return [], f"exit {proc.returncode}: {last[:150]}"
    try:
        rows = json_rows(proc.stdout)
    except (ValueError, IndexError) as e:
        return [], f"no JSON rows on stdout ({e})"
    if not isinstance(rows, list):
        return [], "stdout is not a JSON list"
    return [r for r in rows if isinstance(r, dict) and "figure" in r], None


def json_rows(text: str) -> Any:
    """A script's JSON output: the whole text (one document, indented or not), else its last
    line (a script that printed something before its one-line document)."""
    try:
        return json.loads(text)
    except ValueError:
        return json.loads(text.strip().splitlines()[-1])


def _seconds(stats: dict[str, float] | None) -> str:
    if not stats:
        return "-"
    return f"{stats['median']:.3f} [{stats['min']:.3f}-{stats['max']:.3f}]"


def table(rows: list[dict[str, Any]], failures: dict[str, str]) -> str:
    head = ("figure", "kbuild s median [min-max]", "anchor", "anchor s median [min-max]", "ratio",
            "target", "ok")
    lines = [head]

    def line(r: dict[str, Any]) -> tuple[str, ...]:
        ratio = r.get("ratio")
        return (str(r["figure"]), _seconds(r.get("kbuild")), str(r.get("anchor_name") or "-"),
                _seconds(r.get("anchor")), f"{ratio:.2f}" if isinstance(ratio, int | float) else "-",
                str(r.get("target") or "-"),
                "-" if not r.get("target") or str(r["target"]).startswith("(")
                else "yes" if r.get("ok") else "NO")

    placed: set[int] = set()
    for words, title in ISSUE_ROWS:
        found = [i for i, r in enumerate(rows) if i not in placed
                 and all(w in str(r["figure"]).lower() for w in words)]
        placed.update(found)
        lines += [line(rows[i]) for i in found] or [(title, "not measured", "-", "-", "-", "-", "-")]
    lines += [line(r) for i, r in enumerate(rows) if i not in placed]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    out.insert(1, "-+-".join("-" * w for w in widths))
    for name, why in failures.items():
        out.append(f"# {name}: {why}")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", nargs="*", default=None, help="script names (without .py) to run")
    ap.add_argument("--skip", nargs="*", default=[], help="script names (without .py) not to run")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--from", dest="saved", nargs="+", default=None, type=Path,
                    help="print the table of rows saved earlier (each file: a script's --json output)")
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    failures: dict[str, str] = {}
    for saved in args.saved or []:
        try:
            got = json_rows(saved.read_text())
            rows += [r for r in got if isinstance(r, dict) and "figure" in r]
        except (OSError, ValueError, IndexError) as e:
            failures[str(saved)] = f"unreadable ({e})"
    for path in contract_scripts() if args.saved is None else []:
        if (args.only is not None and path.stem not in args.only) or path.stem in args.skip:
            continue
        print(f"# running {path.name} --runs {args.runs} ...", file=sys.stderr, flush=True)
        got, why = run_script(path, args.runs)
        rows += got
        if why:
            failures[path.name] = why
    if args.json:
        print(json.dumps(rows))
    else:
        print(table(rows, failures))


if __name__ == "__main__":
    main()
