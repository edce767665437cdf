// SegmentCommandTests.swift — `condseg segment` as a user runs it: inputs never overwritten, outputs never
// colliding, one error line per problem with the contract's exit status, the help example working, and no
// success summary when nothing was segmented.

import CondSegTestSupport
import Foundation
import XCTest

final class SegmentCommandTests: XCTestCase {
    func testMissingInputImageExits4WithoutUsage() throws {
        let folder = try temporaryFolder(self)
        let result = try runCondseg(["segment", "--out", folder + "/out", folder + "/missing.png"])
        XCTAssertEqual(result.status, 4)
        XCTAssertEqual(result.errorLines, ["error: \(folder)/missing.png: no such file or folder"])
        assertContractLines(result)
    }

    func testAMaskNeverReplacesItsInput() throws {
        let folder = try temporaryFolder(self)
        try writeSmallPNG(to: folder + "/frame.png")
        let before = contents(folder + "/frame.png")
        let result = try runCondseg(["segment", "--out", folder, folder + "/frame.png"])
        XCTAssertEqual(result.status, 5)
        XCTAssertEqual(result.errorLines, ["error: \(folder)/frame.png: the mask of \(folder)/frame.png would replace the input image"])
        assertContractLines(result)
        XCTAssertEqual(contents(folder + "/frame.png"), before, "the input is untouched")
        // The same through a relative path and "..".
        let relative = try runCondseg(["segment", "--out", "sub/..", "frame.png"], in: folder)
        XCTAssertEqual(relative.status, 5, relative.stderr)
        XCTAssertEqual(contents(folder + "/frame.png"), before)
    }

    func testOutputsThatWouldCollideAreRefusedBeforeAnyWork() throws {
        let folder = try temporaryFolder(self)
        try writeSmallPNG(to: folder + "/x.png")
        try writeSmallPNG(to: folder + "/x-overlay.png")
        let result = try runCondseg(["segment", "--overlay", "--out", folder + "/res", folder + "/x.png", folder + "/x-overlay.png"])
        XCTAssertEqual(result.status, 5)
        XCTAssertEqual(result.errorLines, ["error: \(folder)/res/x-overlay.png: written twice in this run, as the overlay of \(folder)/x.png and as the mask of \(folder)/x-overlay.png"])
        assertContractLines(result)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/res"), "nothing was written")
    }

    func testOutputFolderProblemsAreOneLineWithExit5() throws {
        let folder = try temporaryFolder(self)
        try writeSmallPNG(to: folder + "/in.png")
        try Data([1]).write(to: URL(fileURLWithPath: folder + "/plain-file"))
        let proc = try runCondseg(["segment", "--out", "/proc/condseg-x", folder + "/in.png"])
        XCTAssertEqual(proc.status, 5)
        XCTAssertEqual(proc.errorLines.count, 1, proc.stderr)
        XCTAssertEqual(proc.errorLines, ["error: /proc/condseg-x: cannot write in /proc: the folder does not take new files"])
        assertContractLines(proc)
        let file = try runCondseg(["segment", "--out", folder + "/plain-file", folder + "/in.png"])
        XCTAssertEqual(file.status, 5)
        XCTAssertEqual(file.errorLines, ["error: \(folder)/plain-file: exists and is not a folder"])
        assertContractLines(file)
    }

