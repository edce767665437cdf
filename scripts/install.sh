#!/usr/bin/env bash
# install.sh — builds condseg for deployment and installs the runtime under a prefix:
#   PREFIX/bin/condseg                                       the CLI, Swift standard library linked in
#                                                            (--static-swift-stdlib: runs without a Swift toolchain)
#   PREFIX/share/condseg/condseg-r18w64-kvasir.safetensors   the default model (condseg finds it relative to
#                                                            its own location: ../share/condseg/)
#   PREFIX/share/condseg/condseg-r18w64-kvasir.table.txt     its int8 calibration table
#   PREFIX/share/condseg/*.safetensors, *.table.txt          every other model in models/ and table in
#                                                            calibration/ (--model NAME, --calibration NAME)
#   PREFIX/lib/systemd/system/condseg-live.service           the live service (firmware-notes/service.md)
#   PREFIX/share/doc/condseg/service.md                      that note
# The build uses its own scratch folder, .build-install, so the test build in .build is left alone. At the end
# it checks that the installed binary loads no library from the Swift toolchain and that --version runs.
#
# Usage: scripts/install.sh --prefix DIR [--no-deps]
#   --no-deps  do not run scripts/install-deps.sh first (it installs missing Debian packages with apt-get)
# The binary still needs the system libraries it links (libopenblas0, libpng16-16, libv4l-0, libturbojpeg0,
# libc, libstdc++, libgcc_s); on a target without build tools install those runtime packages only.
set -euo pipefail
usage() { echo "usage: scripts/install.sh --prefix DIR [--no-deps]" >&2; exit 2; }
prefix="" deps=1
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || usage; prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        --no-deps) deps=0; shift ;;
        *) usage ;;
    esac
done
[ -n "$prefix" ] || usage
cd "$(dirname "$0")/.."
mkdir -p "$prefix" || { echo "install.sh: cannot create $prefix" >&2; exit 1; }
prefix=$(cd "$prefix" && pwd)

[ $deps -eq 1 ] && scripts/install-deps.sh
echo "install.sh: building condseg (release, static Swift standard library) in .build-install"
swift build -c release --product condseg --static-swift-stdlib --scratch-path .build-install
built=$(swift build -c release --product condseg --static-swift-stdlib --scratch-path .build-install --show-bin-path)/condseg

model=models/condseg-r18w64-kvasir.safetensors
table=calibration/condseg-r18w64-kvasir.table.txt
for file in "$built" "$model" "$table" firmware-notes/service.md; do   # the default model and table must be there
    [ -f "$file" ] || { echo "install.sh: $file is missing" >&2; exit 1; }
done

# Each file is written beside its destination and renamed over it, so a running service keeps its old binary
# and nothing is ever half-written.
put() {  # put MODE SOURCE DESTINATION
    local mode=$1 source=$2 destination=$3
    mkdir -p "$(dirname "$destination")"
    install -m "$mode" "$source" "$destination.new"
    mv -f "$destination.new" "$destination"
}
put 0755 "$built" "$prefix/bin/condseg"
# Every bundled model and calibration table (the default ones among them), so --model NAME and
# --calibration NAME find them in the installed tree too.
for file in models/*.safetensors calibration/*.table.txt; do
    put 0644 "$file" "$prefix/share/condseg/$(basename "$file")"
done
put 0644 firmware-notes/service.md "$prefix/share/doc/condseg/service.md"
unit=$(mktemp)
trap 'rm -f "$unit"' EXIT
sed "s|@PREFIX@|$prefix|g" firmware-notes/condseg-live.service.in >"$unit"
put 0644 "$unit" "$prefix/lib/systemd/system/condseg-live.service"

# The installed binary must not need the toolchain: every library it loads is a system one.
toolchain_libraries=$(ldd "$prefix/bin/condseg" | grep -E 'not found|/swift|libswift|libFoundation|libdispatch|libBlocksRuntime' || true)
if [ -n "$toolchain_libraries" ]; then
    echo "install.sh: $prefix/bin/condseg still needs:" >&2
    echo "$toolchain_libraries" >&2
    exit 1
fi
"$prefix/bin/condseg" --version
echo "install.sh: installed under $prefix (bin/condseg, share/condseg/, lib/systemd/system/condseg-live.service)"
