#!/usr/bin/env python3
"""Configure where users wait: `doit -a config:PROFILE` (a fragment edited, the Kconfig
tree unchanged) against `make olddefconfig` on the same .config.

    .venv/bin/python bench/configure_bench.py [--profile nfsroot] [--runs N] [--json]

Needs the profile's tree (`doit config:PROFILE` once). Rows, medians of N runs
alternating, min and max:

* configure with the parsed-tree cache warm (what every run after the first gets);
* configure with the cache off (KBUILD_KCONFIG_CACHE=off: kconfiglib parses the tree);

both against `make -s O=DIR olddefconfig` on a copy of the .config kbuild wrote, with the
same make variables and environment kbuild builds with. doit is forced (-a), as an
edited fragment forces it; the .config content does not change, so nothing downstream
reruns. PYTHONDONTWRITEBYTECODE is removed (bytecode caches as users have them).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from _timing import REPO, USER_ENV, alternate, emit, row, run_timed

sys.path.insert(0, str(REPO))
BIN = Path(sys.executable).parent
TARGET = 0.5


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="nfsroot")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from kbuild.build.make import make_variables
    from kbuild.kconfig.environment import base_environment, detect_toolchain
    from kbuild.site import layout
    from kbuild.site.load import load_site
    from kbuild.source.tree import require_tree

    site = load_site(REPO / "kbuild.toml")
    profile = site.profile(args.profile)
    doit = [str(BIN / "doit"), "-a", f"config:{profile.name}"]
    run_timed(doit)                                    # tree, cache and bytecode warm
    tree = require_tree(site, profile)
    config = layout.config_path(site, profile)
    make = ["make", "-s", "-C", str(tree), *make_variables(profile.arch, detect_toolchain())]
    with tempfile.TemporaryDirectory(prefix="configure-bench-") as tmp:
        out = Path(tmp)

        def olddefconfig() -> float:
            shutil.copyfile(config, out / ".config")
            return run_timed([*make, f"O={out}", "olddefconfig"], base_environment())[0]

        samples = alternate(args.runs, {
            "make": olddefconfig,
            "cached": lambda: run_timed(doit)[0],
            "uncached": lambda: run_timed(doit, {**USER_ENV, "KBUILD_KCONFIG_CACHE": "off"})[0]})
    rows = [row(f"configure, Kconfig tree unchanged (cache warm): doit -a config:{profile.name}",
                f"<= {TARGET} s", samples["cached"], lambda k: k["median"] <= TARGET,
                "make olddefconfig", samples["make"]),
            row(f"configure, cache off (kconfiglib parses the tree): doit -a config:{profile.name}",
                "(for reference)", samples["uncached"], lambda k: True,
                "make olddefconfig", samples["make"])]
    emit(rows, args.json, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
