// SinkTests.swift: output sinks on their own: refusing what is not a V4L2 output device, raw video refusing a
// size change mid-stream, and atomic PNG writes leaving no temporary files.
import CondSegCapture
import CondSegImage
import Foundation
import XCTest

final class SinkTests: XCTestCase {
    func testV4L2OutputSinkRefusesMissingAndNonV4L2Paths() {
        XCTAssertThrowsError(try V4L2OutputSink(path: "/dev/video-does-not-exist")) { error in
            XCTAssertEqual("\(error)", "/dev/video-does-not-exist: cannot open device: No such file or directory")
        }
        XCTAssertThrowsError(try V4L2OutputSink(path: "/dev/null")) { error in
            XCTAssertEqual("\(error)", "/dev/null: not a V4L2 device")
        }
    }

    func testRawVideoSinkWritesFramesAndRefusesASizeChange() throws {
        var descriptors: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&descriptors), 0)
        defer { close(descriptors[0]); close(descriptors[1]) }
        let sink = RawVideoSink(descriptor: descriptors[1], name: "pipe")
        let small = Image8(width: 2, height: 2, channels: 3, pixels: Array(0..<12))
        try sink.display(small, sequence: 0, overlaid: false)
        var received = [UInt8](repeating: 0, count: 12)
        XCTAssertEqual(received.withUnsafeMutableBytes { read(descriptors[0], $0.baseAddress!, 12) }, 12)
        XCTAssertEqual(received, Array(0..<12))
        let larger = Image8(width: 3, height: 2, channels: 3, pixels: [UInt8](repeating: 9, count: 18))
        XCTAssertThrowsError(try sink.display(larger, sequence: 1, overlaid: false)) { error in
            XCTAssertTrue("\(error)".contains("frame size changed from 2x2 to 3x2"), "\(error)")
        }
    }

    func testSnapshotAndMaskFoldersAreCreatedAndUnwritableOnesFailClearly() throws {
        let folder = try makeTemporaryFolder(self)
        _ = try MaskFolderSink(folder: folder + "/a/b")
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/a/b"))
        try Data("x".utf8).write(to: URL(fileURLWithPath: folder + "/file"))
        XCTAssertThrowsError(try OverlaySnapshotSink(folder: folder + "/file/sub")) { error in
            XCTAssertEqual("\(error)", folder + "/file/sub: cannot create the folder: \(folder)/file is not a folder")
        }
    }
}
