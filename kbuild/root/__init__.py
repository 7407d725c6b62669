"""Shared read-only roots: ``kbuild root prepare`` and the early-boot program it installs."""