    func testWhenEveryImageFailsNothingClaimsSuccess() throws {
        let folder = try temporaryFolder(self)
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: folder + "/bad.png"))
        let result = try runCondseg(["segment", "--out", folder + "/out", folder + "/bad.png"])
        XCTAssertEqual(result.status, 4)
        XCTAssertEqual(result.errorLines.filter { $0.hasPrefix("error:") },
                       ["error: \(folder)/bad.png: not a PNG or JPEG image (unrecognised first bytes)"])
        XCTAssertFalse(result.stdout.contains("written to"), result.stdout)
        XCTAssertFalse(result.stdout.contains("median"), result.stdout)
        XCTAssertTrue(result.stdout.contains("segmented 0 of 1 images: nothing written"), result.stdout)
    }

    func testARunThatWritesNothingLeavesNoOutputFolder() throws {
        let folder = try temporaryFolder(self)
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: folder + "/trunc.png"))
        let badImage = try runCondseg(["segment", "--out", folder + "/o2", folder + "/trunc.png"])
        XCTAssertEqual(badImage.status, 4, badImage.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/o2"), "no empty folder after a bad image")
        try writeSmallPNG(to: folder + "/in.png")
        let badTable = try runCondseg(["segment", "--calibration", folder + "/in.png", "--out", folder + "/o3/deeper", folder + "/in.png"])
        XCTAssertEqual(badTable.status, 4, badTable.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/o3"), "no empty folder after a wrong table")
        let model = try Data(contentsOf: repositoryRoot.appendingPathComponent("models/condseg-r18w64-kvasir.safetensors"))
        try model.prefix(100_000).write(to: URL(fileURLWithPath: folder + "/trunc.safetensors"))
        let badModel = try runCondseg(["segment", "--model", folder + "/trunc.safetensors", "--out", folder + "/o4", folder + "/in.png"])
        XCTAssertEqual(badModel.status, 4, badModel.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/o4"), "no empty folder after a truncated model")
    }

    func testHelpSaysWhereTheDefaultModelIsAndThatBadImagesAreSkipped() throws {
        let help = try runCondseg(["segment", "--help"]).stdout
        let flat = help.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        let env = try XCTUnwrap(flat.range(of: "$CONDSEG_MODEL"), flat)
        let share = try XCTUnwrap(flat.range(of: "share/condseg/"), flat)
        let models = try XCTUnwrap(flat.range(of: "repository's models/"), flat)
        XCTAssertTrue(env.lowerBound < share.lowerBound && share.lowerBound < models.lowerBound, "the order the code searches")
        XCTAssertTrue(flat.contains("skipped: the others are still written"), flat)
        XCTAssertTrue(flat.contains("(4 for a bad image)"), flat)
    }

    func testOneThreadIsSingular() throws {
        let folder = try temporaryFolder(self)
        try writeSmallPNG(to: folder + "/in.png")
        let result = try runCondseg(["segment", "--threads", "1", "--out", folder + "/out", folder + "/in.png"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("1 thread)"), result.stdout)
        XCTAssertFalse(result.stdout.contains("1 threads"), result.stdout)
        XCTAssertNotNil(contents(folder + "/out/in.png"))
    }

    func testMissingCalibrationTableSaysWhy() throws {
        let folder = try temporaryFolder(self)
        try writeSmallPNG(to: folder + "/in.png")
        let result = try runCondseg(["segment", "--calibration", folder + "/none.table.txt", "--out", folder + "/out", folder + "/in.png"])
        XCTAssertEqual(result.status, 4)
        XCTAssertEqual(result.errorLines, ["error: \(folder)/none.table.txt: cannot read the calibration table (No such file or directory)"])
    }

    func testTheHelpExampleRuns() throws {
        let help = try runCondseg(["segment", "--help"]).stdout
        let example = try XCTUnwrap(help.split(separator: "\n").first { $0.contains("Example: condseg segment") })
        let arguments = example.components(separatedBy: "Example: condseg ")[1].split(separator: " ").map(String.init)
        let folder = try temporaryFolder(self)
        try FileManager.default.createSymbolicLink(atPath: folder + "/samples", withDestinationPath: repositoryRoot.path + "/samples")
        let result = try runCondseg(arguments, in: folder)
        XCTAssertEqual(result.status, 0, "\(arguments): \(result.stderr)")
        let written = try FileManager.default.contentsOfDirectory(atPath: folder + "/results")
        XCTAssertEqual(written.filter { $0.hasSuffix("-overlay.png") }.count, 6, "\(written)")
        XCTAssertEqual(written.count, 12, "\(written)")
    }
}
