#!/usr/bin/env bash
# install-deps.sh — installs the Debian packages condseg needs, only those that are missing.
#   scripts/install-deps.sh          what the Swift toolchain needs on a bare Debian 12 to build and link (git to
#                                    fetch the argument-parser package, the C runtime and linker, the libraries
#                                    swift-build itself loads) and the libraries condseg uses (OpenBLAS, libpng,
#                                    libv4l2, libjpeg-turbo)
#   scripts/install-deps.sh --tests  also the tools the test suite uses (gcc, aarch64 cross gcc + qemu-user for the
#                                    ARM kernel checks; qemu-system + busybox + cpio + kmod + xz for the vivid V4L2
#                                    tests, which judge their results in Swift, so no Python is needed; curl for the
#                                    browser-preview tests, which fetch its endpoints as a viewer would)
# scripts/fresh-machine-check.sh checks that this list is complete on a minimal Debian 12 root.
set -euo pipefail
toolchain=(git ca-certificates gcc libc6-dev libstdc++-12-dev libcurl4 libxml2 libsqlite3-0 libncurses6)
packages=("${toolchain[@]}" libopenblas-dev libpng-dev libv4l-dev libturbojpeg0-dev pkg-config)
if [[ "${1:-}" == "--tests" ]]; then
    packages+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user qemu-system-x86 busybox-static cpio kmod xz-utils curl)
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
