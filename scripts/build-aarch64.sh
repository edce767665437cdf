#!/usr/bin/env bash
# build-aarch64.sh — builds the condseg executable for aarch64 Linux on an x86-64 Linux host, with no ARM machine
# and no binfmt_misc: cross-compiles with Debian 13's Swift 6.0.3 (package `swiftlang`), running natively in a
# debootstrapped trixie amd64 root, against the aarch64 Swift runtime and the aarch64 -dev libraries of the same
# Debian release, unpacked into a trixie arm64 root that also serves as the sysroot and as `qemu-aarch64 -L` root.
#
# Usage: scripts/build-aarch64.sh [--cache DIR] [--dynamic-stdlib] [--target NAME] [--check]
#   --cache DIR        where the two roots and downloaded packages are kept (default /work/aarch64-cache,
#                      or $CONDSEG_AARCH64_CACHE); a second run reuses them and only rebuilds.
#   --dynamic-stdlib   link the Swift runtime dynamically (default: statically, as scripts for installs do);
#                      the binary then needs the aarch64 Swift runtime (Debian's libswiftlang) on the board.
#   --target NAME      build only this target of Package.swift instead of the condseg product.
#   --check            after building, run `condseg --help` under qemu-aarch64 as a smoke test.
# Output: .build-aarch64/release/condseg (in this checkout). Needs root (debootstrap, chroot, bind mounts),
# debootstrap and qemu-user (`apt-get install debootstrap qemu-user`), and network access to a Debian mirror
# ($DEBIAN_MIRROR, default http://deb.debian.org/debian). About 3.5 GB of disk for the roots.
# Run a binary:  qemu-aarch64 -L CACHE/trixie-arm64 .build-aarch64/release/condseg segment …
# Exit status: 0 built, 2 usage error, 77 a required host tool is missing, 1 any other failure.
set -euo pipefail

