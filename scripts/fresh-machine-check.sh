#!/usr/bin/env bash
# fresh-machine-check.sh — does the README hold on a fresh machine? Unpacks a minimal Debian 12 (bookworm) root
# (debootstrap --variant=minbase, made once and cached as a pristine tarball; every run starts from that
# tarball), makes the host's Swift toolchain and Swift package mirror visible in it read-only at the same paths,
# puts a clean `git clone` of the commit to check in /root/condseg, binds /proc, /dev and /sys, and runs the
# README's two commands in it with chroot, as root: `bash scripts/demo.sh`, then `bash scripts/test.sh`.
# Prints the last lines and the duration of each; the full logs stay in the cache folder (last-run/).
# Too slow for CI (a fresh build of everything twice, then the whole suite): run it before calling a change
# to the install story done.
#
# Usage: scripts/fresh-machine-check.sh [COMMIT]      (as root; COMMIT defaults to HEAD of this checkout;
#                                                      uncommitted changes are not part of the check)
# Environment:
#   CONDSEG_FRESH_CACHE   pristine tarball and last-run logs (default ~/.cache/condseg-fresh-root)
#   CONDSEG_FRESH_WORK    folder under which each run's root is unpacked (default /var/tmp)
#   CONDSEG_FRESH_MIRROR  Debian mirror for debootstrap (default http://deb.debian.org/debian)
#   CONDSEG_SWIFT         Swift toolchain folder (default: the one whose usr/bin/swift is on PATH)
#   CONDSEG_FRESH_KEEP=1  keep the unpacked root afterwards (the mounts are still removed)
# Exit status: 0 both commands passed, 1 one of them failed, 2 setup problem.
#
# Safety: the script runs itself in a private mount namespace (unshare), so its mounts are never visible
# outside it and vanish with it even if it is killed; on exit a trap unmounts them in reverse order and
# removes the unpacked root only when nothing is mounted below it any more.
set -euo pipefail

