// CalibrateAugmentCommandTests.swift — `calibrate --augment N`: camera variants change the ranges, the table
// records them (and still names the plain images), the result does not depend on --threads, and a count outside
// 0...8 is a usage error. A tiny model made with `condseg init` keeps each run short.

import CondSegTestSupport
import Foundation
import XCTest

final class CalibrateAugmentCommandTests: XCTestCase {
    func calibrate(model: String, out: String, _ extra: [String]) throws -> CommandResult {
        try runCondseg(["calibrate", "--model", model, "--data", "samples", "--count", "3", "--method", "minmax",
                        "--out", out] + extra)
    }

    /// The table's lines without the date (two runs differ in it only).
    func contentLines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
            .filter { !$0.hasPrefix("# date:") }
    }

    func testAugmentChangesTheRangesAndDoesNotDependOnThreads() throws {
        let folder = try temporaryFolder(self)
        let model = folder + "/tiny.safetensors"
        let made = try runCondseg(["init", "--encoder", "resnet18", "--width", "16", "--mid", "16", "--size", "64", "--out", model])
        XCTAssertEqual(made.status, 0, made.stderr)

        let plain = try calibrate(model: model, out: folder + "/plain.txt", ["--threads", "2"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let one = try calibrate(model: model, out: folder + "/aug-t1.txt", ["--augment", "1", "--threads", "1"])
        XCTAssertEqual(one.status, 0, one.stderr)
        let two = try calibrate(model: model, out: folder + "/aug-t2.txt", ["--augment", "1", "--threads", "2"])
        XCTAssertEqual(two.status, 0, two.stderr)
        XCTAssertTrue(two.stderr.contains("calibrate 6/6"), "progress counts images times (1 + N): \(two.stderr)")

        let plainLines = try contentLines(folder + "/plain.txt")
        let augmented = try contentLines(folder + "/aug-t1.txt")
        XCTAssertEqual(augmented, try contentLines(folder + "/aug-t2.txt"), "--threads must not change the table")
        XCTAssertFalse(plainLines.contains { $0.hasPrefix("# augment") }, "no augment line without --augment")
        XCTAssertTrue(augmented.contains("# augment: 1"), augmented.joined(separator: "\n"))
        // The header still names the three plain images.
        XCTAssertTrue(augmented.contains("# images: 3"))
        XCTAssertEqual(augmented.filter { $0.hasPrefix("# image_names:") }, plainLines.filter { $0.hasPrefix("# image_names:") })
        // The variants widen or move some ranges: the tensor records differ from the plain calibration's.
        let records = { (lines: [String]) in lines.filter { !$0.hasPrefix("#") } }
        XCTAssertEqual(records(augmented).count, records(plainLines).count)
        let changed = zip(records(augmented), records(plainLines)).filter { $0 != $1 }.count
        XCTAssertGreaterThan(changed, records(plainLines).count / 4, "camera variants should move many ranges")

        // The table is usable as any other: compare reads it.
        let compared = try runCondseg(["compare", "--model", model, "--calibration", folder + "/aug-t1.txt", "--data", "samples",
                                       "--count", "2", "--layer-images", "1"])
        XCTAssertEqual(compared.status, 0, compared.stderr)
    }

    /// A table rebuilt from the histograms an --augment run saved has that run's header: the plain images and
    /// '# augment: N' (the histogram file lists the variants as images of their own), and the same records.
    func testATableFromAugmentedHistogramsKeepsTheAugmentHeader() throws {
        let folder = try temporaryFolder(self)
        let model = folder + "/tiny.safetensors"
        let made = try runCondseg(["init", "--encoder", "resnet18", "--width", "16", "--mid", "16", "--size", "64", "--out", model])
        XCTAssertEqual(made.status, 0, made.stderr)
        let direct = try calibrate(model: model, out: folder + "/a.txt", ["--augment", "1", "--save-histograms", folder + "/h.txt"])
        XCTAssertEqual(direct.status, 0, direct.stderr)
        let rebuilt = try calibrate(model: model, out: folder + "/b.txt", ["--from-histograms", folder + "/h.txt"])
        XCTAssertEqual(rebuilt.status, 0, rebuilt.stderr)
        XCTAssertTrue(rebuilt.stdout.contains("3 images and 1 camera variant of each"), rebuilt.stdout)
        let a = try contentLines(folder + "/a.txt"), b = try contentLines(folder + "/b.txt")
        XCTAssertTrue(b.contains("# augment: 1"), b.joined(separator: "\n"))
        XCTAssertTrue(b.contains("# images: 3"), b.joined(separator: "\n"))
        for key in ["# image_names:", "# images_sha256:"] {
            XCTAssertEqual(a.filter { $0.hasPrefix(key) }, b.filter { $0.hasPrefix(key) }, key)
        }
        XCTAssertEqual(a.filter { !$0.hasPrefix("#") }, b.filter { !$0.hasPrefix("#") })
    }

    func testAugmentOutsideZeroToEightIsAUsageError() throws {
        let folder = try temporaryFolder(self)
        for value in ["9", "-1"] {
            let result = try runCondseg(["calibrate", "--data", "samples", "--count", "3", "--augment", value,
                                         "--out", folder + "/t.txt"])
            XCTAssertEqual(result.status, 2, "--augment \(value): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("--augment"), result.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/t.txt"))
        }
    }
}
