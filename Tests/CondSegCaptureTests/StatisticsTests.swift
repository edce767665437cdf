// StatisticsTests.swift: the latency histogram's quantiles against exact quantiles of sorted samples
// (nearest-rank), the copy handed to other threads, and the statistics JSON's fields.
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

    func testUnsharedCopyKeepsEveryFigureAndStaysPutWhileTheOriginalRecords() {
        var stats = LiveStatistics()
        for value in [0.5, 3, 7, 12, 40, 250] { stats.latency.record(milliseconds: value); stats.inference.record(milliseconds: value / 2) }
        stats.motion.record(milliseconds: 1.5)
        stats.segmented = 6; stats.discarded = 2; stats.inFlightMaximum = 3; stats.reconnectWaitSeconds = 0.3
        let copy = stats.unshared()
        for q in [0.0, 0.5, 0.9, 1.0] {
            XCTAssertEqual(copy.latency.quantile(q), stats.latency.quantile(q), "q=\(q)")
            XCTAssertEqual(copy.inference.quantile(q), stats.inference.quantile(q), "q=\(q)")
        }
        XCTAssertEqual(copy.latency.count, 6)
        XCTAssertEqual(copy.latency.mean, stats.latency.mean)
        XCTAssertEqual(copy.latency.maximum, 250)
        XCTAssertEqual(copy.motion.count, 1)
        XCTAssertEqual([copy.segmented, copy.discarded, copy.inFlightMaximum], [6, 2, 3])
        XCTAssertEqual(copy.reconnectWaitSeconds, 0.3)
        for _ in 0..<10 { stats.latency.record(milliseconds: 900) }
        XCTAssertEqual(copy.latency.count, 6)
        XCTAssertEqual(copy.latency.quantile(1.0)!, 250, accuracy: 2.5)
        XCTAssertEqual(stats.latency.quantile(1.0)!, 900, accuracy: 9)
    }

    func testSummaryLineCarriesEveryCounter() {
        var stats = LiveStatistics()
        stats.captured = 11; stats.segmented = 4; stats.dropped = 3; stats.discarded = 2; stats.inFlight = 2
        stats.inFlightMaximum = 3; stats.corrupt = 5; stats.displayed = 9; stats.timeouts = 6; stats.formatChanges = 1
        stats.deviceFaults = 7; stats.reconnects = 8; stats.reconnectWaitSeconds = 1.5; stats.reconnectWaitSimulated = true
        let line = stats.summary
        for part in ["captured 11 ", "segmented 4 ", "dropped 3 ", "discarded 2 ", "in flight 2 (max 3) ", "corrupt 5 ",
                     "displayed 9 ", "timeouts 6 ", "format changes 1 ", "faults 7 ", "reconnects 8 (back-off 1.50 s, simulated)"] {
            XCTAssertTrue(line.contains(part), "\(part) missing from: \(line)")
        }
        stats.reconnectWaitSimulated = false
        XCTAssertTrue(stats.summary.contains("reconnects 8 (back-off 1.50 s) |"), stats.summary)
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
        for key in ["discarded", "in_flight", "in_flight_max"] { XCTAssertEqual(object[key] as? Int, 0, key) }
        XCTAssertEqual(object["reconnect_wait_s"] as? Double, 0)
    }
}
