// ReplaySourceTests.swift: y4m header parsing (known answers), reading the OpenCV/NumPy-made clip frame by
// frame, truncated and malformed files, and the image-folder source.
import CondSegCapture
import CondSegImage
import XCTest

final class ReplaySourceTests: XCTestCase {
    func testHeaderParsing() throws {
        let header = try Y4MHeader.parse("YUV4MPEG2 W640 H480 F30000:1001 Ip A1:1 C422 XCOLORRANGE=FULL", path: "a.y4m")
        XCTAssertEqual(header.width, 640)
        XCTAssertEqual(header.height, 480)
        XCTAssertEqual(header.framesPerSecond, 30000.0 / 1001.0, accuracy: 1e-9)
        XCTAssertEqual(header.pixelFormat, .yuv422p)
        XCTAssertTrue(header.encoding.fullRange)
        XCTAssertEqual(header.frameBytes, 640 * 480 * 2)
        let defaults = try Y4MHeader.parse("YUV4MPEG2 W33 H17", path: "b.y4m")
        XCTAssertEqual(defaults.pixelFormat, .yuv420p)
        XCTAssertEqual(defaults.framesPerSecond, 25)
        XCTAssertFalse(defaults.encoding.fullRange)
        XCTAssertEqual(defaults.frameBytes, 33 * 17 + 2 * 17 * 9)  // odd sizes round the chroma planes up
        XCTAssertEqual(try Y4MHeader.parse("YUV4MPEG2 W8 H8 Cmono", path: "c").frameBytes, 64)
        XCTAssertEqual(try Y4MHeader.parse("YUV4MPEG2 W8 H8 C444", path: "c").frameBytes, 192)

        for (line, message) in [("RIFF W8 H8", "not a YUV4MPEG2"), ("YUV4MPEG2 H8", "W/H"),
                                ("YUV4MPEG2 W8 H8 C420p10", "unsupported y4m colour space"),
                                ("YUV4MPEG2 W8 H8 F30:0", "bad frame rate")] {
            XCTAssertThrowsError(try Y4MHeader.parse(line, path: "x.y4m")) { error in
                XCTAssertTrue("\(error)".hasPrefix("x.y4m: "), "\(error)")
                XCTAssertTrue("\(error)".contains(message), "\(error)")
            }
        }
    }

    func testClipFramesMatchThePlanesWritten() throws {
        let planes = try CaptureFixtures.bytes("clip-32x24.i420")
        let source = Y4MSource(path: CaptureFixtures.path("clip-32x24.y4m"), paced: false)
        let format = try source.start()
        XCTAssertEqual(format, FrameFormat(pixelFormat: .yuv420p, width: 32, height: 24))
        let frameBytes = 32 * 24 * 3 / 2
        for index in 0..<3 {
            guard case .frame(let frame, let skipped) = try source.next(timeoutMilliseconds: 100) else {
                return XCTFail("frame \(index) missing")
            }
            XCTAssertEqual(skipped, 0)
            XCTAssertEqual(frame.sequence, UInt64(index))
            XCTAssertEqual(frame.bytes, Array(planes[index * frameBytes..<(index + 1) * frameBytes]))
        }
        guard case .endOfStream = try source.next(timeoutMilliseconds: 100) else { return XCTFail("expected end") }
        source.stop()
    }

    func testLoopRestartsAfterTheLastFrame() throws {
        let source = Y4MSource(path: CaptureFixtures.path("clip-32x24.y4m"), paced: false, loop: true)
        _ = try source.start()
        var firsts: [[UInt8]] = []
        for _ in 0..<4 {
            guard case .frame(let frame, _) = try source.next(timeoutMilliseconds: 100) else { return XCTFail("no frame") }
            firsts.append(frame.bytes)
        }
        XCTAssertEqual(firsts[3], firsts[0])
        XCTAssertNotEqual(firsts[1], firsts[0])
    }

    func testPacedReplayKeepsTheFileRate() throws {
        // 15 fps: the third frame is due 2/15 s after the first. Only a lower bound is asserted (sleeping
        // guarantees "not before"), no upper timing bound.
        let source = Y4MSource(path: CaptureFixtures.path("clip-32x24.y4m"), paced: true)
        _ = try source.start()
        var stamps: [UInt64] = []
        while case .frame(let frame, _) = try source.next(timeoutMilliseconds: 1000) { stamps.append(frame.captureTimeNanos) }
        XCTAssertEqual(stamps.count, 3)
        XCTAssertGreaterThanOrEqual(stamps[2] - stamps[0], 2 * 1_000_000_000 / 15)
    }

