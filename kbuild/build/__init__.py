"""The pipeline's build stages: configure a profile, run the kernel's make."""
