"""Root-over-NFS requirements as data: the rule files (*.toml here) and their one loader."""
