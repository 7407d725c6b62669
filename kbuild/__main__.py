"""``python -m kbuild SUBCOMMAND ...``: the ``kbuild`` command, without the installed script."""
import sys

from kbuild.cli import main

if __name__ == "__main__":
    sys.exit(main())
