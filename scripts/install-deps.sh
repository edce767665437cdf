#!/usr/bin/env bash
# install-deps.sh — installs the Debian packages condseg needs, only those that are missing.
#   scripts/install-deps.sh          libraries to build and run (OpenBLAS, libpng, libv4l2, libjpeg-turbo)
#   scripts/install-deps.sh --tests  also the tools the test suite uses (aarch64 cross gcc + qemu-user for the
#                                    ARM kernel checks; qemu-system + busybox + cpio + kmod for the vivid V4L2 tests)
set -euo pipefail
packages=(libopenblas-dev libpng-dev libv4l-dev libturbojpeg0-dev pkg-config)
if [[ "${1:-}" == "--tests" ]]; then
    packages+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user qemu-system-x86 busybox-static cpio kmod)
fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "swift is not on PATH: install a Swift 6 toolchain (swift.org) first" >&2; exit 1; }
