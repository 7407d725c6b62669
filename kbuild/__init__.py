"""kbuild: kernels and boot chains for diskless NFS-root machines."""
__version__ = "0.1.0"
