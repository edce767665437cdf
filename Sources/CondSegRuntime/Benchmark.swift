// Benchmark.swift — timing helpers for `condseg bench`: medians and percentiles of repeated runs, and the
// machine's float ceiling measured in the same run (OpenBLAS sgemm on a convolution-shaped product), so a
// speed figure is always stated next to what this machine can do at that moment.

import COpenBLAS
import Dispatch

/// Summary of repeated timings, in milliseconds.
public struct TimingSummary: Sendable, Codable {
    public var median: Double
    public var p90: Double
    public var min: Double
    public var runs: Int

    public init(milliseconds samples: [Double]) {
        let sorted = samples.sorted()
        runs = sorted.count
        median = sorted.isEmpty ? 0 : (sorted.count % 2 == 1 ? sorted[sorted.count / 2]
            : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2)
        // Nearest rank: the smallest sample with at least 90% of the samples at or below it (never below the median).
        p90 = sorted.isEmpty ? 0 : sorted[max(0, Int((0.9 * Double(sorted.count)).rounded(.up)) - 1)]
        min = sorted.first ?? 0
    }
}

public enum Benchmark {
    /// Wall time of `body` in milliseconds.
    public static func milliseconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
    }

    /// OpenBLAS sgemm throughput in GFLOP/s (median of `runs`) for C[m×n] = A[m×k]·B[k×n] on `threads` threads.
    /// The default shape is the default model's dominant convolution (64 outputs, 128×128 pixels, 3×3×64 inputs).
    public static func sgemmCeiling(threads: Int, m: Int = 64, n: Int = 16384, k: Int = 576, runs: Int = 7) -> Double {
        openblas_set_num_threads(Int32(threads))
        var a = [Float](repeating: 0, count: m * k), b = [Float](repeating: 0, count: k * n)
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<a.count { a[i] = Float(i % 13) * 0.01 }
        for i in 0..<b.count { b[i] = Float(i % 7) * 0.01 }
        var samples: [Double] = []
        for run in 0..<(runs + 1) {
            let ms = milliseconds {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k),
                            b, Int32(n), 0, &c, Int32(n))
            }
            if run > 0 { samples.append(ms) }   // the first run warms caches and threads
        }
        let median = TimingSummary(milliseconds: samples).median
        return 2 * Double(m) * Double(n) * Double(k) / (median * 1e6)
    }
}
