// V4L2CaptureTests.swift: the capture policy against the fake device: format choice, drain-to-newest with
// requeueing, driver drops, timeouts, partial and error-flagged buffers, resolution-change renegotiation,
// and faults (EIO, POLLERR, missing device, not a capture device).
import CondSegCapture
import XCTest

final class V4L2CaptureTests: XCTestCase {
    func yuyvDevice(_ steps: [FakeVideoDevice.Step]) -> FakeVideoDevice {
        FakeVideoDevice(offered: [.mjpeg, .nv12, .yuyv], format: FrameFormat(pixelFormat: .mjpeg, width: 64, height: 48), steps: steps)
    }

    func testChoosesTheBestOfferedFormatAndKeepsTheCurrentSize() throws {
        let device = yuyvDevice([])
        let capture = V4L2Capture(device: device)
        let format = try capture.start()
        XCTAssertEqual(format, FrameFormat(pixelFormat: .yuyv, width: 64, height: 48))
        XCTAssertEqual(device.setFormatCalls.map(\.0), [.yuyv])
        XCTAssertEqual(device.streamStarts, 1)
        XCTAssertEqual(device.queuedCount, 4, "all four buffers queued before STREAMON")
        capture.stop()
        XCTAssertEqual(device.streamStops, 1)
        XCTAssertEqual(device.closes, 1)

        XCTAssertEqual(try V4L2Capture.choose(requested: nil, offered: [.rgb24, .nv12], path: "d"), .nv12)
        XCTAssertEqual(try V4L2Capture.choose(requested: .mjpeg, offered: [.yuyv, .mjpeg], path: "d"), .mjpeg)
        XCTAssertThrowsError(try V4L2Capture.choose(requested: .uyvy, offered: [.yuyv, .mjpeg], path: "/dev/video3")) { error in
            XCTAssertEqual("\(error)", "/dev/video3: format uyvy not offered (device has: yuyv, mjpeg)")
        }
        let sized = V4L2Capture(device: yuyvDevice([]), format: .nv12, size: (320, 240))
        XCTAssertEqual(try sized.start(), FrameFormat(pixelFormat: .nv12, width: 320, height: 240))
    }

    func testDrainDeliversTheNewestFrameAndRequeuesTheOthers() throws {
        let device = yuyvDevice([.frames(count: 1), .frames(count: 3), .frames(count: 1, skip: 4)])
        let capture = V4L2Capture(device: device)
        _ = try capture.start()
        guard case .frame(let first, let skippedFirst) = try capture.next(timeoutMilliseconds: 10) else { return XCTFail() }
        XCTAssertEqual(first.sequence, 0)
        XCTAssertEqual(skippedFirst, 0)
        guard case .frame(let newest, let skipped) = try capture.next(timeoutMilliseconds: 10) else { return XCTFail() }
        XCTAssertEqual(newest.sequence, 3, "the newest of frames 1, 2, 3")
        XCTAssertEqual(skipped, 2)
        XCTAssertEqual(newest.bytes, [UInt8](repeating: 3, count: 64 * 48 * 2), "the bytes of buffer 3, copied before requeueing")
        XCTAssertEqual(device.queuedCount, 4, "every buffer handed back to the driver")
        guard case .frame(let afterGap, let driverDrops) = try capture.next(timeoutMilliseconds: 10) else { return XCTFail() }
        XCTAssertEqual(afterGap.sequence, 8)
        XCTAssertEqual(driverDrops, 4, "sequence gap 3 → 8: the driver dropped 4 frames")
        XCTAssertEqual(device.protocolViolations, [])
    }

    func testTimeoutsPartialAndErrorFlaggedBuffers() throws {
        let device = yuyvDevice([.timeout, .frames(count: 1, bytesUsed: 100), .frames(count: 1, errorFlag: true), .frames(count: 1)])
        let capture = V4L2Capture(device: device)
        _ = try capture.start()
        guard case .timeout = try capture.next(timeoutMilliseconds: 10) else { return XCTFail("expected a timeout") }
        guard case .corrupt(let partial) = try capture.next(timeoutMilliseconds: 10) else { return XCTFail("expected partial") }
        XCTAssertTrue(partial.contains("partial frame 0: 100 of 6144 bytes"), partial)
        guard case .corrupt(let flagged) = try capture.next(timeoutMilliseconds: 10) else { return XCTFail("expected error flag") }
        XCTAssertTrue(flagged.contains("V4L2_BUF_FLAG_ERROR"), flagged)
        guard case .frame(let good, _) = try capture.next(timeoutMilliseconds: 10) else { return XCTFail("expected a frame") }
        XCTAssertEqual(good.sequence, 2)
        XCTAssertEqual(device.queuedCount, 4)
        XCTAssertEqual(device.protocolViolations, [])
    }