    func testTruncatedClipReportsACorruptFrameThenEnds() throws {
        let source = Y4MSource(path: CaptureFixtures.path("truncated.y4m"), paced: false)
        _ = try source.start()
        var frames = 0
        var corrupt: [String] = []
        loop: while true {
            switch try source.next(timeoutMilliseconds: 100) {
            case .frame: frames += 1
            case .corrupt(let reason): corrupt.append(reason)
            case .endOfStream: break loop
            default: XCTFail("unexpected event")
            }
        }
        XCTAssertEqual(frames, 2)
        XCTAssertEqual(corrupt.count, 1)
        XCTAssertTrue(corrupt[0].hasSuffix("truncated.y4m: truncated frame 3: expected 1152 bytes, found 1052"), corrupt[0])
    }

    func testAFileWhoseOnlyFrameIsTruncatedIsRefusedAtStart() throws {
        // The header declares 16384×16384 4:2:0 frames (384 MiB each); the file holds 10 bytes of one. The start
        // refuses the file from its length, before a frame's buffer could be allocated.
        let folder = try makeTemporaryFolder(self)
        let path = folder + "/short.y4m"
        try Data(Array("YUV4MPEG2 W16384 H16384 F30:1 C420jpeg\nFRAME\n".utf8) + [UInt8](repeating: 7, count: 10))
            .write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Y4MSource(path: path, paced: false).start()) { error in
            XCTAssertEqual("\(error)", "\(path): truncated frame 1: expected 402653184 bytes, found 10")
        }
        // The same for a small frame size, and for a header with no frame at all.
        try Data(Array("YUV4MPEG2 W4 H2 C444\nFRAME\n".utf8) + [1, 2, 3]).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Y4MSource(path: path, paced: false).start()) { error in
            XCTAssertEqual("\(error)", "\(path): truncated frame 1: expected 24 bytes, found 3")
        }
        try Data("YUV4MPEG2 W4 H2 C444\n".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Y4MSource(path: path, paced: false).start()) { error in
            XCTAssertEqual("\(error)", "\(path): no frame after the y4m header")
        }
        // One whole frame is read after the check (the check leaves the file at the first frame).
        try Data(Array("YUV4MPEG2 W4 H2 C444\nFRAME\n".utf8) + [UInt8](0..<24)).write(to: URL(fileURLWithPath: path))
        let source = Y4MSource(path: path, paced: false)
        _ = try source.start()
        guard case .frame(let frame, _) = try source.next(timeoutMilliseconds: 0) else { return XCTFail("no frame") }
        XCTAssertEqual(frame.bytes, [UInt8](0..<24))
    }

    func testMissingOrMalformedFilesFailWithTheirPath() throws {
        let folder = try makeTemporaryFolder(self)
        let notY4M = folder + "/movie.y4m"
        try Data("hello\n".utf8).write(to: URL(fileURLWithPath: notY4M))
        for path in [folder + "/absent.y4m", notY4M] {
            XCTAssertThrowsError(try Y4MSource(path: path).start()) { error in
                XCTAssertTrue("\(error)".hasPrefix(path + ": "), "\(error)")
            }
        }
    }

    func testImageFolderSourceReplaysImagesInNameOrder() throws {
        let folder = try makeTemporaryFolder(self)
        let colours: [(String, UInt8)] = [("b", 200), ("a", 10), ("c", 90)]
        for (name, value) in colours {
            try ImageCodec.writePNG(Image8(width: 6, height: 4, channels: 3, pixels: [UInt8](repeating: value, count: 72)),
                                    to: "\(folder)/\(name).png")
        }
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: folder + "/d.png"))
        let source = ImageFolderSource(folder: folder, paced: false)
        XCTAssertEqual(try source.start(), FrameFormat(pixelFormat: .rgb24, width: 6, height: 4))
        var seen: [(String?, UInt8)] = []
        var corrupt = 0
        loop: while true {
            switch try source.next(timeoutMilliseconds: 10) {
            case .frame(let frame, _): seen.append((frame.label, frame.bytes[0]))
            case .corrupt: corrupt += 1
            case .endOfStream: break loop
            default: XCTFail("unexpected event")
            }
        }
        XCTAssertEqual(seen.map(\.0), ["a", "b", "c"])
        XCTAssertEqual(seen.map(\.1), [10, 200, 90])
        XCTAssertEqual(corrupt, 1)
        XCTAssertThrowsError(try ImageFolderSource(folder: folder + "/nope").start()) { error in
            XCTAssertTrue("\(error)".contains("/nope: no such folder"), "\(error)")
        }
    }
}
