#!/bin/bash
# thread_pair.sh — is a slow 2-thread frame the code or the host? Alternates, for the int8 and the float path:
# one 1-thread `condseg bench` alone, two 1-thread benches at once (separate processes: nothing shared, no
# synchronisation), and one 2-thread bench. If the pair run about as fast as one alone (pair/alone near 1.0×),
# the machine had two cores to give at that moment; a 2-thread speed-up (alone/2 threads) well under 2× in the same
# minute is then lost in the process's own threads (hand-offs, waiting at the end of each job), not to a missing
# core. A pair near 2.0× of alone means something else held a core: the round says nothing about condseg.
# Usage: benchmarks/thread_pair.sh [rounds] [condseg binary] [calibration table]   (from any folder; the defaults are
#   this checkout's .build/release/condseg and its shipped table). ms per frame: medians of 10 timed frames per
#   bench. Run it on an otherwise idle machine, at high priority if other work is running, e.g. as root
#   setsid bash -c 'echo -20 > /proc/self/autogroup; benchmarks/thread_pair.sh 5'
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5}
binary=${2:-$root/.build/release/condseg}
table=${3:-$root/calibration/condseg-r18w64-kvasir.table.txt}
[ -x "$binary" ] || { echo "thread_pair: $binary: no condseg binary there (build it: swift build -c release)" >&2; exit 4; }
[ -f "$table" ] || { echo "thread_pair: $table: no calibration table there" >&2; exit 4; }
work=$(mktemp -d /tmp/thread_pair.XXXXXX)
trap 'rm -rf "$work"' EXIT
# bench NAME OPTIONS…: one bench into $work/NAME.json; on failure its stderr and the status.
bench() {
  local name=$1; shift
  if ! "$binary" bench "$@" > "$work/$name.json" 2> "$work/$name.err"; then
    echo "thread_pair: condseg bench $* failed:" >&2; cat "$work/$name.err" >&2; return 1
  fi
}
median() { python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['median_ms'], 1))" "$1"; }
ratio() { python3 -c "import sys; print(round(float(sys.argv[1]) / float(sys.argv[2]), 2))" "$1" "$2"; }
for round in $(seq 1 "$rounds"); do
  for kind in int8 float; do
    options=(--iterations 10 --json)
    [ "$kind" = int8 ] && options+=(--calibration "$table")
    bench alone --threads 1 "${options[@]}"
    bench a --threads 1 "${options[@]}" & first=$!
    bench b --threads 1 "${options[@]}" & second=$!
    wait $first; wait $second
    bench two --threads 2 "${options[@]}"
    alone=$(median "$work/alone.json") a=$(median "$work/a.json") b=$(median "$work/b.json") two=$(median "$work/two.json")
    echo "round $round $kind: 1 thread alone $alone ms; two 1-thread processes at once $a and $b ms" \
         "(pair/alone $(ratio "$a" "$alone")x, $(ratio "$b" "$alone")x); 2 threads $two ms" \
         "(alone/2 threads $(ratio "$alone" "$two")x) $(date +%T)"
  done
done