    func testErrorFlaggedOlderBufferIsReportedAfterTheNewestFrame() throws {
        let device = yuyvDevice([.frames(count: 1, errorFlag: true), .frames(count: 1)])
        let capture = V4L2Capture(device: device)
        _ = try capture.start()
        guard case .corrupt = try capture.next(timeoutMilliseconds: 10) else { return XCTFail("flagged newest is corrupt") }
        guard case .frame(let frame, _) = try capture.next(timeoutMilliseconds: 10) else { return XCTFail() }
        XCTAssertEqual(frame.sequence, 1)

        let batch = FakeVideoDevice(offered: [.yuyv], format: FrameFormat(pixelFormat: .yuyv, width: 8, height: 2),
                                    steps: [.frames(count: 1, errorFlag: true), .frames(count: 1), .frames(count: 1)])
        batch.completeStepsTogether = 2
        let drained = V4L2Capture(device: batch)
        _ = try drained.start()
        guard case .frame(let newest, let skipped) = try drained.next(timeoutMilliseconds: 10) else { return XCTFail() }
        XCTAssertEqual(newest.sequence, 1)
        XCTAssertEqual(skipped, 0, "the flagged buffer counts as corrupt, not as dropped")
        guard case .corrupt(let reason) = try drained.next(timeoutMilliseconds: 10) else { return XCTFail("deferred report") }
        XCTAssertTrue(reason.contains("buffer 0"), reason)
        guard case .frame(let next, _) = try drained.next(timeoutMilliseconds: 10) else { return XCTFail() }
        XCTAssertEqual(next.sequence, 2)
        XCTAssertEqual(batch.protocolViolations, [])
    }

    func testImplausibleDriverTimestampsFallBackToDequeueTime() throws {
        let device = yuyvDevice([.frames(count: 1), .frames(count: 1)])
        device.timestampOffsetNanos = -100_000_000_000  // 100 s in the past, as vivid's offset clock gives
        let capture = V4L2Capture(device: device)
        _ = try capture.start()
        let before = monotonicNanos()
        guard case .frame(let frame, _) = try capture.next(timeoutMilliseconds: 10) else { return XCTFail() }
        XCTAssertGreaterThanOrEqual(frame.captureTimeNanos, before)
        XCTAssertTrue(capture.usesDequeueTime)
        let good = V4L2Capture(device: yuyvDevice([.frames(count: 1)]))
        _ = try good.start()
        _ = try good.next(timeoutMilliseconds: 10)
        XCTAssertFalse(good.usesDequeueTime)
    }

    func testResolutionChangeRenegotiatesAndRestartsStreaming() throws {
        let device = yuyvDevice([.frames(count: 1), .sourceChange(width: 128, height: 96), .frames(count: 1)])
        let capture = V4L2Capture(device: device)
        _ = try capture.start()
        guard case .frame = try capture.next(timeoutMilliseconds: 10) else { return XCTFail() }
        guard case .formatChanged(let changed) = try capture.next(timeoutMilliseconds: 10) else { return XCTFail("expected a format change") }
        XCTAssertEqual(changed, FrameFormat(pixelFormat: .yuyv, width: 128, height: 96))
        XCTAssertEqual(device.streamStops, 1)
        XCTAssertEqual(device.streamStarts, 2)
        XCTAssertEqual(device.setFormatCalls.last.map { [$0.1, $0.2] }, [128, 96])
        guard case .frame(let frame, _) = try capture.next(timeoutMilliseconds: 10) else { return XCTFail() }
        XCTAssertEqual(frame.format.width, 128)
        XCTAssertEqual(frame.bytes.count, 128 * 96 * 2)
    }

    func testFaultsSurfaceAsDeviceLost() throws {
        for step: FakeVideoDevice.Step in [.dequeueError(EIO), .pollError, .unplug] {
            let capture = V4L2Capture(device: yuyvDevice([.frames(count: 1), step]))
            _ = try capture.start()
            _ = try capture.next(timeoutMilliseconds: 10)
            XCTAssertThrowsError(try capture.next(timeoutMilliseconds: 10)) { error in
                guard case CaptureError.deviceLost(let path, _) = error else { return XCTFail("\(step): \(error)") }
                XCTAssertEqual(path, "/dev/fake0")
            }
        }
        let eio = V4L2Capture(device: yuyvDevice([.dequeueError(EIO)]))
        _ = try eio.start()
        XCTAssertThrowsError(try eio.next(timeoutMilliseconds: 10)) { error in
            XCTAssertEqual("\(error)", "/dev/fake0: device lost: VIDIOC_DQBUF: Input/output error")
        }
    }

    func testMissingDeviceAndNonCaptureDevice() throws {
        let missing = yuyvDevice([])
        missing.missing = true
        XCTAssertThrowsError(try V4L2Capture(device: missing).start()) { error in
            XCTAssertEqual(error as? CaptureError, .deviceMissing(path: "/dev/fake0", reason: "No such file or directory"))
        }
        let output = yuyvDevice([])
        output.isCapture = false
        XCTAssertThrowsError(try V4L2Capture(device: output).start()) { error in
            XCTAssertTrue("\(error)".contains("not a video capture device"), "\(error)")
        }
        XCTAssertEqual(output.closes, 1, "a refused device is closed again")
    }

    func testRealDeviceOpenFailsClearlyForAMissingNode() {
        let device = LibV4L2Device(path: "/dev/video-does-not-exist")
        XCTAssertThrowsError(try device.open()) { error in
            XCTAssertEqual("\(error)", "/dev/video-does-not-exist: cannot open device: No such file or directory")
        }
        XCTAssertThrowsError(try LibV4L2Device(path: "/dev/null").open()) { error in
            XCTAssertTrue("\(error)".hasPrefix("/dev/null: not a V4L2 device"), "\(error)")
        }
    }
}
