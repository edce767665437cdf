// StatisticsTests.swift: the latency histogram's quantiles against exact quantiles of sorted samples
// (nearest-rank), and the statistics JSON's fields.
import CondSegCapture
import Foundation
import XCTest

final class StatisticsTests: XCTestCase {
    func testQuantilesAreWithinOnePercentOfTheExactOnes() {
        var generator = SystemRandomNumberGenerator()
        var samples: [Double] = (0..<5000).map { _ in Double.random(in: 0.05...400, using: &generator) }
        samples += [0.001, 0, 900]  // below the first bin, zero, a large outlier
        var histogram = DurationHistogram()
        for sample in samples { histogram.record(milliseconds: sample) }
        let sorted = samples.sorted()
        for q in [0.01, 0.5, 0.9, 0.99, 1.0] {
            let exact = sorted[max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1)]
            let estimate = histogram.quantile(q)!
            XCTAssertEqual(estimate, exact, accuracy: max(exact * 0.01, 0.01), "q=\(q)")
        }
        XCTAssertEqual(histogram.count, samples.count)
        XCTAssertEqual(histogram.mean!, samples.reduce(0, +) / Double(samples.count), accuracy: 1e-9)
        XCTAssertNil(DurationHistogram().quantile(0.5))
    }

    func testJSONCarriesCountersTimesAndIdentity() throws {
        var stats = LiveStatistics()
        stats.captured = 10; stats.segmented = 4; stats.dropped = 5; stats.corrupt = 1; stats.timeouts = 2
        stats.elapsedSeconds = 2
        for value in [10.0, 20, 30, 40] { stats.latency.record(milliseconds: value) }
        let identity = RunIdentity(runtimeVersion: "1.2.3", modelSHA256: "cafe", calibrationHash: "beef")
        let object = try JSONSerialization.jsonObject(with: Data(stats.json(identity: identity).utf8)) as! [String: Any]
        XCTAssertEqual(object["captured"] as? Int, 10)
        XCTAssertEqual(object["dropped"] as? Int, 5)
        XCTAssertEqual(object["timeouts"] as? Int, 2)
        XCTAssertEqual(object["model_sha256"] as? String, "cafe")
        XCTAssertEqual(object["calibration_hash"] as? String, "beef")
        XCTAssertEqual(object["segmented_per_s"] as? Double, 2)
        let latency = object["latency_ms"] as! [String: Any]
        XCTAssertEqual(latency["median"] as! Double, 20, accuracy: 0.2)
        XCTAssertTrue(object["inference_ms"].map { ($0 as! [String: Any])["median"] is NSNull } ?? false)
    }
}
