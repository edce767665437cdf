#!/usr/bin/env bash
# soak.sh — a long unattended `condseg live` run with faults, sampling the process's memory and descriptors.
#   scripts/soak.sh [FRAMES] [FAULT_EVERY] [OUT_DIR]     defaults: 100000 frames, a fault every 50 polls, .build/soak
# The source is a camera simulated in memory (`--device simulated:640x480`, YUYV) whose seeded schedule injects
# every fault the capture must survive (timeouts, partial and flagged buffers, POLLERR, DQBUF errors, resolution
# changes, unplug and return); the segmenter is the brightness test segmenter (`--fake-segmenter`), so the run
# measures the pipeline, not the model. Overlay snapshots go to OUT_DIR/overlays every 5000 frames; the counters
# are logged every 60 s (OUT_DIR/live.log).
# Every second the resident set (VmRSS) and the open descriptors of the process are written to
# OUT_DIR/samples.csv; at the end the run's --json statistics are in OUT_DIR/stats.json and a summary is printed:
# RSS and descriptors after warm-up (the first 10% of the samples) must stay within 4 MiB and 0 of their
# warm-up maximum, every fault the camera injected (its tally is in the JSON) must be counted and every device
# fault recovered, every captured frame must end segmented, dropped or discarded with at most 4 in flight at
# once (the frame queue does not grow), and the run must end normally.
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${1:-100000}; every=${2:-50}; out=${3:-.build/soak}
binary=${CONDSEG_TEST_BINARY:-.build/release/condseg}
if [[ ! -x "$binary" ]]; then
    echo "soak: $binary not found; building it (swift build -c release --product condseg, a few minutes)" >&2
    nice -n 10 swift build -c release --product condseg
    echo "soak: built $binary" >&2
fi
echo "soak: running $binary live on a simulated 640x480 camera, $frames frames, a fault every $every polls; results in $out" >&2
mkdir -p "$out/overlays"
rm -f "$out"/overlays/*.png "$out/samples.csv"
"$binary" live --device simulated:640x480 --simulate-faults "$every" --fake-segmenter --frames "$frames" \
    --overlay-out "$out/overlays" --every 5000 --stats-interval 60 --json >"$out/stats.json" 2>"$out/live.log" &
pid=$!
echo "seconds,rss_kib,fds" >"$out/samples.csv"
start=$(date +%s)
while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l || true)
    [[ -n "$rss" ]] && echo "$(( $(date +%s) - start )),$rss,$fds" >>"$out/samples.csv"
    sleep 1
done
set +e; wait "$pid"; rc=$?; set -e
python3 - "$out" "$rc" <<'PY'
import csv, json, sys
out, rc = sys.argv[1], int(sys.argv[2])
rows = [(int(a), int(b), int(c)) for a, b, c in list(csv.reader(open(out + "/samples.csv")))[1:]]
stats = json.load(open(out + "/stats.json"))
warm = max(1, len(rows) // 10)
rss_warm = max(r[1] for r in rows[:warm]); rss_after = max(r[1] for r in rows[warm:]) if rows[warm:] else rss_warm
fd_warm = max(r[2] for r in rows[:warm]); fd_after = max(r[2] for r in rows[warm:]) if rows[warm:] else fd_warm
rss_last = rows[-1][1]
print(f"exit status {rc}; {rows[-1][0]} s; " + ", ".join(f"{k} {stats.get(k)}" for k in
      ["captured", "segmented", "dropped", "discarded", "corrupt", "timeouts", "device_faults", "reconnects",
       "format_changes", "in_flight", "in_flight_max", "reconnect_wait_s", "reconnect_wait_simulated", "segmented_per_s"]))
print(f"RSS: warm-up max {rss_warm} KiB, after warm-up max {rss_after} KiB (growth {rss_after - rss_warm} KiB), last {rss_last} KiB")
print(f"descriptors: warm-up max {fd_warm}, after warm-up max {fd_after}")
print("RSS at every 10% of the run (s: KiB, descriptors): " + ", ".join(
      f"{rows[i][0]}: {rows[i][1]}, {rows[i][2]}" for i in sorted({min(len(rows) - 1, len(rows) * p // 10) for p in range(11)})))
# Every fault the simulated camera injected must be counted by the pipeline, and every device fault recovered
# (the run may end while the last one is being recovered).
device = stats.get("simulated_device", {}); injected = device.get("injected", {})
def c(key): return stats.get(key, -1)
checks = [
    ("timeouts counted", c("timeouts") == injected.get("timeouts")),
    ("partial and flagged frames counted as corrupt", c("corrupt") == injected.get("partial_frames", 0) + injected.get("flagged_frames", 0)),
    ("poll errors, DQBUF errors and unplugs counted as device faults",
     c("device_faults") == injected.get("poll_errors", 0) + injected.get("dequeue_errors", 0) + injected.get("unplugs", 0)),
    ("device faults recovered", c("device_faults") - 1 <= c("reconnects") <= c("device_faults")),
    ("resolution changes counted", c("format_changes") == injected.get("resolution_changes")),
    ("every captured frame segmented, dropped or discarded", c("captured") == c("segmented") + c("dropped") + c("discarded")),
    ("no frame left in flight", c("in_flight") == 0),
    ("frames in flight within the latest-wins bound (4)", 0 < c("in_flight_max") <= 4),
    ("no buffer-protocol violation", device.get("protocol_violations") == 0),
]
for name, ok in checks: print(("ok   " if ok else "FAIL ") + name)
print("injected: " + json.dumps(injected, sort_keys=True))
ok = rc == 0 and rss_after - rss_warm <= 4096 and fd_after <= fd_warm and all(ok for _, ok in checks)
print("soak: " + ("PASS" if ok else "FAIL"))
sys.exit(0 if ok else 1)
PY
