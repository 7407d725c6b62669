#!/bin/sh
# kbuild-root: the early-boot program of a shared read-only NFS root (docs/root.md).
# Installed by `kbuild root prepare` as /sbin/kbuild-root; the boot entry runs it as
# init= with kbroot=MODE and kbroot_init=REAL_INIT (the kernel passes both as
# environment variables). POSIX sh; runs on busybox and on Debian's dash/coreutils.
#
#   ro-shared  a tmpfs on /flash, seeded from the tree's /flash (the paths that
#              `root prepare` moved there and replaced by symlinks), then per-host
#              files from /flash.hosts/<hostname>/, then the hostname into /flash/etc.
#   overlay    a tmpfs on /run holding the overlay's upper and work dirs, an overlayfs
#              of it over the read-only root, pivot_root into it. The read-only NFS
#              root stays visible at /run/kbroot/lower, the tmpfs at
#              /run/kbroot/lower/run (upper: .../run/kbroot/upper).
#
# Any failure stops here with a message on the console: running the real init on a
# half-made RAM side would make every client fail in its own way.
PATH=/sbin:/bin:/usr/sbin:/usr/bin
export PATH

fail() {
    echo "kbuild-root: error: $*" >&2
    echo "kbuild-root: the root is left as the kernel mounted it (read-only)" >&2
    exec /bin/sh
}

mode=${kbroot:-}
init=${kbroot_init:-/sbin/init}
if [ -z "$mode" ]; then
    # started without the entry's variables (by hand): read the kernel command line
    [ -r /proc/cmdline ] || mount -t proc proc /proc 2>/dev/null
    for a in $(cat /proc/cmdline 2>/dev/null); do
        case $a in
            kbroot=*) mode=${a#kbroot=} ;;
            kbroot_init=*) init=${a#kbroot_init=} ;;
        esac
    done
fi
host=$(uname -n)

seed_flash() {
    [ -d /flash ] || fail "/flash does not exist in the root: run kbuild root prepare on it"
    # The shell's working directory keeps the tree's /flash reachable after the
    # tmpfs hides it: that copy is the seed.
    cd /flash || fail "cannot enter /flash"
    mount -t tmpfs -o mode=0755 kbroot-flash /flash || fail "cannot mount a tmpfs on /flash (TMPFS=y?)"
    cp -a . /flash/ || fail "cannot seed /flash from the root's copy"
    cd / || fail "cannot leave /flash"
    if [ -d "/flash.hosts/$host" ]; then
        cp -a "/flash.hosts/$host/." /flash/ || fail "cannot copy /flash.hosts/$host"
    fi
    if [ -d /flash/etc ]; then
        echo "$host" > /flash/etc/hostname
    fi
    echo "kbuild-root: ro-shared: /flash in RAM for $host"
}

enter_overlay() {
    [ -d /run ] || fail "/run does not exist in the root: run kbuild root prepare --mode overlay on it"
    mount -t tmpfs -o mode=0755 kbroot-upper /run || fail "cannot mount a tmpfs on /run (TMPFS=y?)"
    mkdir -p /run/kbroot/upper /run/kbroot/work /run/kbroot/root || fail "cannot create the upper"
    mount -t overlay -o lowerdir=/,upperdir=/run/kbroot/upper,workdir=/run/kbroot/work \
        kbroot /run/kbroot/root || fail "cannot mount the overlay (OVERLAY_FS=y, TMPFS_XATTR=y?)"
    new=/run/kbroot/root
    mkdir -p "$new/run/kbroot/lower" || fail "cannot create the lower's mount point"
    cd "$new" || fail "cannot enter the overlay"
    pivot_root . run/kbroot/lower || fail "pivot_root failed"
    # /dev (devtmpfs), /proc and /sys came along under the old root: move them back
    mounts=/run/kbroot/lower/proc/mounts
    for m in dev proc sys; do
        if grep -q " /run/kbroot/lower/$m " "$mounts" 2>/dev/null; then
            mount --move "/run/kbroot/lower/$m" "/$m" 2>/dev/null \
                || mount -o move "/run/kbroot/lower/$m" "/$m" 2>/dev/null
        fi
    done
    echo "$host" > /etc/hostname 2>/dev/null
    echo "kbuild-root: overlay: / in RAM over the read-only root for $host"
}

case $mode in
    ro-shared) seed_flash ;;
    overlay)
        [ -r /proc/mounts ] || mount -t proc proc /proc 2>/dev/null
        enter_overlay ;;
    *) fail "kbroot=$mode: expected ro-shared or overlay" ;;
esac
[ -x "$init" ] || [ -L "$init" ] || fail "init $init not found in the root"
if command -v chroot >/dev/null 2>&1 && [ "$mode" = overlay ]; then
    exec chroot . "$init"
fi
exec "$init"
