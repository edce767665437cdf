#!/usr/bin/env bash
# Pipeline figures of the aarch64 GEMM microkernels without ARM hardware: compiles
# Sources/CKernels/qgemm_u8s8_neondot.c, qgemm_u8s8_neon.c and float_kernels_neon.c (the fixed-order float GEMM) as SwiftPM compiles them for aarch64 (the Swift
# toolchain's clang, --target=aarch64-linux-gnu -O3, no -mcpu), takes each kernel's inner loop out of the
# assembly (scripts/arm-loop-extract.py: the steady-state body of the loop holding the multiply instructions) and
# runs llvm-mca on it for the Neoverse N1 (Cortex-A76 class) and Cortex-A55 models. Prints, per kernel and core,
# the cycles per loop iteration, the issue bound (llvm-mca's block reciprocal throughput of the loop's multiply
# instructions alone: what the core could do with nothing else in the loop) and the share of that bound reached.
# Installs nothing. Exit 0; 77 when a tool is missing.
# Needs: llvm-mca-19 (apt-get install llvm-19), clang (the Swift toolchain's), python3; the aarch64 sysroot of
# gcc-aarch64-linux-gnu / libc6-dev-arm64-cross for the C headers.
set -u
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mca="${LLVM_MCA:-llvm-mca-19}"
clang="${CLANG:-clang}"
for tool in "$mca" "$clang" python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "arm-mca.sh: missing $tool (apt-get install llvm-19; the Swift toolchain's clang on PATH)" >&2; exit 77; }
done
sysroot=/usr/aarch64-linux-gnu
[ -d "$sysroot/include" ] || { echo "arm-mca.sh: no aarch64 sysroot at $sysroot (apt-get install libc6-dev-arm64-cross)" >&2; exit 77; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
iterations=500

printf '%-8s %-12s %6s %10s %8s %8s %9s\n' kernel core MACs cycles/it bound share GMAC/GHz
for kernel in neondot neon sgemm; do
    case $kernel in
        neondot) pattern='sdot'; file=qgemm_u8s8_neondot.c ;;       # one 128-bit SDOT: 16 int8 MACs
        neon) pattern='smull2?|sadalp'; file=qgemm_u8s8_neon.c ;;   # SMULL: 8 int8 products; SADALP accumulates
        sgemm) pattern='fmla'; file=float_kernels_neon.c ;;         # the fixed-order float GEMM: FMLA, 4 float MACs
    esac
    "$clang" --target=aarch64-linux-gnu --sysroot="$sysroot" -O3 -S -I"$root/Sources/CKernels/include" \
        "$root/Sources/CKernels/$file" -o "$work/$kernel.s" || exit 1
    python3 "$root/scripts/arm-loop-extract.py" "$work/$kernel.s" "$pattern" > "$work/$kernel-loop.s" || exit 1
    grep -E "^\s*($pattern)\s" "$work/$kernel-loop.s" > "$work/$kernel-mul.s"
    case $kernel in
        neondot) macs=$(( $(grep -c . "$work/$kernel-mul.s") * 16 )) ;;
        neon) macs=$(( $(grep -cE '^\s*smull2?\s' "$work/$kernel-mul.s") * 8 )) ;;
        sgemm) macs=$(( $(grep -c . "$work/$kernel-mul.s") * 4 )) ;;
    esac
    for core in neoverse-n1 cortex-a55; do
        total=$("$mca" -mtriple=aarch64 -mcpu=$core -iterations=$iterations "$work/$kernel-loop.s" 2>/dev/null | awk '/^Total Cycles:/ {print $3}')
        bound=$("$mca" -mtriple=aarch64 -mcpu=$core -iterations=$iterations "$work/$kernel-mul.s" 2>/dev/null | awk '/^Block RThroughput:/ {print $3}')
        awk -v k=$kernel -v c=$core -v m=$macs -v t="$total" -v n=$iterations -v b="$bound" 'BEGIN {
            cyc = t / n; printf "%-8s %-12s %6d %10.1f %8.1f %7.0f%% %9.1f\n", k, c, m, cyc, b, 100 * b / cyc, m / cyc }'
    done
done
echo "(MACs: multiply-accumulates per loop iteration, int8 for the qgemm kernels and float32 for sgemm; GMAC/GHz = MACs per cycle; $iterations iterations simulated)"
