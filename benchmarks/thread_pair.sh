#!/bin/bash
# thread_pair.sh — is a slow 2-thread frame the code or the host? Alternates, for the int8 and the float path:
# one 1-thread `condseg bench` alone, two 1-thread benches at once (separate processes: nothing shared, no
# synchronisation), and one 2-thread bench. If the pair run as fast as one alone, the machine had two cores to
# give at that moment; a 2-thread time above half the 1-thread time in the same minute is then lost in the
# process's own threads (hand-offs, waiting at the end of each job), not to a missing core.
# Usage: benchmarks/thread_pair.sh [rounds] [condseg binary] [calibration table]
#   (ms per frame: medians of 10 timed frames per bench; run it at high priority on an otherwise idle machine)
set -euo pipefail
rounds=${1:-5}
binary=${2:-.build/release/condseg}
table=${3:-calibration/condseg-r18w64-kvasir.table.txt}
work=$(mktemp -d /tmp/thread_pair.XXXXXX)
trap 'rm -rf "$work"' EXIT
median() { python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['median_ms'], 1))" "$1"; }
for round in $(seq 1 "$rounds"); do
  for kind in int8 float; do
    options=(--iterations 10 --json)
    [ "$kind" = int8 ] && options+=(--calibration "$table")
    "$binary" bench --threads 1 "${options[@]}" > "$work/alone.json" 2>/dev/null
    "$binary" bench --threads 1 "${options[@]}" > "$work/a.json" 2>/dev/null &
    "$binary" bench --threads 1 "${options[@]}" > "$work/b.json" 2>/dev/null &
    wait
    "$binary" bench --threads 2 "${options[@]}" > "$work/two.json" 2>/dev/null
    alone=$(median "$work/alone.json") two=$(median "$work/two.json")
    echo "round $round $kind: 1 thread alone $alone ms; two 1-thread processes at once $(median "$work/a.json") and $(median "$work/b.json") ms; 2 threads $two ms ($(python3 -c "print(round($alone / $two, 2))")x) $(date +%T)"
  done
done
