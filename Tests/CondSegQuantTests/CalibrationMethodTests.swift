// CalibrationMethodTests.swift — the histogram and the three range methods on synthetic distributions with
// known answers: exact order/split independence of the power-of-two histogram, minmax = observed extremes,
// percentile of a known sample; entropy: a clipped Gaussian at its clip point, a Gaussian's threshold in its tail
// whatever rare far outliers, a uniform distribution at its maximum, a ReLU'd Gaussian (50 % and 99 % exact
// zeros) at the threshold of its positive half, and the quantizer step of symmetric and asymmetric signed tensors.

import CondSegQuant
import CondSegRuntime
import Foundation
import XCTest

final class CalibrationMethodTests: XCTestCase {
    /// Deterministic standard normal samples (Box–Muller over an LCG).
    func gaussian(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        func uniform() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (Double(state >> 11) + 0.5) / Double(1 << 53)
        }
        return (0..<count).map { _ in Float((-2 * log(uniform())).squareRoot() * cos(2 * Double.pi * uniform())) }
    }

    func histogram(_ values: [Float], bins: Int = 2048) -> ActivationHistogram {
        var h = ActivationHistogram(binCount: bins)
        h.add(values)
        return h
    }

    func testHistogramDoesNotDependOnOrderOrSplit() {
        let values = gaussian(20_000, seed: 1).enumerated().map { $0.element * Float(1 + $0.offset % 7) }
        let whole = histogram(values)
        // Small values first, then large (the range grows several times), in three pieces, merged.
        let sorted = values.sorted { abs($0) < abs($1) }
        var grown = ActivationHistogram(binCount: 2048)
        grown.add(Array(sorted[0..<100]))
        grown.add(Array(sorted[100..<5000]))
        grown.add(Array(sorted[5000...]))
        XCTAssertEqual(grown, whole)
        var a = histogram(Array(values[0..<7000])), b = histogram(Array(values[7000...]))
        a.merge(b)
        XCTAssertEqual(a, whole)
        b = histogram(Array(values[7000...]))
        b.merge(histogram(Array(values[0..<7000])))
        XCTAssertEqual(b.counts, whole.counts)
        XCTAssertEqual(whole.total, 20_000)
        XCTAssertEqual(whole.counts.reduce(0, +), 20_000)
    }

    func testHistogramRangeIsThePowerOfTwoAboveTheLargestMagnitude() {
        let h = histogram([0.1, -5.5, 3])
        XCTAssertEqual(h.range, 8)
        XCTAssertEqual(h.minimum, -5.5)
        XCTAssertEqual(h.maximum, 3)
        XCTAssertEqual(h.counts[Int(5.5 / 8 * 2048)], 1)
        XCTAssertEqual(histogram([4]).range, 8)          // 4 itself must be below the range
    }

    func testMinmaxIsTheObservedRange() {
        let h = histogram([-0.75, 0, 2.5, 1])
        let (lo, hi) = CalibrationMethod.minmax.range(of: h)
        XCTAssertEqual(lo, -0.75)
        XCTAssertEqual(hi, 2.5)
    }

    func testPercentileOfAKnownSample() {
        // 1, 2, …, 10000: the 99.99th percentile of |x| is 9999 and the 99th is 9900 (up to one bin of 16384/2048 = 8).
        let h = histogram((1...10_000).map { Float($0) })
        let binWidth = h.binWidth
        XCTAssertEqual(binWidth, 8)
        let t9999 = Calibration.percentileThreshold(h, percentile: 99.99)
        XCTAssertGreaterThanOrEqual(t9999, 9999)
        XCTAssertLessThanOrEqual(t9999, 9999 + binWidth)
        let t99 = Calibration.percentileThreshold(h, percentile: 99)
        XCTAssertGreaterThanOrEqual(t99, 9900)
        XCTAssertLessThanOrEqual(t99, 9900 + binWidth)
        XCTAssertEqual(Calibration.percentileThreshold(h, percentile: 100), 10_000)
        // A signed sample is clipped symmetrically on |x| and then to the observed extremes.
        let signed = histogram((1...10_000).map { Float($0) } + [-3])
        let (lo, hi) = CalibrationMethod.percentile(99).range(of: signed)
        XCTAssertEqual(lo, -3)
        XCTAssertGreaterThanOrEqual(hi, 9899)
        XCTAssertLessThanOrEqual(hi, 9900 + binWidth)
    }

    func testHistogramCountsExactZerosAndNotNaNs() {
        var h = histogram([0, 0, -0.0, 0.5, 1e-30, .nan, 3])
        XCTAssertEqual(h.zeros, 3)                       // 1e-30 is not an exact zero
        XCTAssertEqual(h.total, 6)                       // the NaN is in no bin and not in the total
        XCTAssertEqual(h.counts[0], 4)                   // zeros stay in bin 0 (minmax and percentile see them)
        h.merge(histogram([0, 2]))
        XCTAssertEqual(h.zeros, 4)
        XCTAssertEqual(h.total, 8)
    }

    func testEntropyThresholdOfAClippedGaussianIsTheClipPoint() {
        // |N(0,1)| clipped at 2: 4.6% of the mass sits in a spike at 2. Clipping below 2 moves that spike (large
        // KL); any threshold above 2 wastes levels on empty bins. The search must land on the clip point.
        let values = gaussian(200_000, seed: 3).map { min(abs($0), 2) }
        let h = histogram(values)
        let t = Calibration.entropyThreshold(h)
        XCTAssertEqual(t, 2, accuracy: 2 * h.binWidth, "threshold \(t), bin width \(h.binWidth)")
        XCTAssertEqual(CalibrationMethod.entropy.range(of: h).high, t)
    }

    func testEntropyIgnoresRareFarOutliersOfAGaussian() {
        // N(0,1) plus 0.01% outliers at ±40: minmax spends the 8-bit range on the outliers (step 0.31 = a third of
        // σ), entropy keeps the Gaussian's resolution and clips them. The KL optimum of a Gaussian at ~128 levels
        // per side lies in the tail, 3–5σ (ncnn's ACIQ clip for 8 bits is 3.9σ); the outliers must not move it there.
        var values = gaussian(200_000, seed: 3)
        values += (0..<20).map { $0 % 2 == 0 ? Float(40) : -40 }
        let h = histogram(values)
        let t = Calibration.entropyThreshold(h)
        XCTAssertGreaterThan(t, 3, "threshold \(t)")
        XCTAssertLessThan(t, 5, "threshold \(t)")
        XCTAssertEqual(CalibrationMethod.minmax.range(of: h).high, 40)
        let (lo, hi) = CalibrationMethod.entropy.range(of: h)
        XCTAssertEqual(hi, t)
        XCTAssertEqual(lo, -t)
    }

    func testEntropyOfAFlatDistributionKeepsItsWholeRange() {
        // A uniform distribution loses nothing when bins merge (it is flat), so KL never favours clipping it: the
        // threshold is its maximum (the known property of the TensorRT/ncnn criterion).
        let values = (0..<100_000).map { Float($0) / 100_000 * 3 }
        let h = histogram(values)
        XCTAssertEqual(Calibration.entropyThreshold(h), h.maximum)
        XCTAssertEqual(CalibrationMethod.entropy.range(of: h).high, h.maximum)
    }

    func testEntropyOfAReLUGaussianDoesNotCollapseOnItsZeros() {
        // ReLU(N(0,1)): half the values are exactly 0. Zero is exact in any range, so the threshold must be that of
        // the positive half alone (identical: the zeros are left out of P and Q), and in the Gaussian's tail
        // (> 3σ, where 99.7 % of the positive half lies below) — not the first candidate (255 bins of 2048 here,
        // 0.6σ), where the unmodified search put it: spreading the spike at 0 over a merged group cost more KL
        // than clipping.
        let normal = gaussian(200_000, seed: 5)
        let positive = normal.filter { $0 > 0 }
        let relu = histogram(normal.map { max($0, 0) })
        XCTAssertEqual(relu.zeros, UInt64(normal.count - positive.count))
        let half = histogram(positive)
        XCTAssertEqual(relu.range, half.range)
        let t = Calibration.entropyThreshold(relu)
        XCTAssertEqual(t, Calibration.entropyThreshold(half))
        XCTAssertGreaterThan(t, 3, "threshold \(t), max \(relu.maximum)")
        XCTAssertLessThanOrEqual(t, relu.maximum)
        // 99 % zeros: still the same threshold.
        let sparse = histogram(positive + [Float](repeating: 0, count: 100 * positive.count))
        XCTAssertEqual(Calibration.entropyThreshold(sparse), t)
        // Only zeros: nothing to search, the (empty) range is kept.
        XCTAssertEqual(Calibration.entropyThreshold(histogram([0, 0, 0])), 0)
    }

    func testEntropyModelsTheQuantizerStepOfSignedTensors() {
        // The range is uint8 over [max(min, −T), min(max, T)]: a symmetric tensor has 255 steps over 2T, i.e. the
        // step of |x| quantized in 127.5 steps. Its threshold must equal that of its |x| searched with 127 steps
        // per side (the same step up to 254 vs 255: search both with an even count to make them identical).
        let magnitudes = gaussian(100_000, seed: 7).map { abs($0) }
        let symmetric = histogram(magnitudes + magnitudes.map { -$0 })
        let folded = histogram(magnitudes)
        XCTAssertEqual(Calibration.entropyThreshold(symmetric, steps: 254), Calibration.entropyThreshold(folded, steps: 127))
        // An asymmetric tensor (|N(0,1)| plus 50 tiny negatives down to −0.01): the step is its clipped span
        // (T + 0.01) / 255, the negative side is inside [−T, T] and stays whole, the positive side is clipped at T,
        // which lies in the tail (the half-Gaussian's optimum, 3.8σ here, moves by a few bins at most).
        let tiny = histogram(magnitudes + (0..<50).map { -Float($0 + 1) * 0.0002 })
        let t = Calibration.entropyThreshold(tiny)
        XCTAssertEqual(t, Calibration.entropyThreshold(folded), accuracy: 0.2)
        XCTAssertGreaterThan(t, 3)
        let (lo, hi) = CalibrationMethod.entropy.range(of: tiny)
        XCTAssertEqual(lo, tiny.minimum)                 // the negative side is not clipped (|min| < T)
        XCTAssertEqual(hi, t)
    }
}
