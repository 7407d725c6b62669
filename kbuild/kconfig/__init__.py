"""The one adapter between kbuild and kconfiglib: config files, Kconfig trees, merge, explain."""
