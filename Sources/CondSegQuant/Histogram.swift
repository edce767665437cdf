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

    public init(binCount: Int = 2048) {
        precondition(binCount >= 2 && binCount & (binCount - 1) == 0, "bin count must be a power of two")
        self.binCount = binCount
        counts = [UInt64](repeating: 0, count: binCount)
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
        counts.withUnsafeMutableBufferPointer { c in
            for i in 0..<count {
                let v = values[i]
                if v.isNaN { continue }
                c[min(Int(abs(v) * perUnit), last)] += 1
            }
        }
        total += UInt64(count)
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
            // Post-ReLU tensors use all 256 levels on [0, T]; signed ones about 128 per side.
            threshold = Calibration.entropyThreshold(h, levels: h.minimum >= 0 ? 256 : 128)
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

    /// TensorRT-style entropy calibration: for each candidate threshold bin i ≥ `levels`, the reference
    /// distribution P is the histogram up to i with everything above folded into bin i−1; Q is the histogram up
    /// to i without the outliers, merged into `levels` groups and spread back uniformly over each group's nonzero
    /// bins; the threshold with the smallest KL(P‖Q) wins. Returns its upper edge (capped at the largest |x|).
    /// Measured on the default model, this picks very small thresholds for peaked tensors (a spike at exactly 0),
    /// see calibration/README.md: prefer percentile or minmax there.
    public static func entropyThreshold(_ h: ActivationHistogram, levels: Int) -> Float {
        let maxAbs = max(abs(h.minimum), abs(h.maximum))
        let used = h.usedBins
        guard used > levels else { return maxAbs }
        let counts = h.counts.map { Double($0) }
        var suffix = [Double](repeating: 0, count: h.binCount + 1)
        for i in stride(from: h.binCount - 1, through: 0, by: -1) { suffix[i] = suffix[i + 1] + counts[i] }
        var best = used, bestKL = Double.infinity
        var p = [Double](repeating: 0, count: used)
        var q = [Double](repeating: 0, count: used)
        for i in levels...used {
            for j in 0..<i { p[j] = counts[j] }
            p[i - 1] += suffix[i]
            // Q: merge the clipped histogram (outliers NOT folded in, as TensorRT and ncnn do) into `levels`
            // groups, spreading each group's mass over its nonzero bins; P keeps the outliers in its last bin, so
            // clipping too early costs KL.
            for g in 0..<levels {
                let start = g * i / levels, end = (g + 1) * i / levels
                var mass = 0.0, nonzero = 0
                for j in start..<end { mass += counts[j]; if counts[j] > 0 { nonzero += 1 } }
                for j in start..<end { q[j] = counts[j] > 0 ? mass / Double(nonzero) : 0 }
            }
            let pSum = p[0..<i].reduce(0, +), qSum = q[0..<i].reduce(0, +)
            guard pSum > 0, qSum > 0 else { continue }
            var kl = 0.0
            for j in 0..<i where p[j] > 0 {
                let pj = p[j] / pSum
                let qj = q[j] / qSum
                kl += qj > 0 ? pj * log(pj / qj) : pj * log(pj / 1e-12)
            }
            if kl < bestKL { bestKL = kl; best = i }
        }
        return min(Float(best) * h.binWidth, maxAbs)
    }
}
