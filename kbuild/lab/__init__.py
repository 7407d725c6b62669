"""The boot lab: real boots (QEMU PXE, UML) over NFS inside private namespaces."""
