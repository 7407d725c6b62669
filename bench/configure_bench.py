#!/usr/bin/env python3
"""Configure where users wait: `doit config:PROFILE` after a fragment edit (the Kconfig
tree unchanged) against `make olddefconfig` on the same .config.

    .venv/bin/python bench/configure_bench.py [--profile nfsroot] [--runs N] [--json]

Needs the profile's tree (`doit config:PROFILE` once). A fragment edit makes doit re-run
only the config task; the bench gets the same without touching a tracked file by
`doit forget config:PROFILE` (not timed) before each timed `doit config:PROFILE`, so
doit's start-up, its loading of every task and its up-to-date checks of fetch/unpack
are in the figure, as they are for the user. Rows, medians of N runs alternating, min
and max:

* configure, everything cached (what a user gets after configuring these inputs once:
  kbuild/kconfig/resultcache.py, else the parsed-tree cache);
* configure with the caches off (KBUILD_KCONFIG_CACHE=off: kconfiglib parses the tree);

both against `make -s O=DIR olddefconfig` on a copy of the .config kbuild wrote, with the
same make variables and environment kbuild builds with. The .config content does not
change, so nothing downstream reruns. PYTHONDONTWRITEBYTECODE is removed (bytecode
caches as users have them).
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
    doit = [str(BIN / "doit"), f"config:{profile.name}"]
    forget = [str(BIN / "doit"), "forget", f"config:{profile.name}"]

    def configure(env: dict[str, str] = USER_ENV) -> float:
        run_timed(forget)
        return run_timed(doit, env)[0]

    configure()                                        # tree, caches and bytecode warm
    configure()
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
            "cached": configure,
            "uncached": lambda: configure({**USER_ENV, "KBUILD_KCONFIG_CACHE": "off"})})
    rows = [row(f"configure, Kconfig tree unchanged (caches warm): doit config:{profile.name}",
                f"<= {TARGET} s", samples["cached"], lambda k: k["median"] <= TARGET,
                "make olddefconfig", samples["make"]),
            row(f"configure, caches off (kconfiglib parses the tree): doit config:{profile.name}",
                "(for reference)", samples["uncached"], lambda k: True,
                "make olddefconfig", samples["make"])]
    emit(rows, args.json, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
