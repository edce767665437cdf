// CaptureCommandTests.swift — `condseg capture`: the frame size is --capture-size WxH as in `live`; the old
// --size WxH still works with a note naming the new spelling, and a plain --size N (the model's input size in
// every other command) is a usage error pointing at --capture-size. A device that does not exist shows how far
// the command got: past the option checks, to opening the device (exit 3).

import CondSegTestSupport
import Foundation
import XCTest

final class CaptureCommandTests: XCTestCase {
    let device = "/dev/video-condseg-test-missing"

    func testCaptureSizeIsTheFrameSize() throws {
        let folder = try temporaryFolder(self)
        let result = try runCondseg(["capture", "--device", device, "--capture-size", "640x480", "--frames", "1", "--out", folder + "/f"])
        XCTAssertEqual(result.status, 3, result.stderr)
        XCTAssertFalse(result.stderr.contains("note:"), result.stderr)
        let malformed = try runCondseg(["capture", "--device", device, "--capture-size", "640", "--out", folder + "/f"])
        XCTAssertEqual(malformed.status, 2, malformed.stderr)
        XCTAssertTrue(malformed.stderr.contains("--capture-size must look like 1280x720 (two whole numbers, no sign), not \"640\""), malformed.stderr)
        let help = try runCondseg(["capture", "--help"]).stdout
        XCTAssertTrue(help.contains("--capture-size <WxH>"), help)
        XCTAssertFalse(help.contains("--size <"), help)
    }

    func testTheOldSizeWxHStillWorksWithANote() throws {
        let folder = try temporaryFolder(self)
        let result = try runCondseg(["capture", "--device", device, "--size", "640x480", "--frames", "1", "--out", folder + "/f"])
        XCTAssertEqual(result.status, 3, result.stderr)
        XCTAssertEqual(result.errorLines.first, "note: capture's --size 640x480 is now spelled --capture-size 640x480", result.stderr)
        let both = try runCondseg(["capture", "--device", device, "--size", "640x480", "--capture-size", "640x480", "--out", folder + "/f"])
        XCTAssertEqual(both.status, 2, both.stderr)
        XCTAssertTrue(both.stderr.contains("give the frame size once: --capture-size (--size WxH is its old name)"), both.stderr)
    }

    func testAPlainSizeNPointsAtCaptureSize() throws {
        let folder = try temporaryFolder(self)
        let result = try runCondseg(["capture", "--device", device, "--size", "256", "--out", folder + "/f"])
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("error: capture takes the frame size as --capture-size WxH, not --size \"256\" (in the other commands --size N is the model's input size; capture runs no model)"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/f"))
    }
}