cache="${CONDSEG_AARCH64_CACHE:-/work/aarch64-cache}"
static=1
check=0
what=(--product condseg)
while [ $# -gt 0 ]; do
    case "$1" in
        --cache) [ $# -ge 2 ] || { echo "error: --cache needs a folder" >&2; exit 2; }; cache="$2"; shift 2 ;;
        --dynamic-stdlib) static=0; shift ;;
        --check) check=1; shift ;;
        --target) [ $# -ge 2 ] || { echo "error: --target needs a target name" >&2; exit 2; }; what=(--target "$2"); shift 2 ;;
        -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite=trixie
host_root="$cache/trixie-amd64"      # runs the compiler (native x86-64)
target_root="$cache/trixie-arm64"    # the aarch64 sysroot; never executed except through qemu-aarch64 -L
swift_lib=usr/libexec/swift/lib      # where Debian's swiftlang keeps its resource directories
# Development packages for the aarch64 sysroot: the C runtime and the libraries condseg links (Package.swift).
target_packages=libc6-dev,libstdc++-14-dev,libgcc-14-dev,libopenblas-dev,libpng-dev,libv4l-dev,libturbojpeg0-dev

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { echo "error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot and bind mounts)"
for tool in debootstrap qemu-aarch64 dpkg-deb chroot mount; do
    command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool is missing; apt-get install debootstrap qemu-user" >&2; exit 77; }
done
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
host_root="$cache/trixie-amd64"
target_root="$cache/trixie-arm64"

# Bind mounts made by this run, undone in reverse order on any exit.
mounts=()
cleanup() {
    local i
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "${mounts[$i]}" 2>/dev/null || umount -l "${mounts[$i]}" || true; done
    mounts=()
}
trap cleanup EXIT
bind() {  # bind SOURCE TARGET [ro]
    mkdir -p "$2"
    mount --bind "$1" "$2"
    mounts+=("$2")
    if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$2"; fi
}
# Deletes a half-made root before starting it again, never through a bind mount left by an interrupted run.
remove_root() {
    if awk -v dir="$1/" 'index($2 "/", dir) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
        die "$1 still has mounts under it (an interrupted run?); unmount them (see /proc/mounts) and run again"
    fi
    rm -rf --one-file-system "$1"
}
in_host_root() { chroot "$host_root" env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 "$@"; }

# 1. The compiler root: trixie amd64 with swiftlang (compiler, SwiftPM, lld), the C runtime for building the
#    package manifest natively, and git for the dependency.
host_packages=(swiftlang libc6-dev git ca-certificates pkgconf)
if [ ! -e "$host_root/.condseg-debootstrapped" ]; then
    log "debootstrap $suite amd64 into $host_root"
    remove_root "$host_root"
    debootstrap --variant=minbase "$suite" "$host_root" "$mirror"
    touch "$host_root/.condseg-debootstrapped"
fi
if ! in_host_root dpkg -s "${host_packages[@]}" >/dev/null 2>&1 \
        || ! in_host_root dpkg --print-foreign-architectures | grep -qx arm64; then
    bind /proc "$host_root/proc"
    log "apt-get install ${host_packages[*]} in the amd64 root"
    # arm64 as a foreign architecture, only so that apt can fetch the aarch64 Swift runtime below.
    in_host_root dpkg --add-architecture arm64
    in_host_root apt-get update -q
    in_host_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${host_packages[@]}"
    cleanup
fi

# 2. The aarch64 sysroot: debootstrap's first stage unpacks the essential packages; every package it fetched
#    (the -dev libraries above and their dependencies) is unpacked with dpkg-deb, no maintainer script runs.
if [ ! -e "$target_root/.condseg-ready" ]; then
    log "debootstrap --foreign $suite arm64 into $target_root"
    remove_root "$target_root"
    debootstrap --foreign --arch=arm64 --variant=minbase --include="$target_packages" "$suite" "$target_root" "$mirror"
    log "unpack $(ls "$target_root"/var/cache/apt/archives/*.deb | wc -l) arm64 packages"
    for deb in "$target_root"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$deb" "$target_root"; done
    # What update-alternatives would have linked for libopenblas-dev (openblas-pthread is the only provider here).
    multiarch="$target_root/usr/lib/aarch64-linux-gnu"
    for name in libopenblas.so.0 libopenblas.so libblas.so.3 libblas.so; do
        [ -e "$multiarch/$name" ] || ln -s "openblas-pthread/$name" "$multiarch/$name"
    done
    [ -e "$multiarch/pkgconfig/openblas.pc" ] || ln -s ../openblas-pthread/pkgconfig/openblas.pc "$multiarch/pkgconfig/openblas.pc"

    log "download and unpack the aarch64 Swift runtime and modules (swiftlang, libswiftlang for arm64)"
    mkdir -p "$cache/debs" "$host_root/tmp/condseg-debs"
    bind /proc "$host_root/proc"
    in_host_root sh -c 'cd /tmp/condseg-debs && apt-get download -q swiftlang:arm64 libswiftlang:arm64'
    cleanup
    mv "$host_root"/tmp/condseg-debs/*.deb "$cache/debs/"
    # Only the resource directories (modules, runtime libraries, clang headers); the arm64 compiler is not needed.
    for deb in "$cache"/debs/swiftlang_*_arm64.deb "$cache"/debs/libswiftlang_*_arm64.deb; do
        # (libswiftlang has no swift_static or clang folder: tar's "not found" for those is expected.)
        dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$target_root" --wildcards \
            "./$swift_lib/swift/*" "./$swift_lib/swift_static/*" "./$swift_lib/clang/*" 2>/dev/null || true
    done
    [ -e "$target_root/$swift_lib/swift/linux/aarch64/swiftrt.o" ] || die "the aarch64 Swift runtime did not unpack into $target_root/$swift_lib"
    [ -e "$target_root/$swift_lib/swift/linux/libswiftCore.so" ] || die "libswiftCore.so missing from $target_root/$swift_lib/swift/linux"
    touch "$target_root/.condseg-ready"
fi

# 3. A Swift SDK bundle (SwiftPM's cross-compilation description) inside the compiler root, naming the sysroot
#    at the path where it is bind-mounted during the build.
sdk_dir="$host_root/opt/condseg-swift-sdks/aarch64-trixie.artifactbundle"
mkdir -p "$sdk_dir/aarch64-trixie"
cat >"$sdk_dir/info.json" <<'EOF'
{
  "schemaVersion": "1.0",
  "artifacts": {
    "aarch64-trixie": {
      "type": "swiftSDK",
      "version": "6.0.3",
      "variants": [ { "path": "aarch64-trixie" } ]
    }
  }
}
EOF
cat >"$sdk_dir/aarch64-trixie/swift-sdk.json" <<EOF
{
  "schemaVersion": "4.0",
  "targetTriples": {
    "aarch64-unknown-linux-gnu": {
      "sdkRootPath": "/sysroot-aarch64",
      "swiftResourcesPath": "/sysroot-aarch64/$swift_lib/swift",
      "swiftStaticResourcesPath": "/sysroot-aarch64/$swift_lib/swift_static",
      "toolsetPaths": [ "toolset.json" ]
    }
  }
}
EOF
cat >"$sdk_dir/aarch64-trixie/toolset.json" <<'EOF'
{
  "schemaVersion": "1.0",
  "swiftCompiler": { "extraCLIOptions": [ "-use-ld=lld" ] }
}
EOF

# 4. git inside the compiler root resolves github.com the way this machine's git does (e.g. local mirrors).
{
    git config --system --get-regexp '^url\..*\.insteadof$' 2>/dev/null || true
    git config --global --get-regexp '^url\..*\.insteadof$' 2>/dev/null || true
} | while read -r key value; do
    in_host_root git config --system --get-all "$key" 2>/dev/null | grep -qxF -- "$value" \
        || in_host_root git config --system --add "$key" "$value"
done
in_host_root git config --system --replace-all safe.directory '*'
mirrors=()
for dir in $( { git config --system --get-regexp '^url\..*\.insteadof$' 2>/dev/null || true; \
                git config --global --get-regexp '^url\..*\.insteadof$' 2>/dev/null || true; } \
              | sed -n 's/^url\.\(\/[^ ]*\)\.insteadof .*/\1/p' | sort -u); do
    [ -d "$dir" ] && mirrors+=("$dir")
done

# 5. Build, with the checkout, the sysroot and any local git mirrors bind-mounted into the compiler root.
bind /proc "$host_root/proc"
bind /dev "$host_root/dev"
bind "$target_root" "$host_root/sysroot-aarch64" ro
bind "$repo" "$host_root/src"
for dir in "${mirrors[@]}"; do bind "$dir" "$host_root$dir" ro; done

pc="/sysroot-aarch64/usr/lib/aarch64-linux-gnu/pkgconfig:/sysroot-aarch64/usr/share/pkgconfig"
stdlib_flag=(--static-swift-stdlib)
[ $static -eq 1 ] || stdlib_flag=()
log "swift build (Swift $(in_host_root swift --version 2>/dev/null | sed -n 's/.*Swift version \([^ ]*\).*/\1/p' | head -n 1)) for aarch64-unknown-linux-gnu"
in_host_root env PKG_CONFIG_PATH="$pc" PKG_CONFIG_LIBDIR="$pc" PKG_CONFIG_SYSROOT_DIR=/sysroot-aarch64 \
    sh -c 'cd /src && exec swift build -c release --scratch-path .build-aarch64 \
        --swift-sdks-path /opt/condseg-swift-sdks --swift-sdk aarch64-trixie "$@"' sh "${what[@]}" "${stdlib_flag[@]}"
cleanup
[ "${what[0]}" = --product ] || { log "built target ${what[1]}"; exit 0; }

binary="$repo/.build-aarch64/release/condseg"
[ -x "$binary" ] || die "the build finished but $binary is missing"
log "built $binary"
file "$binary" 2>/dev/null || true
if [ $check -eq 1 ]; then
    log "smoke test: qemu-aarch64 -L $target_root condseg --help"
    qemu-aarch64 -L "$target_root" "$binary" --help | head -n 5
fi
