"""Small helpers every layer may use: atomic files and digests, TOML positions, versions."""
