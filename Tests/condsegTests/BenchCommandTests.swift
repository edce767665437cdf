// BenchCommandTests.swift — `condseg bench` states the machine's register-only peaks (fp32 FMA and the int8 kernel's
// instruction sequence, measured in the same run) and each kind of convolution's share of them; the shares must be
// the report's own GMAC/s over its own peaks, whatever the timings were (nothing here asserts a speed).

import CondSegTestSupport
import Foundation
import XCTest

final class BenchCommandTests: XCTestCase {
    func testProfileSharesAreItsOwnRatesOverItsOwnPeaks() throws {
        let result = try runCondseg(["bench", "--calibration", "calibration/condseg-r18w64-kvasir.table.txt", "--size", "64",
                                     "--iterations", "1", "--threads", "1", "--profile", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["weight_bits"] as? Int, 7, "the shipped table has 7-bit weights")
        let peaks = try XCTUnwrap(object["register_peaks"] as? [String: Any])
        let fp32 = try XCTUnwrap(peaks["fp32_fma_gmac_per_s"] as? Double)
        let int8 = try XCTUnwrap(peaks["int8_gmac_per_s"] as? Double)
        XCTAssertTrue(fp32.isFinite && fp32 > 0, "fp32 peak \(fp32)")
        XCTAssertTrue(int8.isFinite && int8 > 0, "int8 peak \(int8)")
        XCTAssertFalse((peaks["int8_sequence"] as? String ?? "").isEmpty)
        let convolutions = try XCTUnwrap(object["convolutions"] as? [String: [String: Any]])
        let int8Convs = try XCTUnwrap(convolutions["int8"]), floatConvs = try XCTUnwrap(convolutions["float"])
        let int8Rate = try XCTUnwrap(int8Convs["gmac_per_s"] as? Double)
        let floatRate = try XCTUnwrap(floatConvs["gmac_per_s"] as? Double)
        XCTAssertGreaterThan(int8Rate, 0)
        XCTAssertEqual(try XCTUnwrap(int8Convs["share_of_int8_peak"] as? Double), int8Rate / int8, accuracy: 1e-12 * max(1, int8Rate / int8))
        XCTAssertEqual(try XCTUnwrap(floatConvs["share_of_fp32_peak"] as? Double), floatRate / fp32, accuracy: 1e-12 * max(1, floatRate / fp32))
        // The rate itself is the convolutions' work over their time.
        let ms = try XCTUnwrap(int8Convs["ms"] as? Double), gmac = try XCTUnwrap(int8Convs["gmac"] as? Double)
        XCTAssertEqual(int8Rate, gmac / (ms / 1000), accuracy: 1e-9 * int8Rate)

        let text = try runCondseg(["bench", "--calibration", "calibration/condseg-r18w64-kvasir.table.txt", "--size", "64",
                                   "--iterations", "1", "--threads", "1", "--profile"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("register-only peaks (same run"), text.stdout)
        XCTAssertTrue(text.stdout.contains("(7-bit weights)"), text.stdout)
        XCTAssertTrue(text.stdout.contains("% of the int8 register peak"), text.stdout)
        XCTAssertTrue(text.stdout.contains("% of the fp32 FMA peak"), text.stdout)
    }
}
