// CommonTests.swift — the options every model-running command shares (Common.swift): an empty --model,
// --calibration or $CONDSEG_MODEL (most often a shell variable that was never set) is a usage error naming the
// option, on each command that takes it, before any model is loaded.

import CondSegTestSupport
import Foundation
import XCTest

final class CommonTests: XCTestCase {
    let table = "calibration/condseg-r18w64-kvasir.table.txt"

    func testAnEmptyModelIsAUsageErrorNamingTheOption() throws {
        let folder = try temporaryFolder(self)
        try writeSmallPNG(to: folder + "/in.png")
        let runs: [[String]] = [
            ["segment", "--model", "", "--out", folder + "/out", folder + "/in.png"],
            ["eval", "--model", "", "--data", "samples"],
            ["bench", "--model", "", "--iterations", "1"],
            ["inspect", "--model", ""],
            ["live", "--model", "", "--source", "samples/images", "--no-pace", "--frames", "1"],
            ["compare", "--model", "", "--calibration", table, "--data", "samples", "--count", "1"],
        ]
        for arguments in runs {
            let result = try runCondseg(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.errorLines.first, "error: --model is empty: give a model file or the NAME of a bundled model", "\(arguments)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/out"))
    }

    func testAnEmptyCalibrationIsAUsageErrorNamingTheOption() throws {
        let folder = try temporaryFolder(self)
        try writeSmallPNG(to: folder + "/in.png")
        let runs: [[String]] = [
            ["segment", "--calibration", "", "--out", folder + "/out", folder + "/in.png"],
            ["bench", "--calibration", "", "--iterations", "1"],
            ["quantize", "--calibration", "", "--out", folder + "/q.safetensors"],
            ["compare", "--calibration", "", "--data", "samples", "--count", "1"],
        ]
        for arguments in runs {
            let result = try runCondseg(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.errorLines.first, "error: --calibration is empty: give a calibration table file or the NAME of a bundled calibration table", "\(arguments)")
        }
    }

    func testAnEmptyModelEnvironmentVariableIsAUsageError() throws {
        let result = try runCondseg(["inspect"], environment: ["CONDSEG_MODEL": ""])
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertEqual(result.errorLines.first, "error: $CONDSEG_MODEL is set but empty: give a model file or the NAME of a bundled model, or unset it for the default")
        // --model wins over the variable, empty or not.
        let given = try runCondseg(["inspect", "--json", "--model", "condseg-r18w64-kvasir"], environment: ["CONDSEG_MODEL": ""])
        XCTAssertEqual(given.status, 0, given.stderr)
    }
}
