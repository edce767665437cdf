// CalibrationMethodTests.swift — the histogram and the three range methods on synthetic distributions with
// known answers: exact order/split independence of the power-of-two histogram, minmax = observed extremes,
// percentile of a known sample, the entropy threshold of a clipped Gaussian at the clip point and of a uniform
// distribution with rare outliers near the uniform's end.

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

    func testEntropyThresholdOfAClippedGaussianIsTheClipPoint() {
        // |N(0,1)| clipped at 2: 4.6% of the mass sits in a spike at 2. Clipping below 2 moves that spike (large
        // KL); any threshold above 2 wastes levels on empty bins. The search must land on the clip point.
        let values = gaussian(200_000, seed: 3).map { min(abs($0), 2) }
        let h = histogram(values)
        let t = Calibration.entropyThreshold(h, levels: 128)
        XCTAssertEqual(t, 2, accuracy: 2 * h.binWidth, "threshold \(t), bin width \(h.binWidth)")
    }

    func testEntropyIgnoresRareFarOutliersOfAGaussian() {
        // N(0,1) plus 0.01% outliers at ±40: minmax spends the 8-bit range on the outliers (step 0.31 = a third of
        // σ), entropy keeps the Gaussian's resolution and clips them: its threshold lies beyond the bulk (> 2.5σ)
        // but far below the outliers.
        var values = gaussian(200_000, seed: 3)
        values += (0..<20).map { $0 % 2 == 0 ? Float(40) : -40 }
        let h = histogram(values)
        let t = Calibration.entropyThreshold(h, levels: 128)
        XCTAssertGreaterThan(t, 2.5)
        XCTAssertLessThan(t, 8, "threshold \(t)")
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
        XCTAssertEqual(Calibration.entropyThreshold(h, levels: 256), h.maximum)
    }
}
