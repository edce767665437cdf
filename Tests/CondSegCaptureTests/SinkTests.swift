// SinkTests.swift: output sinks on their own: refusing what is not a V4L2 output device, raw video refusing a
// size change mid-stream, and atomic PNG writes leaving no temporary files.
@testable import CondSegCapture
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

    func testSnapshotAndMaskFoldersAreCreatedWithTheFirstFileAndUnwritableOnesFailClearly() throws {
        let folder = try makeTemporaryFolder(self)
        let masks = try MaskFolderSink(folder: folder + "/a/b")
        let overlays = try OverlaySnapshotSink(folder: folder + "/c")
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/a"), "nothing is created before a frame is written")
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/c"))
        let image = Image8(width: 4, height: 2, channels: 3)
        let frame = Frame(format: FrameFormat(pixelFormat: .rgb24, width: 4, height: 2), bytes: image.pixels,
                          captureTimeNanos: 0, sequence: 0)
        let result = SegmentedResult(frame: frame, rgb: image, probabilities: [0], probabilitySize: 1,
                                     mask: Image8(width: 4, height: 2, channels: 1), overlay: image)
        try masks.segmented(result)
        try overlays.segmented(result)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder + "/a/b"), [result.fileStem + ".png"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder + "/c"), [result.fileStem + ".png"])
        XCTAssertThrowsError(try MaskFolderSink(folder: "/proc/condseg-masks")) { error in
            XCTAssertEqual("\(error)", "/proc/condseg-masks: cannot write in /proc: the folder does not take new files")
        }
        try Data("x".utf8).write(to: URL(fileURLWithPath: folder + "/file"))
        XCTAssertThrowsError(try OverlaySnapshotSink(folder: folder + "/file/sub")) { error in
            XCTAssertEqual("\(error)", folder + "/file/sub: cannot create the folder: \(folder)/file is not a folder")
        }
    }
}
