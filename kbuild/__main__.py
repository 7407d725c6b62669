"""``python -m kbuild SUBCOMMAND ...``: the ``kbuild`` command, without the installed script."""
from kbuild.cli import entry

if __name__ == "__main__":
    entry()
