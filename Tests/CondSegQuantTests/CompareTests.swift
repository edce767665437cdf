// CompareTests.swift — `condseg compare` as a regression gate: on the default model and the fixture images, the
// thresholds pass with a real table and fail with a deliberately broken one (every activation scale ×100); the
// command itself exits 0 and 1 accordingly (run as a process when the test build has the condseg executable), and
// its JSON has the documented keys; the HTML report is written with the chart and the overlays.

import CondSegCore
import CondSegQuant
import CondSegRuntime
import CondSegTestSupport
import Foundation
import XCTest

final class CompareTests: XCTestCase {
    func broken(_ table: CalibrationTable) -> CalibrationTable {
        var t = table
        for i in t.entries.indices where t.entries[i].name != "input" { t.entries[i].quantization.scale *= 100 }
        return t
    }

    func testThresholdsPassOnARealTableAndFailOnABrokenOne() throws {
        let model = try QuantFixtures.defaultModel()
        let size = model.config.inputSize
        let items = Array(try QuantFixtures.items().prefix(2))
        let inputs = try QuantFixtures.inputs(size: size, config: model.config, count: 2)
        let table = try QuantFixtures.calibrate(model, inputs: inputs, size: size, method: .percentile(99.99))
        let float = try ReferenceExecutor(model: model, threads: 2)
        let thresholds = ComparisonThresholds(maxDiceDrop: 0.05, minAgreement: 0.95)
        let cache = NSTemporaryDirectory() + "/condseg-compare-cache-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: cache) }

        let good = try Comparison.run(float: float, int8: Int8ReferenceExecutor(model: model, table: table, tableFile: "t", threads: 2),
                                      modelSHA256: model.sha256, items: items, layerImages: 1, worstCount: 2, floatCache: cache)
        XCTAssertTrue(good.hasGroundTruth)
        XCTAssertEqual(good.images.count, 2)
        XCTAssertGreaterThan(good.agreement, 0.95)
        XCTAssertTrue(thresholds.check(good).failures.isEmpty, "\(thresholds.check(good))")
        XCTAssertEqual(good.worst.count, 2)
        XCTAssertEqual(Set(good.worstProbabilities.keys), Set(good.worst.map(\.name)))

        // The shipped int8 executor on the images (as `condseg compare` runs by default), the int8 reference for
        // the layers: the same layer table, and agreement within the executors' documented difference (float
        // ops in another order: a few mask pixels per image).
        let fast = try Comparison.run(float: float, int8: FastInt8Executor(model: model, table: table, tableFile: "t", threads: 2),
                                      layers: Int8ReferenceExecutor(model: model, table: table, tableFile: "t", threads: 2),
                                      modelSHA256: model.sha256, items: items, layerImages: 1, worstCount: 2, floatCache: cache)
        XCTAssertEqual(fast.layers.map(\.name), good.layers.map(\.name))
        XCTAssertEqual(fast.layers.map(\.cosine), good.layers.map(\.cosine))
        XCTAssertEqual(fast.agreement, good.agreement, accuracy: 0.005)
        XCTAssertTrue(thresholds.check(fast).failures.isEmpty, "\(thresholds.check(fast))")

        let bad = try Comparison.run(float: float, int8: Int8ReferenceExecutor(model: model, table: broken(table), tableFile: "b", threads: 2),
                                     modelSHA256: model.sha256, items: items, layerImages: 1, worstCount: 2, floatCache: cache)
        // The float side came from the cache and is the same.
        XCTAssertEqual(bad.floatMean, good.floatMean)
        XCTAssertFalse(thresholds.check(bad).failures.isEmpty, "broken table passed: agreement \(bad.agreement)")
        XCTAssertLessThan(bad.layers.map(\.cosine).min()!, good.layers.map(\.cosine).min()!)

        let report = NSTemporaryDirectory() + "/condseg-report-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: report) }
        let (names, failures) = thresholds.check(bad)
        try ComparisonReport.write(bad, to: report, title: "test", modelSize: size, thresholds: names, failures: failures)
        let html = try String(contentsOfFile: report + "/index.html", encoding: .utf8)
        XCTAssertTrue(html.contains("<svg"))
        XCTAssertTrue(html.contains("FAIL"))
        for w in bad.worst {
            for suffix in ["float", "int8", "truth"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: "\(report)/\(w.name)-\(suffix).png"), "\(w.name)-\(suffix).png")
                XCTAssertTrue(html.contains("\(w.name)-\(suffix).png"))
            }
        }
    }


    func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func testCompareCommandExitStatusAndJSON() throws {
        let executable = try condsegExecutable()
        let model = try QuantFixtures.defaultModel()
        let size = model.config.inputSize
        let inputs = try QuantFixtures.inputs(size: size, config: model.config, count: 2)
        let table = try QuantFixtures.calibrate(model, inputs: inputs, size: size, method: .percentile(99.99))
        let folder = NSTemporaryDirectory() + "/condseg-cli-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try table.write(to: folder + "/good.txt")
        try broken(table).write(to: folder + "/broken.txt")
        let common = ["compare", "--model", model.path, "--data", try QuantFixtures.kvasirFolder(), "--count", "1",
                      "--layer-images", "1", "--min-agreement", "0.95", "--max-dice-drop", "0.05",
                      "--float-cache", folder + "/cache", "--json"]
        let good = try run(executable, common + ["--calibration", folder + "/good.txt"])
        XCTAssertEqual(good.status, 0, good.output)
        let json = try JSONSerialization.jsonObject(with: Data(good.output.utf8)) as! [String: Any]
        for key in ["float", "int8", "agreement_dice", "layers", "worst"] { XCTAssertNotNil(json[key], key) }
        let floatScores = json["float"] as! [String: Double]
        XCTAssertNotNil(floatScores["mDSC"]); XCTAssertNotNil(floatScores["mIoU"])
        let layers = json["layers"] as! [String: [String: Double]]
        XCTAssertNotNil(layers["layer0"]?["cosine"])        // the first convolution runs in int8
        XCTAssertNotNil(layers.values.first?["sqnr_db"])
        let bad = try run(executable, common + ["--calibration", folder + "/broken.txt"])
        XCTAssertEqual(bad.status, 1, bad.output)
    }
}
