// DataCommandTests.swift — `eval` and `calibrate` on a data set that is not what they need: the message names the
// folder or list and says what is wrong, in the one-line "error: FILE: problem" form.

import CondSegTestSupport
import Foundation
import XCTest

final class DataCommandTests: XCTestCase {
    func testEvalWithoutAMasksFolderSaysSo() throws {
        let folder = try temporaryFolder(self)
        try FileManager.default.createDirectory(atPath: folder + "/images", withIntermediateDirectories: true)
        try writeSmallPNG(to: folder + "/images/a.png")
        for data in [folder, folder + "/images"] {
            let result = try runCondseg(["eval", "--data", data])
            XCTAssertEqual(result.status, 4, result.stderr)
            XCTAssertEqual(result.errorLines, ["error: \(data): no masks/ folder of ground-truth masks (the data set folder holds images/ and masks/)"])
        }
    }

    func testCalibrateWithTooFewImagesNamesTheListFirst() throws {
        let folder = try temporaryFolder(self)
        try "cju0s690hkp960855tjuaqvv0\n".write(toFile: folder + "/small.txt", atomically: true, encoding: .utf8)
        let result = try runCondseg(["calibrate", "--data", "samples", "--list", folder + "/small.txt", "--out", folder + "/t.txt"])
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.hasPrefix("error: \(folder)/small.txt: only 1 image: calibration needs at least 10"), result.stderr)
    }

    /// --weight-bits takes 6, 7 or 8; anything else is a usage error before any image is read, and writes no table.
    func testCalibrateRefusesWeightBitsOutsideSixToEight() throws {
        let folder = try temporaryFolder(self)
        for bits in ["5", "9"] {
            let result = try runCondseg(["calibrate", "--data", folder + "/none", "--weight-bits", bits, "--out", folder + "/t.txt"])
            XCTAssertEqual(result.status, 2, result.stderr)
            XCTAssertTrue(result.stderr.contains("--weight-bits must be 6, 7 or 8"), result.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/t.txt"))
        }
    }
}
