#!/usr/bin/env python3
"""edge_frontier.py — measures the rows of the README's edge-frontier table (input size vs accuracy vs speed).

For every row (a model file, the size it runs at, and a calibration table — made here with `condseg calibrate`
when the file does not exist) it runs, with the condseg binary given:

  inspect --json                    MACs per frame at that size
  calibrate (if the table is new)   minmax, 7-bit weights, the calibration list (the shipped table's recipe)
  compare --json                    float and int8 val mDSC, int8-vs-float mask agreement, the gate
                                    (--max-dice-drop 0.003 --min-agreement 0.99)
  bench --compare-float --json      int8 and float fast executor alternating frame by frame, at 1 and 2 threads,
                                    ROUNDS rounds alternating between rows; medians reported

Usage:
  python3 benchmarks/edge_frontier.py --data DIR --binary .build/release/condseg --out OUT.json \\
      --row NAME:MODEL:SIZE:TABLE [--row ...] [--rounds 3] [--iterations 5] [--skip-compare]

The printed markdown table is what the README carries; OUT.json keeps every raw measurement.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def run(binary, args, log):
    command = [binary] + args
    print("$ " + " ".join(command), file=log, flush=True)
    started = time.time()
    result = subprocess.run(command, capture_output=True, text=True)
    print(f"  ({time.time() - started:.0f} s, exit {result.returncode})", file=log, flush=True)
    if result.returncode not in (0, 1):  # compare exits 1 when a gate fails: still a measurement
        sys.stderr.write(result.stderr)
        raise SystemExit(f"edge_frontier: {' '.join(command)} failed with exit {result.returncode}")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="Kvasir-SEG folder (images/, masks/, val.txt; calib list below)")
    parser.add_argument("--calib-list", default="calibration/calib.txt")
    parser.add_argument("--binary", default=".build/release/condseg")
    parser.add_argument("--row", action="append", required=True, help="NAME:MODEL:SIZE:TABLE")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--skip-compare", action="store_true", help="only MACs and speed")
    parser.add_argument("--accuracy-from", help="take calibration and compare results of rows with the same NAME "
                        "from an earlier OUT.json instead of measuring them again")
    parser.add_argument("--out", required=True)
    options = parser.parse_args()

    log = sys.stderr
    rows = []
    for spec in options.row:
        name, model, size, table = spec.split(":")
        rows.append({"name": name, "model": model, "size": int(size), "table": table})

    earlier = {}
    if options.accuracy_from:
        earlier = {r["name"]: r for r in json.load(open(options.accuracy_from))["rows"]}
    for row in rows:
        row["bench"] = {str(t): {"int8_ms": [], "float_ms": []} for t in options.threads}
        common = ["--model", row["model"], "--size", str(row["size"])]
        if row["name"] in earlier and "float_mDSC" in earlier[row["name"]]:
            for key in ("gmac", "trained_input_size", "float_mDSC", "int8_mDSC", "agreement", "gate_passed"):
                row[key] = earlier[row["name"]][key]
            continue
        inspect = json.loads(run(options.binary, ["inspect"] + common + ["--json"], log).stdout)
        row["gmac"] = inspect["gmac_total"]
        row["trained_input_size"] = inspect.get("trained_input_size")
        if not os.path.exists(row["table"]):
            run(options.binary, ["calibrate"] + common + ["--threads", "2", "--data", options.data,
                "--list", options.calib_list, "--method", "minmax", "--weight-bits", "7", "--out", row["table"]], log)
        if not options.skip_compare:
            result = run(options.binary, ["compare"] + common + ["--threads", "2", "--calibration", row["table"],
                         "--data", options.data, "--list", os.path.join(options.data, "val.txt"),
                         "--max-dice-drop", "0.003", "--min-agreement", "0.99", "--json"], log)
            compare = json.loads(result.stdout)
            row["float_mDSC"] = compare["float"]["mDSC"]
            row["int8_mDSC"] = compare["int8"]["mDSC"]
            row["agreement"] = compare["agreement_dice"]
            row["gate_passed"] = compare["passed"]

    for round_index in range(options.rounds):
        for threads in options.threads:
            for row in rows:
                result = run(options.binary, ["bench", "--model", row["model"], "--size", str(row["size"]),
                             "--threads", str(threads), "--calibration", row["table"], "--compare-float",
                             "--iterations", str(options.iterations), "--json"], log)
                bench = json.loads(result.stdout)
                entry = row["bench"][str(threads)]
                entry["int8_ms"].append(bench["median_ms"])
                entry["float_ms"].append(bench["float"]["median_ms"])
                print(f"  round {round_index + 1} {row['name']} {threads} thread(s): int8 {bench['median_ms']:.1f} ms, "
                      f"float {bench['float']['median_ms']:.1f} ms", file=log, flush=True)

    with open(options.out, "w") as out:
        json.dump({"cpu": cpu_name(), "rounds": options.rounds, "iterations": options.iterations, "rows": rows},
                  out, indent=1)

    header = "| row | size | GMAC/frame | val mDSC float | val mDSC int8 | agreement | gate |"
    for t in options.threads:
        header += f" {t}-thread frames/s float | {t}-thread frames/s int8 |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for row in rows:
        line = f"| {row['name']} | {row['size']} | {row['gmac']:.2f} |"
        if "float_mDSC" in row:
            line += (f" {row['float_mDSC']:.4f} | {row['int8_mDSC']:.4f} | {row['agreement']:.4f} |"
                     f" {'pass' if row['gate_passed'] else 'FAIL'} |")
        else:
            line += " – | – | – | – |"
        for t in options.threads:
            entry = row["bench"][str(t)]
            if not entry["float_ms"]:
                line += " – | – |"
                continue
            line += (f" {1000 / statistics.median(entry['float_ms']):.2f} |"
                     f" {1000 / statistics.median(entry['int8_ms']):.2f} |")
        print(line)


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