fail_setup() { echo "fresh-machine-check: $*" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || fail_setup "must run as root (debootstrap, mount and chroot need it)"

if [ -z "${CONDSEG_FRESH_IN_NAMESPACE:-}" ]; then
    command -v unshare >/dev/null || fail_setup "unshare (util-linux) not found"
    CONDSEG_FRESH_IN_NAMESPACE=1 exec unshare --mount --propagation private -- "$BASH" "$0" "$@"
fi

# Everything below runs as one function: bash reads it completely before running it, so editing this file
# during a run (which takes long) cannot change the run.
main() {
repo=$(cd "$(dirname "$0")/.." && pwd)
commit=$(git -C "$repo" rev-parse --verify "${1:-HEAD}^{commit}") || fail_setup "no such commit: ${1:-HEAD}"
cache=${CONDSEG_FRESH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/condseg-fresh-root}
mirror=${CONDSEG_FRESH_MIRROR:-http://deb.debian.org/debian}
if [ -n "${CONDSEG_SWIFT:-}" ]; then
    toolchain=$CONDSEG_SWIFT
else
    swift_binary=$(command -v swift) || fail_setup "swift is not on PATH (or set CONDSEG_SWIFT)"
    toolchain=$(dirname "$(dirname "$(dirname "$(readlink -f "$swift_binary")")")")
fi
[ -x "$toolchain/usr/bin/swift" ] || fail_setup "no Swift toolchain at $toolchain (expected $toolchain/usr/bin/swift)"
for tool in debootstrap chroot tar git mount umount findmnt; do
    command -v "$tool" >/dev/null || fail_setup "$tool not found (apt-get install debootstrap)"
done
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ] && [ -z "${1:-}" ]; then
    echo "fresh-machine-check: note: uncommitted changes in $repo are not checked (only commit $commit is)"
fi

elapsed() { local s=$1; printf '%d min %02d s' $((s / 60)) $((s % 60)); }

# 1. The pristine root, made once.
pristine="$cache/debian12-bookworm-amd64-minbase.tar"
mkdir -p "$cache"
if [ ! -f "$pristine" ]; then
    echo "fresh-machine-check: making the pristine Debian 12 root (debootstrap --variant=minbase bookworm, a few minutes)"
    staging=$(mktemp -d "$cache/debootstrap.XXXXXX")
    if ! debootstrap --variant=minbase --arch=amd64 bookworm "$staging/root" "$mirror" >"$cache/debootstrap.log" 2>&1; then
        tail -n 20 "$cache/debootstrap.log" >&2
        rm -rf --one-file-system "$staging"
        fail_setup "debootstrap failed (log: $cache/debootstrap.log)"
    fi
    # The package sources of a freshly installed Debian 12: the release, its updates and security.
    security=${mirror%/debian}/debian-security
    [ "$security" = "$mirror/debian-security" ] && security=http://deb.debian.org/debian-security
    cat >"$staging/root/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
SOURCES
    rm -rf "$staging/root/var/cache/apt/archives/"*.deb
    tar --numeric-owner -C "$staging/root" -cf "$staging/root.tar" .
    mv "$staging/root.tar" "$pristine"
    rm -rf --one-file-system "$staging"
fi

# 2. This run's root, from the pristine tarball.
work=$(mktemp -d "${CONDSEG_FRESH_WORK:-/var/tmp}/condseg-fresh.XXXXXX")
root="$work/root"
mounts=()
cleanup() {
    local status=$? index
    for ((index = ${#mounts[@]} - 1; index >= 0; index--)); do
        findmnt -rn "${mounts[index]}" >/dev/null || continue   # unmounted already
        umount "${mounts[index]}" 2>/dev/null || umount -l "${mounts[index]}" 2>/dev/null \
            || echo "fresh-machine-check: could not unmount ${mounts[index]}" >&2
    done
    if findmnt -rn -o TARGET | grep -q "^$root\(/\|$\)"; then
        echo "fresh-machine-check: mounts remain below $root; not removing it" >&2
    elif [ "${CONDSEG_FRESH_KEEP:-0}" = 1 ]; then
        echo "fresh-machine-check: root kept: $root"
    else
        rm -rf --one-file-system "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
bind() {  # bind SOURCE [ro]: SOURCE appears at the same path inside the root
    local source=$1 target="$root$1"
    mkdir -p "$target"
    mount --bind "$source" "$target"
    mounts+=("$target")
    mount --make-private "$target"
    if [ "${2:-}" = ro ]; then mount -o remount,bind,ro "$target"; fi
}

started=$(date +%s)
mkdir -p "$root"
tar --numeric-owner -C "$root" -xpf "$pristine"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
bind /proc
bind /sys ro
bind /dev
mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
mounts+=("$root/dev/shm")
bind "$toolchain" ro

# The Swift package mirror, if git is told to use a local folder instead of a remote (url.<folder>.insteadOf):
# the same folder, read-only, and the same setting in the root's /etc/gitconfig.
gitconfig="$root/etc/gitconfig"
while read -r key value; do
    base=${key#url.}; base=${base%.insteadof}
    [ -d "$base" ] || continue
    findmnt -rn "$root${base%/}" >/dev/null 2>&1 || bind "${base%/}" ro
    printf '[url "%s"]\n\tinsteadOf = %s\n' "$base" "$value" >>"$gitconfig"
done < <(git config --get-regexp '^url\..*\.insteadof$' || true)

# The commit to check, as a clean clone.
git clone --quiet --no-hardlinks "$(git -C "$repo" rev-parse --path-format=absolute --git-common-dir)" "$root/root/condseg"
git -C "$root/root/condseg" checkout --quiet --detach "$commit"
git -C "$root/root/condseg" remote remove origin
echo "fresh-machine-check: Debian 12 minbase root at $root ($(elapsed $(($(date +%s) - started))) to prepare), commit $commit"
echo "fresh-machine-check: toolchain $toolchain ($("$toolchain/usr/bin/swift" --version 2>/dev/null | head -n 1))"

# 3. The README's two commands.
logs="$cache/last-run"
rm -rf "$logs" && mkdir -p "$logs"
failed=0
run() {  # run NAME COMMAND: one README command inside the root, as a new user would type it
    local name=$1 command=$2 begin status
    begin=$(date +%s)
    echo "== $command"
    set +e
    chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
        PATH="$toolchain/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        /bin/bash -c "cd /root/condseg && $command" </dev/null >"$logs/$name.log" 2>&1
    status=$?
    set -e
    tail -n 25 "$logs/$name.log" | sed 's/^/   | /'
    echo "== $command: exit $status after $(elapsed $(($(date +%s) - begin))) (full log: $logs/$name.log)"
    [ "$status" -eq 0 ] || failed=1
}
run demo "bash scripts/demo.sh"
run test "bash scripts/test.sh"

# 4. The installable runtime: scripts/install.sh into a prefix, then the installed binary run from another
#    folder with the toolchain gone (unmounted), on the sample frames.
run install "bash scripts/install.sh --prefix /opt/condseg-installed"
umount "$root$toolchain"
run installed "cd /tmp && env -i PATH=/usr/bin:/bin sh -c '! ls $toolchain/usr 2>/dev/null \\
    && /opt/condseg-installed/bin/condseg segment --out /tmp/installed-out /root/condseg/samples/images \\
    && ls /tmp/installed-out | wc -l && /opt/condseg-installed/bin/condseg --version \\
    && ldd /opt/condseg-installed/bin/condseg'"
echo "fresh-machine-check: $([ $failed -eq 0 ] && echo passed || echo FAILED), commit $commit, $(elapsed $(($(date +%s) - started))) in all"
exit $failed
}
main "$@"
