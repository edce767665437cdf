// Benchmark.swift — timing helpers for `condseg bench`: medians and percentiles of repeated runs, the machine's
// float ceiling measured in the same run (OpenBLAS sgemm on a convolution-shaped product), and the register-only
// peaks of the fp32 FMA and of the int8 instruction sequence the int8 kernel uses (CKernels' peak loops), so a
// speed figure is always stated next to what this machine can do at that moment.

import CKernels
import COpenBLAS
import CondSegCore
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

    /// The instruction sequence the int8 GEMM runs for weights of `weightBits` (8, 7 or 6) with the active instruction
    /// set, as the dispatcher chooses it: it is asked about weights packed at the edge of that range.
    public static func int8Variant(weightBits: Int) -> ck_qgemm_variant {
        let limit = Int8(Int8ConvWeights.limit(bits: weightBits))
        let (n, k) = (16, 4)
        let w = (0..<(n * k)).map { $0 % 2 == 0 ? limit : -limit }
        let packed = UnsafeMutableRawPointer.allocate(byteCount: ck_qgemm_packed_size(Int32(n), Int32(k)), alignment: 64)
        defer { packed.deallocate() }
        _ = w.withUnsafeBufferPointer { ck_qgemm_pack_weights($0.baseAddress, Int32(n), Int32(k), packed) }
        return ck_qgemm_variant_for(packed)
    }

    /// Register-only peaks of this machine, measured now, summed over the threads that ran them at once.
    public struct RegisterPeaks: Sendable {
        /// fp32 multiply-adds per second (10 chains of vfmadd231ps ymm on x86-64, fmla on aarch64), in G.
        public var fp32GMACs: Double
        /// u8×s8 multiply-adds per second of the int8 kernel's instruction sequence, in G.
        public var int8GMACs: Double
        /// What that sequence is ("avx2 vpmaddubsw", …).
        public var int8Sequence: String
    }

    /// Measures the register-only peaks on `threads` threads at once (each for about `seconds`, best of three) and
    /// sums them: what these cores can do now, with whatever else the machine is running.
    public static func registerPeaks(threads: Int, int8Variant variant: ck_qgemm_variant, seconds: Double = 0.05) -> RegisterPeaks {
        let fp32 = concurrently(threads) { ck_peak_fp32_gmacs(seconds) }
        let int8 = concurrently(threads) { ck_peak_int8_gmacs(variant, seconds) }
        return RegisterPeaks(fp32GMACs: fp32, int8GMACs: int8, int8Sequence: String(cString: ck_qgemm_variant_name(variant)))
    }

    /// Register-only peak of the int8 Winograd products' sequence (AVX2 `vpmaddwd` → `vpaddd`, int16 operands) on
    /// `threads` threads at once, summed, in GMAC/s; 0 where the CPU cannot run it.
    public static func winogradPeak(threads: Int, seconds: Double = 0.05) -> Double {
        concurrently(threads) { ck_peak_int8_gmacs(CK_QGEMM_AVX2_WIDEN, seconds) }
    }

    /// Runs `measure` on `threads` threads at once and sums the results.
    private static func concurrently(_ threads: Int, _ measure: @escaping @Sendable () -> Double) -> Double {
        let workers = max(1, threads)
        let results = UnsafeMutableBufferPointer<Double>.allocate(capacity: workers)
        results.initialize(repeating: 0)
        defer { results.deallocate() }
        nonisolated(unsafe) let slots = results
        DispatchQueue.concurrentPerform(iterations: workers) { slots[$0] = measure() }
        return results.reduce(0, +)
    }

    /// Name of the int8 Winograd products' instruction sequence (the loop the widening kernel's peak measures too).
    public static let winogradSequence = "avx2 vpmaddwd→vpaddd (int16)"

    /// `gmacPerSecond` as a fraction of `peak` (0 when the peak is not positive).
    public static func share(_ gmacPerSecond: Double, of peak: Double) -> Double { peak > 0 ? gmacPerSecond / peak : 0 }

    /// Name of the int8 GEMM kernel in use ("avx2", "neondot", "generic", …).
    public static var int8Kernel: String { String(cString: ck_isa_name(ck_active_isa())) }

    /// Int8 GEMM throughput in GOP/s (2 operations per multiply-accumulate, median of `runs`) of the active
    /// CKernels instruction set: ck_qgemm_u8s8 with uint8 output and the full epilogue on the same shape as
    /// `sgemmCeiling` (16384 pixels × 64 outputs × 576), rows split among `threads` threads as the int8 executor
    /// splits them. The weights span the range of `weightBits` (8: −127…127, 7: −63…63, 6: −31…31), so the kernel the
    /// dispatcher picks for such a table is the one timed.
    public static func int8Ceiling(threads: Int, m: Int = 16384, n: Int = 64, k: Int = 576, runs: Int = 7,
                                   weightBits: Int = 8) -> Double {
        let a = (0..<(m * k)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        let limit = Int8ConvWeights.limit(bits: weightBits)
        let w = (0..<(n * k)).map { Int8(truncatingIfNeeded: ($0 % (2 * limit + 1)) - limit) }
        let packed = UnsafeMutableRawPointer.allocate(byteCount: ck_qgemm_packed_size(Int32(n), Int32(k)), alignment: 64)
        defer { packed.deallocate() }
        _ = w.withUnsafeBufferPointer { ck_qgemm_pack_weights($0.baseAddress, Int32(n), Int32(k), packed) }
        let multiplier = [Float](repeating: 1e-4, count: n), bias = [Float](repeating: 0.5, count: n)
        var out = [UInt8](repeating: 0, count: m * n)
        var samples: [Double] = []
        a.withUnsafeBufferPointer { aBuf in
            multiplier.withUnsafeBufferPointer { mul in
                bias.withUnsafeBufferPointer { b in
                    out.withUnsafeMutableBufferPointer { o in
                        var args = ck_qgemm_args()
                        args.M = Int32(m); args.N = Int32(n); args.K = Int32(k)
                        args.a = aBuf.baseAddress; args.lda = k
                        args.packed_b = UnsafeRawPointer(packed)
                        args.a_zero_point = 3
                        args.multiplier = mul.baseAddress; args.bias = b.baseAddress
                        args.relu = 1
                        args.out_u8 = o.baseAddress; args.ldc = n
                        args.out_inv_scale = 10; args.out_zero_point = 0
                        let local = args
                        for run in 0..<(runs + 1) {
                            let ms = milliseconds {
                                parallelChunks(m, threads: threads) { rows in
                                    var copy = local
                                    _ = ck_qgemm_u8s8(&copy, Int32(rows.lowerBound), Int32(rows.upperBound))
                                }
                            }
                            if run > 0 { samples.append(ms) }
                        }
                    }
                }
            }
        }
        let median = TimingSummary(milliseconds: samples).median
        return 2 * Double(m) * Double(n) * Double(k) / (median * 1e6)
    }
}
