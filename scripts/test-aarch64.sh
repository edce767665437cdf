#!/usr/bin/env bash
# Cross-architecture check of the CKernels int8 kernels: builds the native self-test
# (Tests/CKernelsNative/ck_selftest.c) with gcc for x86-64 (every ISA this CPU runs, plus the AVX-512 VNNI
# kernel through scalar intrinsic stand-ins) and with the Debian aarch64 cross gcc (run under qemu-aarch64 with
# -cpu max = dotprod and -cpu cortex-a53 = plain NEON), and requires every run to pass and print the same
# checksum. Finally checks that SwiftPM compiles the CKernels target for aarch64.
# Installs nothing. Exit 0: all passed; 77: a tool is missing; 1: a check failed.
# Needs: apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
set -u
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

missing=()
for tool in gcc aarch64-linux-gnu-gcc qemu-aarch64 swift; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "test-aarch64.sh: missing ${missing[*]}; install with: apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user" >&2
    exit 77
fi
if [ ! -d /usr/aarch64-linux-gnu/lib ]; then
    echo "test-aarch64.sh: no aarch64 sysroot at /usr/aarch64-linux-gnu; install with: apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user" >&2
    exit 77
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
flags=(-std=c11 -O2 -ffp-contract=off -Wall -Wno-unknown-pragmas -ISources/CKernels/include)
sources=(Sources/CKernels/*.c Tests/CKernelsNative/ck_selftest.c)

build() {  # build <compiler> <output> [extra flags...]
    local compiler="$1" output="$2"; shift 2
    if ! "$compiler" "${flags[@]}" "$@" "${sources[@]}" -lm -o "$output" 2>"$work/build.log"; then
        echo "FAIL: $compiler could not build the self-test:" >&2
        cat "$work/build.log" >&2
        exit 1
    fi
}

failed=0
checksums=()
run() {  # run <label> <command...>: records the checksum; an ISA the CPU lacks (exit 77) is skipped
    local label="$1"; shift
    local log="$work/run.log" status
    "$@" >"$log" 2>&1
    status=$?
    if [ $status -eq 77 ]; then echo "skip  $label: $(tail -n 1 "$log")"; return; fi
    local line
    line="$(grep '^checksum ' "$log" | tail -n 1)"
    if [ $status -ne 0 ] || [ -z "$line" ]; then
        echo "FAIL  $label (exit $status)"
        grep -v ' ok$' "$log" | head -n 20
        failed=1
        return
    fi
    echo "ok    $label: $(head -n 1 "$log"); $line"
    checksums+=("$(echo "$line" | awk '{print $2}')")
}

build gcc "$work/selftest-x86"
for isa in "" generic avx2 avx512vnni; do run "x86-64 ${isa:-detected}" "$work/selftest-x86" $isa; done
build gcc "$work/selftest-x86-emulated" -DCK_EMULATE_AVX512 -ITests/CKernelsNative
run "x86-64 avx512vnni kernel via scalar stand-ins" "$work/selftest-x86-emulated" avx512vnni

build aarch64-linux-gnu-gcc "$work/selftest-arm"
for isa in "" generic neon neondot; do
    run "aarch64 qemu -cpu max ${isa:-detected}" qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu max "$work/selftest-arm" $isa
done
for isa in "" generic neon; do
    run "aarch64 qemu -cpu cortex-a53 ${isa:-detected}" qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu cortex-a53 "$work/selftest-arm" $isa
done

distinct="$(printf '%s\n' "${checksums[@]}" | sort -u | wc -l)"
if [ ${#checksums[@]} -eq 0 ] || [ "$distinct" -ne 1 ]; then
    echo "FAIL: checksums differ between runs: ${checksums[*]}"
    failed=1
else
    echo "ok    all ${#checksums[@]} runs agree: checksum ${checksums[0]}"
fi

if swift build --triple aarch64-unknown-linux-gnu --target CKernels --scratch-path .build-aarch64 >"$work/swift.log" 2>&1; then
    echo "ok    swift build --triple aarch64-unknown-linux-gnu --target CKernels"
else
    echo "FAIL: swift build --triple aarch64-unknown-linux-gnu --target CKernels:"
    tail -n 20 "$work/swift.log"
    failed=1
fi

[ $failed -eq 0 ] && echo "test-aarch64.sh: passed" || echo "test-aarch64.sh: FAILED"
exit $failed
