// CompareCommandTests.swift — `condseg compare` tells a broken setup (exit 4) from a broken threshold (exit 1),
// so CI can tell a regression from a misconfiguration.

import CondSegTestSupport
import Foundation
import XCTest

final class CompareCommandTests: XCTestCase {
    let table = "calibration/condseg-r18w64-kvasir.table.txt"

    func testMissingDataFolderIsAnInputError() throws {
        let folder = try temporaryFolder(self)
        let result = try runCondseg(["compare", "--calibration", table, "--data", folder + "/none"])
        XCTAssertEqual(result.status, 4)
        XCTAssertEqual(result.errorLines, ["error: \(folder)/none: not a folder"])
    }

    func testABrokenThresholdExits1() throws {
        let result = try runCondseg(["compare", "--calibration", table, "--data", "samples", "--count", "1",
                                     "--layer-images", "1", "--min-agreement", "1"])  // this image agrees to 0.9987
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stdout.contains("FAIL: "), result.stdout)
    }

    func testThresholdsNoResultCouldMeetAreUsageErrorsBeforeAnyWork() throws {
        // A --model that does not exist: a threshold checked up front is reported instead of the model.
        let folder = try temporaryFolder(self)
        let model = folder + "/none.safetensors"
        for (option, value, line) in [
            ("--min-agreement", "2", "--min-agreement must be within 0...1 (a mean Dice), not 2.0"),
            ("--min-agreement", "-0.5", "--min-agreement must be within 0...1 (a mean Dice), not -0.5"),
            ("--max-dice-drop", "-0.1", "--max-dice-drop must be within 0...1 (a drop in mean Dice), not -0.1"),
        ] {
            let result = try runCondseg(["compare", "--model", model, "--calibration", table, "--data", "samples", option + "=" + value])
            XCTAssertEqual(result.status, 2, "\(option) \(value): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(line), result.stderr)
        }
    }
}
