#!/bin/bash
# run-vivid-tests.sh: tests `condseg capture` and `condseg live` against a real V4L2 driver without a camera.
# The kernel's virtual video driver (vivid) runs in a QEMU VM under software emulation (TCG): this script
# downloads a Debian kernel package (apt-get download; nothing built elsewhere), builds condseg
# (swift build -c release --static-swift-stdlib --scratch-path .build-vivid), packs an initramfs with busybox,
# the V4L2 modules, condseg and its shared libraries, boots it, runs scripts/vivid/guest-tests.sh inside, and
# gets the results back byte-exact over the VM's second serial port into RESULTS (a folder that must not exist
# yet). Tests/CondSegCaptureTests/VividVMTests.swift runs it and judges the results
# (`swift test -c release --filter VividVMTests`).
#
# Usage: run-vivid-tests.sh RESULTS
# Needs: apt-get install -y qemu-system-x86 busybox-static cpio kmod   (scripts/install-deps.sh --tests)
# Environment: CONDSEG_BINARY=path  use this condseg instead of building one
#              CONDSEG_VIVID_CACHE  where the kernel package is kept (default ~/.cache/condseg-vivid)
#              CONDSEG_VIVID_KERNEL kernel package name (default: the newest linux-image-*-amd64 apt knows)
#              CONDSEG_VIVID_KEEP=1 keep the work folder (results, serial logs) for inspection
# Exit status: 0 the VM ran and RESULTS holds what it wrote, 2 missing tools, bad usage or setup failure.
set -euo pipefail

