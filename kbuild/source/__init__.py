"""Kernel sources and other inputs: download, Debian packages, signatures, unpacking, patches."""
