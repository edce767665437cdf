// OutputPlanTests.swift — outputs that would replace an input or each other are found before any work, however
// the paths are spelled (relative, "..", symbolic and hard links), and both files are named.

import CondSegIO
import Foundation
import XCTest

final class OutputPlanTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "condseg-plan-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder + "/out", withIntermediateDirectories: true)
        try AtomicFile.write([1], to: folder + "/out/frame.png")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func testOutputOverAnInputIsRefusedNamingBoth() throws {
        var plan = OutputPlan()
        plan.read(folder + "/out/frame.png", as: "input image")
        plan.write(folder + "/out/../out/./frame.png", as: "mask of frame.png")
        XCTAssertEqual(plan.conflicts, ["\(folder)/out/../out/./frame.png: the mask of frame.png would replace the input image \(folder)/out/frame.png"])
        XCTAssertThrowsError(try plan.check()) { error in
            XCTAssertEqual(ErrorReport.status(for: error), .output)
        }
    }

    func testSymbolicAndHardLinksAreTheSameFile() throws {
        try FileManager.default.createSymbolicLink(atPath: folder + "/link", withDestinationPath: folder + "/out")
        XCTAssertEqual(link(folder + "/out/frame.png", folder + "/hard.png"), 0)
        var plan = OutputPlan()
        plan.read(folder + "/out/frame.png", as: "input image")
        plan.write(folder + "/link/frame.png", as: "mask")
        plan.write(folder + "/hard.png", as: "overlay")
        XCTAssertEqual(plan.conflicts.count, 2, "\(plan.conflicts)")
    }

    func testRelativePathsResolveAgainstTheWorkingFolder() throws {
        let saved = FileManager.default.currentDirectoryPath
        defer { _ = FileManager.default.changeCurrentDirectoryPath(saved) }
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(folder))
        var plan = OutputPlan()
        plan.read("out/frame.png", as: "input image")
        plan.write(folder + "/out/frame.png", as: "mask")
        XCTAssertEqual(plan.conflicts.count, 1)
        XCTAssertEqual(OutputPlan.resolved("new/sub/../x.png"), OutputPlan.resolved(folder) + "/new/x.png")
    }

    func testTwoOutputsOfOneFileAreRefusedAndDistinctOnesPass() throws {
        var plan = OutputPlan()
        plan.read(folder + "/x.jpg", as: "input image")
        plan.read(folder + "/x-overlay.jpg", as: "input image")
        plan.write(folder + "/res/x.png", as: "mask of x.jpg")
        plan.write(folder + "/res/x-overlay.png", as: "overlay of x.jpg")
        plan.write(folder + "/res/x-overlay.png", as: "mask of x-overlay.jpg")
        plan.write(folder + "/res/x-overlay-overlay.png", as: "overlay of x-overlay.jpg")
        XCTAssertEqual(plan.conflicts, ["\(folder)/res/x-overlay.png: written twice in this run, as the overlay of x.jpg and as the mask of x-overlay.jpg"])

        var fine = OutputPlan()
        fine.read(folder + "/out/frame.png", as: "input image")
        fine.write(folder + "/res/frame.png", as: "mask")
        fine.write(folder + "/res/frame-overlay.png", as: "overlay")
        XCTAssertEqual(fine.conflicts, [])
        XCTAssertNoThrow(try fine.check())
    }
}
