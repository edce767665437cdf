#!/bin/bash
# allocations.sh — heap allocations per frame of `condseg bench`, counted by an LD_PRELOAD shim (malloc_count.c):
# runs bench with 1 and with 1+N timed iterations and prints (count(1+N) − count(1)) / N. What a frame allocates
# after the first includes predict()'s returned probability array (one allocation: the API hands the caller a new
# array) and the bench's own growth of its sample array (amortized: a few reallocations over N).
# Usage: benchmarks/allocations.sh [condseg binary] [extra bench options…]
#   e.g. benchmarks/allocations.sh .build/release/condseg --calibration calibration/condseg-r18w64-kvasir.table.txt --size 128
set -euo pipefail
binary=${1:-.build/release/condseg}
shift || true
n=20
shim=$(mktemp /tmp/malloc_count.XXXXXX.so)
trap 'rm -f "$shim"' EXIT
gcc -O2 -shared -fPIC "$(dirname "$0")/malloc_count.c" -o "$shim"
one=$(LD_PRELOAD="$shim" "$binary" bench --iterations 1 "$@" 2>&1 >/dev/null | sed -n 's/^malloc_count: //p')
many=$(LD_PRELOAD="$shim" "$binary" bench --iterations $((n + 1)) "$@" 2>&1 >/dev/null | sed -n 's/^malloc_count: //p')
echo "allocations: $one with 1 timed frame, $many with $((n + 1)); per extra frame: $(python3 -c "print(($many - $one) / $n)")"
