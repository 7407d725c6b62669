"""The pipeline's build stages: configure a profile, run the kernel's make."""

# What make is given changed (2: the relative __FILE__ prefix map in KCPPFLAGS): the build
# task's up-to-date key, so existing build dirs build once more. Bump on such changes.
BUILD_SCHEMA = "2"
