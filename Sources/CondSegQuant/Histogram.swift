// Histogram.swift — activation statistics for calibration and the three range methods (minmax, percentile,
// entropy). The histogram is of |x| over [0, 2^e) with a fixed bin count, the range growing by powers of two
// (pairs of bins merge exactly), so the final histogram equals the one made with the final range from the
// start: the result does not depend on the order images arrive in or on how they are split.

import Foundation

/// Histogram of |x| (with the signed min and max) of one activation tensor over many images.
public struct ActivationHistogram: Sendable, Equatable {
    /// Number of bins (a power of two).
    public let binCount: Int
    /// Counts per bin of |x|; bin i holds |x| in [i, i+1) · range / binCount.
    public private(set) var counts: [UInt64]
    /// Upper end of the binned range (a power of two; every |x| seen is below it); 0 until a nonzero value came.
    public private(set) var range: Float = 0
    public private(set) var minimum: Float = .infinity
    public private(set) var maximum: Float = -.infinity
    public private(set) var total: UInt64 = 0
    /// How many of the values were exactly 0 (they are also counted in bin 0). Any asymmetric uint8 range
    /// represents 0 exactly (the zero point is an integer), so the entropy search leaves them out.
    public private(set) var zeros: UInt64 = 0

    public init(binCount: Int = 2048) {
        precondition(binCount >= 2 && binCount & (binCount - 1) == 0, "bin count must be a power of two")
        self.binCount = binCount
        counts = [UInt64](repeating: 0, count: binCount)
    }

    /// A histogram from its stored parts (`Calibrator.readHistograms`); nil when they are inconsistent.
    public init?(binCount: Int, range: Float, minimum: Float, maximum: Float, total: UInt64, zeros: UInt64, counts: [UInt64]) {
        guard binCount >= 2, binCount & (binCount - 1) == 0, counts.count == binCount,
              counts.reduce(0, +) == total, zeros <= counts[0], range >= 0 else { return nil }
        self.binCount = binCount
        self.counts = counts
        self.range = range
        self.minimum = minimum
        self.maximum = maximum
        self.total = total
        self.zeros = zeros
    }

    /// Width of one bin.
    public var binWidth: Float { range / Float(binCount) }

    /// Adds `count` values (NaNs are ignored).
    public mutating func add(_ values: UnsafePointer<Float>, count: Int) {
        var lo = minimum, hi = maximum, maxAbs: Float = 0
        for i in 0..<count {
            let v = values[i]
            if v.isNaN { continue }
            lo = min(lo, v); hi = max(hi, v); maxAbs = max(maxAbs, abs(v))
        }
        minimum = lo; maximum = hi
        if maxAbs.isInfinite { maxAbs = .greatestFiniteMagnitude }
        grow(toCover: maxAbs)
        let perUnit = range > 0 ? Float(binCount) / range : 0   // a power of two: exact scaling
        let last = binCount - 1
        var nan: UInt64 = 0, zero: UInt64 = 0
        counts.withUnsafeMutableBufferPointer { c in
            for i in 0..<count {
                let v = values[i]
                if v.isNaN { nan += 1; continue }
                if v == 0 { zero += 1 }
                c[min(Int(abs(v) * perUnit), last)] += 1
            }
        }
        total += UInt64(count) - nan
        zeros += zero
    }

    /// Adds an array of values.
    public mutating func add(_ values: [Float]) {
        values.withUnsafeBufferPointer { add($0.baseAddress!, count: $0.count) }
    }

    /// Widens the range to the smallest power of two above `maxAbs`, merging pairs of bins per doubling.
    mutating func grow(toCover maxAbs: Float) {
        guard maxAbs > 0 else { return }
        let needed = Float(sign: .plus, exponent: maxAbs.exponent + 1, significand: 1)   // 2^(e+1) > maxAbs
        if range == 0 { range = needed; return }
        while range < needed {
            for i in 0..<(binCount / 2) { counts[i] = counts[2 * i] + counts[2 * i + 1] }
            for i in (binCount / 2)..<binCount { counts[i] = 0 }
            range *= 2
        }
    }

    /// Merges another histogram of the same tensor (e.g. of another image).
    public mutating func merge(_ other: ActivationHistogram) {
        precondition(other.binCount == binCount)
        guard other.total > 0 else { return }
        var o = other
        let top = max(range, other.range)
        if top > 0 {
            grow(toCover: top.nextDown)
            o.grow(toCover: top.nextDown)
        }
        for i in 0..<binCount { counts[i] += o.counts[i] }
        minimum = min(minimum, other.minimum)
        maximum = max(maximum, other.maximum)
        total += other.total
        zeros += other.zeros
    }

    /// Index one past the last nonzero bin.
    var usedBins: Int { (counts.lastIndex(where: { $0 > 0 }) ?? -1) + 1 }
}

/// How a tensor's range is chosen from its histogram.
public enum CalibrationMethod: Sendable, Equatable, CustomStringConvertible {
    /// The observed minimum and maximum.
    case minmax
    /// Clip |x| at this percentile (e.g. 99.99) of its distribution.
    case percentile(Double)
    /// TensorRT/ncnn KL-divergence threshold search on |x|.
    case entropy

    public var description: String {
        switch self {
        case .minmax: return "minmax"
        case .percentile(let p): return "percentile \(p)"
        case .entropy: return "entropy"
        }
    }