if [ $# -ne 1 ] || [ -e "$1" ]; then
    echo "usage: run-vivid-tests.sh RESULTS   (RESULTS: a folder to create, ${1:+$1 exists already})" >&2
    exit 2
fi
results=$1

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${CONDSEG_VIVID_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/condseg-vivid}
work=$(mktemp -d /tmp/condseg-vivid.XXXXXX)
cleanup() { if [ "${CONDSEG_VIVID_KEEP:-0}" = 1 ]; then echo "vivid: work folder kept: $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
say() { echo "vivid: $*"; }
setup_fail() { echo "vivid: setup failed: $*" >&2; exit 2; }

missing=()
for tool in qemu-system-x86_64 cpio gzip modinfo dpkg-deb apt-get apt-cache ldd timeout; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
[ -x /bin/busybox ] && /bin/busybox --list | grep -qx insmod || missing+=("busybox (static)")
if [ ${#missing[@]} -gt 0 ]; then
    setup_fail "missing ${missing[*]}; install with: apt-get install -y qemu-system-x86 busybox-static cpio kmod"
fi
if ldd /bin/busybox >/dev/null 2>&1; then setup_fail "/bin/busybox is dynamically linked; install busybox-static"; fi

# 1. Kernel image and modules from Debian's registry.
mkdir -p "$cache"
package=${CONDSEG_VIVID_KERNEL:-$(apt-cache search --names-only '^linux-image-[0-9.]+-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -n 1)}
[ -n "$package" ] || setup_fail "no linux-image-*-amd64 package known to apt (run apt-get update)"
if [ ! -d "$cache/$package" ]; then
    say "downloading $package"
    (cd "$cache" && rm -f "${package}"_*.deb && apt-get download "$package" >/dev/null) || setup_fail "apt-get download $package"
    rm -rf "$cache/$package.tmp" && mkdir -p "$cache/$package.tmp"
    dpkg-deb -x "$cache/${package}"_*.deb "$cache/$package.tmp" && mv "$cache/$package.tmp" "$cache/$package"
    rm -f "$cache/${package}"_*.deb
fi
kernel_root="$cache/$package"
vmlinuz=$(ls "$kernel_root"/boot/vmlinuz-* | head -n 1)
modules_dir=$(ls -d "$kernel_root"/lib/modules/* | head -n 1)

# 2. The program under test.
if [ -n "${CONDSEG_BINARY:-}" ]; then
    binary=$CONDSEG_BINARY
else
    say "building condseg (release, static Swift runtime)"
    (cd "$root" && swift build -c release --static-swift-stdlib --scratch-path .build-vivid --product condseg >"$work/build.log" 2>&1) \
        || { tail -n 30 "$work/build.log" >&2; setup_fail "swift build failed (log above)"; }
    binary="$root/.build-vivid/release/condseg"
fi
[ -x "$binary" ] || setup_fail "no condseg binary at $binary"

# 3. The initramfs: busybox, modules in dependency order, condseg and its libraries, the guest script.
initrd_root="$work/initrd"
mkdir -p "$initrd_root"/{bin,dev,proc,sys,tmp,results,modules}
cp /bin/busybox "$initrd_root/bin/busybox"
ordered=()
add_module() {  # depth-first: dependencies before the module
    local name=$1 file dep
    for done_name in "${ordered[@]:-}"; do [ "$done_name" = "$name" ] && return 0; done
    file=$(find "$modules_dir" -name "$name.ko*" | head -n 1)
    [ -n "$file" ] || setup_fail "module $name not in $package"
    for dep in $(modinfo -F depends "$file" | tr ',' ' '); do add_module "$dep"; done
    ordered+=("$name")
    case "$file" in
        *.xz) xz -dc "$file" >"$initrd_root/modules/$name.ko" ;;
        *.zst) zstd -qdc "$file" >"$initrd_root/modules/$name.ko" ;;
        *) cp "$file" "$initrd_root/modules/$name.ko" ;;
    esac
}
add_module vivid
printf '%s\n' "${ordered[@]}" >"$initrd_root/modules/order"
cp "$binary" "$initrd_root/bin/condseg"
for library in $(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
    mkdir -p "$initrd_root$(dirname "$library")"
    cp -L "$library" "$initrd_root$library"
done
cp "$here/guest-tests.sh" "$initrd_root/guest-tests.sh"
cat >"$initrd_root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for module in $(cat /modules/order); do
    if [ "$module" = vivid ]; then insmod /modules/vivid.ko n_devs=1 node_types=0x101; else insmod /modules/$module.ko; fi
done
sh /guest-tests.sh > /results/guest-tests.log 2>&1
stty -F /dev/ttyS1 raw -echo
cd / && find results | cpio -o -H newc > /dev/ttyS1 2>/dev/null
sync
poweroff -f
INIT
chmod +x "$initrd_root/init" "$initrd_root/guest-tests.sh"
(cd "$initrd_root" && find . | cpio -o -H newc 2>/dev/null | gzip -1 >"$work/initrd.gz")

# 4. Boot it (software emulation; /dev/kvm is not usable here). The guest powers off when done; it usually takes
#    1.5 min but 200 s were seen on a loaded 2-core machine, and each guest step has its own 60 s limit.
say "booting $(basename "$vmlinuz") with vivid ($(du -h "$work/initrd.gz" | cut -f1) initramfs)"
started=$(date +%s)
timeout 480 qemu-system-x86_64 -accel tcg -m 768 -smp 1 -display none -no-reboot -nodefaults \
    -serial "file:$work/console.log" -serial "file:$work/results.cpio" \
    -kernel "$vmlinuz" -initrd "$work/initrd.gz" \
    -append 'console=ttyS0 panic=-1 quiet loglevel=3' </dev/null \
    || setup_fail "qemu failed or timed out (console: $(tail -n 5 "$work/console.log" 2>/dev/null))"
say "VM run took $(( $(date +%s) - started )) s"
mkdir -p "$work/out"
(cd "$work/out" && cpio -idm --quiet <"$work/results.cpio") || setup_fail "no results from the VM (console: $(tail -n 20 "$work/console.log"))"
[ -f "$work/out/results/guest-tests.log" ] || setup_fail "the VM wrote no guest-tests.log (console: $(tail -n 20 "$work/console.log"))"

# 5. Hand the results over (VividVMTests judges them).
mkdir -p "$(dirname "$results")"
cp -a "$work/out/results" "$results"
say "results in $results"
