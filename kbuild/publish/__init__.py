"""The TFTP tree: what to stage, and publishing it atomically with generations."""