    /// The range [low, high] to quantize: a threshold T on |x| (the whole range for minmax), intersected with the
    /// observed [min, max].
    public func range(of h: ActivationHistogram) -> (low: Float, high: Float) {
        guard h.total > 0, h.minimum.isFinite, h.maximum.isFinite else { return (0, 0) }
        let threshold: Float
        switch self {
        case .minmax:
            return (h.minimum, h.maximum)
        case .percentile(let p):
            threshold = Calibration.percentileThreshold(h, percentile: p)
        case .entropy:
            // The search models this very range: 255 steps over [max(min, −T), min(max, T)] (0 included).
            threshold = Calibration.entropyThreshold(h, steps: 255)
        }
        return (max(h.minimum, -threshold), min(h.maximum, threshold))
    }
}

/// The threshold searches, exposed for tests.
public enum Calibration {
    /// The smallest bin edge below which at least `percentile`% of |x| lies (capped at the largest |x|).
    public static func percentileThreshold(_ h: ActivationHistogram, percentile: Double) -> Float {
        let maxAbs = max(abs(h.minimum), abs(h.maximum))
        let keep = Double(h.total) * min(max(percentile, 0), 100) / 100
        var cumulative: UInt64 = 0
        for i in 0..<h.binCount {
            cumulative += h.counts[i]
            if Double(cumulative) >= keep { return min(Float(i + 1) * h.binWidth, maxAbs) }
        }
        return maxAbs
    }

    /// Entropy calibration (the KL-divergence threshold search of TensorRT and ncnn), fitted to the quantizer this
    /// runtime uses: uint8 over [max(min, −T), min(max, T)] (0 included) in `steps` equal steps.
    ///
    /// For each candidate threshold T = i bin widths, the reference distribution P is the histogram of |x| up to
    /// bin i with everything above folded into bin i−1 (clipped values land on T); the candidate Q is the same
    /// histogram without the outliers, merged into groups one quantization step wide (the step of the range T
    /// gives, so an asymmetric tensor's step is its clipped span / `steps`, not a fixed 128 or 256 levels on
    /// |x|; group edges at multiples of the step from 0, fractional in bins as in ncnn) and spread back uniformly
    /// over each group's nonzero bins (TensorRT); bins where P has mass and Q has none get a small ε. The threshold
    /// with the smallest KL(P‖Q) wins; its upper edge is returned (capped at the largest |x|).
    ///
    /// Exact zeros (the spike of a post-ReLU tensor) are left out of P and Q, as ncnn's collector does: the zero
    /// point represents 0 exactly whatever T is, and spreading that spike over the first group is what made the
    /// unmodified search clip post-ReLU tensors at its first candidate (measured on the default model,
    /// calibration/README.md). Candidates start where one step spans at least one histogram bin: below that the
    /// histogram cannot see the rounding error, only the clipping.
    public static func entropyThreshold(_ h: ActivationHistogram, steps: Int = 255) -> Float {
        let maxAbs = max(abs(h.minimum), abs(h.maximum))
        guard h.total > 0, maxAbs.isFinite, maxAbs > 0, steps >= 1 else { return maxAbs.isFinite ? maxAbs : 0 }
        var counts = h.counts.map { Double($0) }
        counts[0] -= Double(h.zeros)
        guard let lastUsed = counts.lastIndex(where: { $0 > 0 }) else { return maxAbs }   // only zeros
        let used = lastUsed + 1
        let width = Double(h.binWidth)
        let positive = Double(max(0, h.maximum)), negative = Double(max(0, -h.minimum))
        // Quantization step of candidate i, in bins.
        func step(_ i: Int) -> Double {
            let t = Double(i) * width
            return (min(positive, t) + min(negative, t)) / Double(steps) / width
        }
        guard let first = (1...used).first(where: { step($0) >= 1 }) else { return maxAbs }
        var suffix = [Double](repeating: 0, count: used + 1)
        for i in stride(from: used - 1, through: 0, by: -1) { suffix[i] = suffix[i + 1] + counts[i] }
        let epsilon = 1e-4
        var best = used, bestKL = Double.infinity
        var q = [Double](repeating: 0, count: used)
        for i in first...used {
            let g = step(i)
            // Q: group k covers [k·g, (k+1)·g) bins (the last one cut at i); bin j takes the part it overlaps.
            for j in 0..<i { q[j] = 0 }
            var k = 0
            while Double(k) * g < Double(i) {
                let lo = Double(k) * g, hi = min(Double(k + 1) * g, Double(i))
                let jLo = Int(lo.rounded(.down)), jHi = min(Int(hi.rounded(.up)), i)
                var mass = 0.0, support = 0.0
                for j in jLo..<jHi where counts[j] > 0 {
                    let overlap = min(Double(j + 1), hi) - max(Double(j), lo)
                    mass += counts[j] * overlap
                    support += overlap
                }
                if support > 0 {
                    for j in jLo..<jHi where counts[j] > 0 {
                        q[j] += mass / support * (min(Double(j + 1), hi) - max(Double(j), lo))
                    }
                }
                k += 1
            }
            let pSum = suffix[0]
            var qSum = 0.0
            for j in 0..<i { qSum += q[j] }
            guard pSum > 0, qSum > 0 else { continue }
            var kl = 0.0
            for j in 0..<i {
                let pj = (j == i - 1 ? counts[j] + suffix[i] : counts[j]) / pSum
                guard pj > 0 else { continue }
                let qj = q[j] > 0 ? q[j] / qSum : epsilon
                kl += pj * log(pj / qj)
            }
            if kl < bestKL { bestKL = kl; best = i }
        }
        return min(Float(best) * h.binWidth, maxAbs)
    }
}
