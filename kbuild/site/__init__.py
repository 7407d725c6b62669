"""The site: kbuild.toml and kbuild.lock as data (the bottom layer), and where artifacts live."""
