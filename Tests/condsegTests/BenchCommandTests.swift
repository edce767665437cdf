// BenchCommandTests.swift — `condseg bench` states the machine's register-only peaks (fp32 FMA and the int8 kernel's
// instruction sequence, measured in the same run) and each kind of convolution's share of them; the shares must be
// the report's own GMAC/s over its own peaks, whatever the timings were (nothing here asserts a speed). The
// Winograd convolutions (AVX2) are a class of their own, measured by the multiplies they do against their own sequence's
// peak. The per-group profile counts every convolution's work, also one computed inside the add that reads it, so the groups
// add up to the model's MACs as `inspect` counts them; the JSON names the kernels and the table's size, lists every
// timed frame, says which Winograd setting ran and how many convolutions ran each tile size, and adds up all int8
// convolutions against the int8 peak. The text calls only the register-only peaks ceilings: the GEMM figures are for
// comparison.

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
        XCTAssertEqual((object["samples_ms"] as? [Double])?.count, 1, "one timed frame, each recorded")
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
        // On AVX2 without VNNI the 3×3 stride-1 int8 convolutions run as Winograd: their own class, with the multiplies
        // they do (fewer than the nominal MACs) over their time as a share of their own sequence's register peak.
        let kernels = try XCTUnwrap(object["kernels"] as? [String: String])
        if kernels["int8"] == "avx2" {
            let winograd = try XCTUnwrap(convolutions["int8_winograd"]), peak = try XCTUnwrap(peaks["winograd_gmac_per_s"] as? Double)
            let done = try XCTUnwrap(winograd["done_gmac"] as? Double), nominal = try XCTUnwrap(winograd["gmac"] as? Double)
            let wms = try XCTUnwrap(winograd["ms"] as? Double)
            XCTAssertTrue(peak.isFinite && peak > 0, "Winograd peak \(peak)")
            XCTAssertGreaterThan(done, nominal / 4 * 0.99, "at least 36/144 of the nominal MACs (F(4×4))")
            XCTAssertLessThan(done, nominal / 2.25 * 1.5, "at most 16/36 (F(2×2)), tiles past the edge adding less than half")
            // With F(2×2) tiles only, every Winograd convolution does 16/36 of its nominal MACs or more.
            let small = try runCondseg(["bench", "--calibration", "calibration/condseg-r18w64-kvasir.table.txt", "--size", "64",
                                        "--iterations", "1", "--threads", "1", "--profile", "--json"],
                                       environment: ["CONDSEG_INT8_WINOGRAD": "2"])
            XCTAssertEqual(small.status, 0, small.stderr)
            let smallObject = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(small.stdout.utf8)) as? [String: Any])
            let smallWinograd = try XCTUnwrap((smallObject["convolutions"] as? [String: [String: Any]])?["int8_winograd"])
            XCTAssertEqual(try XCTUnwrap(smallWinograd["gmac"] as? Double), nominal, accuracy: 1e-9 * nominal)
            let smallDone = try XCTUnwrap(smallWinograd["done_gmac"] as? Double)
            XCTAssertGreaterThan(smallDone, nominal / 2.25 * 0.99, "F(2×2): at least 16/36 of the nominal MACs")
            XCTAssertGreaterThan(smallDone, done * 1.2, "F(4×4) does fewer multiplies where it runs")
            // The JSON says which setting ran and how many convolutions ran each tile size.
            func tileCounts(_ object: [String: Any]) throws -> (String, Int, Int) {
                let w = try XCTUnwrap(object["int8_winograd"] as? [String: Any])
                return (try XCTUnwrap(w["setting"] as? String), try XCTUnwrap(w["f4x4_convolutions"] as? Int),
                        try XCTUnwrap(w["f2x2_convolutions"] as? Int))
            }
            let (setting, f4, f2) = try tileCounts(object), (smallSetting, smallF4, smallF2) = try tileCounts(smallObject)
            XCTAssertEqual(setting, "1")
            XCTAssertGreaterThan(f4, 0, "F(4×4) on the 64×64 maps")
            XCTAssertEqual(smallSetting, "2")
            XCTAssertEqual(smallF4, 0)
            XCTAssertEqual(smallF2, f4 + f2, "the same convolutions, all F(2×2)")
            XCTAssertEqual(try XCTUnwrap(winograd["done_gmac_per_s"] as? Double), done / (wms / 1000), accuracy: 1e-9 * done / (wms / 1000))
            XCTAssertEqual(try XCTUnwrap(winograd["share_of_winograd_peak"] as? Double), done / (wms / 1000) / peak, accuracy: 1e-9)
            // All int8 convolutions together: both classes' nominal work over both classes' time, over the int8 peak.
            let all = try XCTUnwrap(object["int8_convolutions_all"] as? [String: Double])
            XCTAssertEqual(try XCTUnwrap(all["gmac"]), gmac + nominal, accuracy: 1e-9 * (gmac + nominal))
            XCTAssertEqual(try XCTUnwrap(all["ms"]), ms + wms, accuracy: 1e-9 * (ms + wms))
            XCTAssertEqual(try XCTUnwrap(all["share_of_int8_peak"]), (gmac + nominal) / ((ms + wms) / 1000) / int8, accuracy: 1e-9)
            // Turned off, those convolutions are direct ones again: no Winograd class, the same nominal work.
            let off = try runCondseg(["bench", "--calibration", "calibration/condseg-r18w64-kvasir.table.txt", "--size", "64",
                                      "--iterations", "1", "--threads", "1", "--profile", "--json"],
                                     environment: ["CONDSEG_INT8_WINOGRAD": "0"])
            XCTAssertEqual(off.status, 0, off.stderr)
            let offObject = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(off.stdout.utf8)) as? [String: Any])
            let offConvs = try XCTUnwrap(offObject["convolutions"] as? [String: [String: Any]])
            XCTAssertNil(offConvs["int8_winograd"])
            let (offSetting, offF4, offF2) = try tileCounts(offObject)
            XCTAssertEqual([offSetting, "\(offF4)", "\(offF2)"], ["0", "0", "0"])
            let direct = try XCTUnwrap(offConvs["int8"]?["gmac"] as? Double), before = try XCTUnwrap(int8Convs["gmac"] as? Double)
            XCTAssertEqual(direct, before + nominal, accuracy: 1e-9 * direct)
        } else {
            XCTAssertNil(convolutions["int8_winograd"], "Winograd on \(kernels)")
        }
        // The other ops by kind add up to the "other" class, and this model has each kind below.
        let kinds = try XCTUnwrap(object["other_ops_ms"] as? [String: Double])
        let other = try XCTUnwrap(convolutions["other"]?["ms"] as? Double)
        XCTAssertEqual(kinds.values.reduce(0, +), other, accuracy: 1e-9 * max(1, other), "\(kinds)")
        for kind in ["window attention", "concat", "upsample", "global pooling", "sigmoid", "mul"] {
            XCTAssertNotNil(kinds[kind], "\(kind) missing from \(kinds)")
        }
        XCTAssertNil(kinds["convolution"], "a convolution counted among the other ops: \(kinds)")

        let text = try runCondseg(["bench", "--calibration", "calibration/condseg-r18w64-kvasir.table.txt", "--size", "64",
                                   "--iterations", "1", "--threads", "1", "--profile"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("register-only peaks (same run"), text.stdout)
        XCTAssertTrue(text.stdout.contains("(7-bit weights)"), text.stdout)
        XCTAssertTrue(text.stdout.contains("% of the int8 register peak"), text.stdout)
        XCTAssertTrue(text.stdout.contains("% of the fp32 FMA peak"), text.stdout)
        if kernels["int8"] == "avx2" { XCTAssertTrue(text.stdout.contains("  int8 Winograd convs "), text.stdout) }
        XCTAssertTrue(text.stdout.contains("other ops by kind (ms/frame):\n  "), text.stdout)
        XCTAssertTrue(text.stdout.contains("  window attention "), text.stdout)
        // Only the register-only peaks are called ceilings; the GEMM figures are for comparison (as --help says).
        XCTAssertTrue(text.stdout.contains("ceilings, the register-only peaks (same run"), text.stdout)
        XCTAssertTrue(text.stdout.contains("\nsgemm for comparison (OpenBLAS, same run, 1 thread): "), text.stdout)
        XCTAssertTrue(text.stdout.contains("\nint8 GEMM for comparison (same run, 1 thread, "), text.stdout)
        XCTAssertTrue(text.stdout.contains("% of the int8 GEMM figure"), text.stdout)
        XCTAssertFalse(text.stdout.contains("GEMM ceiling") || text.stdout.contains("sgemm ceiling"), text.stdout)
    }

    /// A 6-bit table is reported as such, with the register peak of the sequence its weights run (on AVX2 the
    /// two-vpmaddubsw one; elsewhere the same kernel as for any int8 weights).
    /// `--compare-float` times the float path alternating with the int8 one: both lists of frames are in the JSON,
    /// and the speed-up is the ratio of their medians.
    func testCompareFloatRecordsBothPathsFrames() throws {
        let result = try runCondseg(["bench", "--calibration", "calibration/condseg-r18w64-kvasir.table.txt", "--size", "64",
                                     "--iterations", "3", "--threads", "1", "--compare-float", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let int8Samples = try XCTUnwrap(object["samples_ms"] as? [Double])
        let float = try XCTUnwrap(object["float"] as? [String: Any])
        let floatSamples = try XCTUnwrap(float["samples_ms"] as? [Double])
        XCTAssertEqual(int8Samples.count, 3)
        XCTAssertEqual(floatSamples.count, 3)
        XCTAssertEqual(try XCTUnwrap(object["median_ms"] as? Double), int8Samples.sorted()[1])
        XCTAssertEqual(try XCTUnwrap(float["median_ms"] as? Double), floatSamples.sorted()[1])
        XCTAssertEqual(try XCTUnwrap(object["speedup_over_float"] as? Double), floatSamples.sorted()[1] / int8Samples.sorted()[1],
                       accuracy: 1e-12)
    }

    func testSixBitTableReportsItsBitsAndSequence() throws {
        let folder = try temporaryFolder(self)
        let shipped = try String(contentsOfFile: "calibration/condseg-r18w64-kvasir.table.txt", encoding: .utf8)
        XCTAssertTrue(shipped.contains("\n# weight_bits: 7\n"))
        let path = folder + "/six.table.txt"
        try shipped.replacingOccurrences(of: "\n# weight_bits: 7\n", with: "\n# weight_bits: 6\n").write(toFile: path, atomically: true, encoding: .utf8)
        let object = try json(try runCondseg(["bench", "--calibration", path, "--size", "64", "--iterations", "1",
                                              "--threads", "1", "--json"]))
        XCTAssertEqual(object["weight_bits"] as? Int, 6)
        let peaks = try XCTUnwrap(object["register_peaks"] as? [String: Any])
        let sequence = try XCTUnwrap(peaks["int8_sequence"] as? String)
        if sequence.hasPrefix("avx2") { XCTAssertEqual(sequence, "avx2 2x vpmaddubsw + vpaddsw") }
        XCTAssertGreaterThan(try XCTUnwrap(peaks["int8_gmac_per_s"] as? Double), 0)
    }

    func json(_ result: CommandResult, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], file: file, line: line)
    }

    func testProfileGroupsAddUpToTheModelsMACs() throws {
        let inspected = try json(try runCondseg(["inspect", "--size", "64", "--json"]))
        let total = try XCTUnwrap(inspected["gmac_total"] as? Double)
        for extra in [["--engine", "fast"], ["--engine", "fast", "--calibration", "calibration/condseg-r18w64-kvasir.table.txt"],
                      ["--engine", "reference"]] {
            let object = try json(try runCondseg(["bench", "--size", "64", "--iterations", "1", "--threads", "1", "--profile", "--json"] + extra))
            let profile = try XCTUnwrap(object["profile"] as? [String: [String: Double]], "\(extra)")
            let sum = profile.values.reduce(0) { $0 + ($1["gmac"] ?? 0) }
            XCTAssertEqual(sum, try XCTUnwrap(object["gmac_per_frame"] as? Double), accuracy: 1e-9, "\(extra): \(profile)")
            XCTAssertEqual(sum, total, accuracy: 1e-3, "\(extra): inspect counts \(total) GMAC")
            // Group by group too: a convolution fused into its residual add is in the add's group.
            let inspectGroups = try XCTUnwrap(inspected["gmac_per_group"] as? [String: Double])
            for (group, gmac) in inspectGroups {
                XCTAssertEqual(profile[group]?["gmac"] ?? -1, gmac, accuracy: 1e-6, "\(extra): group \(group)")
            }
            for (group, entry) in profile where (entry["ms"] ?? 0) > 0 {
                XCTAssertEqual(entry["gmac_per_s"] ?? -1, (entry["gmac"] ?? 0) / ((entry["ms"] ?? 1) / 1000), accuracy: 1e-9 * max(1, entry["gmac_per_s"] ?? 0), group)
            }
        }
    }

    func testJSONNamesTheKernelsAndTheTablesSize() throws {
        let version = try runCondseg(["--version"]).stdout
        let float = try json(try runCondseg(["bench", "--size", "64", "--iterations", "1", "--threads", "1", "--json"]))
        let kernels = try XCTUnwrap(float["kernels"] as? [String: String], float.description)
        let int8Kernel = try XCTUnwrap(kernels["int8"]), floatKernel = try XCTUnwrap(kernels["float"])
        XCTAssertTrue(version.contains("int8 kernels: \(int8Kernel)\n"), "\(kernels) vs \(version)")
        XCTAssertTrue(version.contains("float kernels: \(floatKernel) (sgemm: \(try XCTUnwrap(kernels["sgemm"])))"), "\(kernels) vs \(version)")
        XCTAssertNil(float["calibrated_input_size"], "a float run has no table")
        // The shipped table records no size: it was calibrated at the model's own 256.
        let int8 = try json(try runCondseg(["bench", "--size", "64", "--iterations", "1", "--threads", "1", "--json",
                                            "--calibration", "calibration/condseg-r18w64-kvasir.table.txt"]))
        XCTAssertEqual(int8["calibrated_input_size"] as? Int, 256)
        XCTAssertEqual(int8["size"] as? Int, 64)
        XCTAssertEqual((int8["kernels"] as? [String: String])?["float"], floatKernel)
    }
}
