#!/usr/bin/env python3
"""Float32 side by side: condseg's optimised executor (`bench --engine fast`), its float reference
(`--engine reference`), ONNX Runtime fp32 and, when importable, OpenVINO fp32, on the same model, alternating
within each round so every engine sees the same machine state; medians over rounds, ratios printed.

Usage:
  python3 benchmarks/float_compare.py [--onnx MODEL.onnx]
         [--condseg .build/release/condseg] [--threads 1 2] [--rounds 5] [--iterations 3] [--json]

Each condseg measurement is the median of `--iterations` timed frames after a warm-up (its JSON also carries the
the OpenBLAS sgemm figure measured in the same run, for comparison: not a ceiling); ONNX Runtime / OpenVINO are timed the same way in this process.
Without --onnx the peers run condseg's own float export of the same model (`condseg export --onnx`, into a
temporary folder).
Needs: pip install onnxruntime numpy (openvino optional). Absolute times drift on a shared machine: read ratios.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time


def export_onnx(binary, folder):
    """condseg's float ONNX export of its default model, written into `folder`."""
    path = os.path.join(folder, "condseg-float.onnx")
    subprocess.run([binary, "export", "--onnx", path], check=True, capture_output=True, text=True)
    return path


def condseg(binary, engine, threads, iterations, profile=False):
    cmd = [binary, "bench", "--engine", engine, "--threads", str(threads), "--iterations", str(iterations), "--json"]
    if profile:
        cmd.append("--profile")
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


class Peer:
    """A peer runtime session made once; `latency` times `iterations` frames after one warm-up."""

    def __init__(self, kind, onnx, threads, size=256):
        import numpy as np
        self.kind = kind
        self.x = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
        if kind == "onnxruntime":
            import onnxruntime as ort
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self.sess = ort.InferenceSession(onnx, so, providers=["CPUExecutionProvider"])
            name = self.sess.get_inputs()[0].name
            self.run = lambda: self.sess.run(None, {name: self.x})
        else:
            import openvino as ov
            core = ov.Core()
            model = core.compile_model(onnx, "CPU", {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"})
            request = model.create_infer_request()
            self.run = lambda: request.infer({0: self.x})
        self.run()

    def latency(self, iterations):
        times = []
        for _ in range(iterations):
            t0 = time.perf_counter()
            self.run()
            times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", metavar="MODEL", help="model for the peers (default: condseg export --onnx of the same model)")
    ap.add_argument("--condseg", metavar="PATH", default=".build/release/condseg", help="condseg binary (default: %(default)s)")
    ap.add_argument("--threads", metavar="N", type=int, nargs="+", default=[1, 2], help="thread counts to run, each in every round (default: 1 2)")
    ap.add_argument("--rounds", metavar="R", type=int, default=5, help="rounds; each runs every engine once per thread count, the figure is the median over rounds (default: %(default)s)")
    ap.add_argument("--iterations", metavar="I", type=int, default=3, help="timed frames per engine and round after one warm-up, their median is the round's figure (default: %(default)s)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    a = ap.parse_args()
    work = tempfile.TemporaryDirectory(prefix="condseg-float-compare-")
    if not a.onnx:
        a.onnx = export_onnx(a.condseg, work.name)
    results = {}
    for t in a.threads:
        peers = [Peer("onnxruntime", a.onnx, t)]
        try:
            peers.append(Peer("openvino", a.onnx, t))
        except ImportError:
            print("openvino not importable: skipped", file=sys.stderr)
        samples = {"fast": [], "reference": [], **{p.kind: [] for p in peers}}
        ceilings = []
        for r in range(a.rounds):
            fast = condseg(a.condseg, "fast", t, a.iterations)
            samples["fast"].append(fast["median_ms"])
            ceilings.append(fast["sgemm_ceiling_gflops"])
            samples["reference"].append(condseg(a.condseg, "reference", t, a.iterations)["median_ms"])
            for p in peers:
                samples[p.kind].append(p.latency(a.iterations))
            print(f"threads {t} round {r + 1}: " + ", ".join(f"{k} {v[-1]:.0f} ms" for k, v in samples.items()),
                  file=sys.stderr)
        medians = {k: statistics.median(v) for k, v in samples.items()}
        profile = condseg(a.condseg, "fast", t, a.iterations, profile=True)
        results[t] = {"median_ms": medians, "samples_ms": samples, "sgemm_ceiling_gflops_median": statistics.median(ceilings),
                      "ratios_peer_over_fast": {k: v / medians["fast"] for k, v in medians.items() if k != "fast"},
                      "fast_profile": profile.get("profile", {}), "fast_profile_ceiling": profile["sgemm_ceiling_gflops"]}
    if a.json:
        print(json.dumps(results, indent=2))
        return
    for t, r in results.items():
        m = r["median_ms"]
        print(f"{t} thread(s), medians of {a.rounds} alternating rounds: " + ", ".join(f"{k} {v:.0f} ms" for k, v in m.items()))
        print("  time ratio other/fast (> 1: fast is faster): " +
              ", ".join(f"{k} {v:.2f}" for k, v in r["ratios_peer_over_fast"].items()))
        ceiling = r["fast_profile_ceiling"]
        print(f"  fast per module group (OpenBLAS sgemm figure in that run, for comparison: {ceiling:.1f} GFLOP/s = {ceiling / 2:.1f} GMAC/s):")
        for name, g in sorted(r["fast_profile"].items(), key=lambda kv: -kv[1]["ms"]):
            if g["gmac"] > 0:
                print(f"    {name:16s} {g['ms']:8.1f} ms {g['gmac']:6.3f} GMAC {g['gmac_per_s']:6.1f} GMAC/s"
                      f" = {100 * 2 * g['gmac_per_s'] / ceiling:5.1f}% of the sgemm figure")


if __name__ == "__main__":
    main()
