"""Boot entries: the kernel command line, each loader's format (writer and reader), host files."""
