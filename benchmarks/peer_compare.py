#!/usr/bin/env python3
"""Side by side: `condseg bench` and ONNX Runtime on the same model, alternating, medians of several rounds.

Usage:
  python3 benchmarks/peer_compare.py [--onnx MODEL.onnx] [--threads 1 2]
         [--rounds 3] [--iterations 5] [--condseg .build/release/condseg] [--calibration TABLE] [--json]

Each round runs condseg (`bench` with its default engine, the fast float executor; int8 with --calibration)
then ONNX Runtime float32 for each thread
count, so both see the same machine state (without --onnx, ONNX Runtime runs condseg's own float export of the
model, `condseg export --onnx` into a temporary folder); the ratio is ORT median / condseg median (> 1: condseg is faster).
Needs: pip install onnxruntime numpy. Absolute times drift on a shared machine: read the ratios.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

def export_onnx(binary, folder):
    """condseg's float ONNX export of its default model, written into `folder`."""
    path = os.path.join(folder, "condseg-float.onnx")
    subprocess.run([binary, "export", "--onnx", path], check=True, capture_output=True, text=True)
    return path

def ort_latency(path, threads, iterations, size=256):
    import numpy as np, onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
    name = sess.get_inputs()[0].name
    sess.run(None, {name: x})
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter(); sess.run(None, {name: x}); times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)

def condseg_latency(binary, threads, iterations, calibration):
    cmd = [binary, "bench", "--threads", str(threads), "--iterations", str(iterations), "--json"]
    if calibration:
        cmd += ["--calibration", calibration]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["median_ms"]

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", metavar="MODEL", help="model for ONNX Runtime (default: condseg export --onnx of the same model)")
    ap.add_argument("--threads", metavar="N", type=int, nargs="+", default=[1, 2], help="thread counts to run, each in every round (default: 1 2)")
    ap.add_argument("--rounds", metavar="R", type=int, default=3, help="rounds; the figure is the median over rounds (default: %(default)s)")
    ap.add_argument("--iterations", metavar="I", type=int, default=5, help="timed frames per engine and round after one warm-up, their median is the round's figure (default: %(default)s)")
    ap.add_argument("--condseg", metavar="PATH", default=".build/release/condseg", help="condseg binary (default: %(default)s)")
    ap.add_argument("--calibration", metavar="TABLE", help="time condseg's int8 path with this calibration table instead of the fast float executor")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    a = ap.parse_args()
    work = tempfile.TemporaryDirectory(prefix="condseg-peer-compare-")
    if not a.onnx:
        a.onnx = export_onnx(a.condseg, work.name)
    results = {}
    for t in a.threads:
        ours, peer = [], []
        for r in range(a.rounds):
            ours.append(condseg_latency(a.condseg, t, a.iterations, a.calibration))
            peer.append(ort_latency(a.onnx, t, a.iterations))
            print(f"threads {t} round {r + 1}: condseg {ours[-1]:.1f} ms, onnxruntime {peer[-1]:.1f} ms", file=sys.stderr)
        o, p = statistics.median(ours), statistics.median(peer)
        results[t] = {"condseg_ms": o, "onnxruntime_fp32_ms": p, "ratio_ort_over_condseg": p / o}
    if a.json:
        print(json.dumps(results, indent=2))
    else:
        kind = "int8" if a.calibration else "float32 (fast executor)"
        for t, r in results.items():
            print(f"{t} thread(s): condseg {kind} {r['condseg_ms']:.1f} ms, ONNX Runtime fp32 {r['onnxruntime_fp32_ms']:.1f} ms,"
                  f" ORT/condseg = {r['ratio_ort_over_condseg']:.2f}")

if __name__ == "__main__":
    main()
