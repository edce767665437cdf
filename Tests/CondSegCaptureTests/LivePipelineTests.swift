// LivePipelineTests.swift: the live pipeline with fake sources and segmenters: latest-wins dropping,
// overlay cleared at once on a device fault and recovery after replug, giving up on a device that stays
// away, waiting for a device missing at start, the simulated camera's faults all counted and every frame accounted
// for, the back-off on a simulated clock, clean stop by request and by SIGTERM, corrupt MJPEG frames,
// stale masks not drawn, replay outputs (masks, overlays, raw video) and log lines' identity prefix.
import CondSegCapture
import CondSegImage
import Foundation
import XCTest

/// Records what the pipeline hands to sinks, in order.
final class RecordingSink: LiveSink, @unchecked Sendable {
    enum Event: Equatable {
        case segmented(sequence: UInt64, maskAllForeground: Bool, maskAllBackground: Bool, firstByte: UInt8)
        case display(sequence: UInt64, overlaid: Bool)
        case lost
    }
    private let lock = NSLock()
    private var recorded: [Event] = []
    private(set) var finished = false
    let wantsDisplayFrames: Bool
    var wantsSegmentedFrames: Bool { true }
    /// Called after each event with all events so far (on the output thread).
    var onEvent: (([Event]) -> Void)?

    init(wantsDisplayFrames: Bool = false) { self.wantsDisplayFrames = wantsDisplayFrames }

    var events: [Event] { lock.lock(); defer { lock.unlock() }; return recorded }

    private func add(_ event: Event) {
        lock.lock()
        recorded.append(event)
        let snapshot = recorded
        lock.unlock()
        onEvent?(snapshot)
    }

    func segmented(_ result: SegmentedResult) throws {
        add(.segmented(sequence: result.frame.sequence, maskAllForeground: result.mask.pixels.allSatisfy { $0 == 255 },
                       maskAllBackground: result.mask.pixels.allSatisfy { $0 == 0 }, firstByte: result.frame.bytes[0]))
    }
    func display(_ image: Image8, sequence: UInt64, overlaid: Bool) throws { add(.display(sequence: sequence, overlaid: overlaid)) }
    func videoLost() { add(.lost) }
    func finish() throws { finished = true }
}

/// A segmenter whose first call returns at once and later calls take `laterDelay` seconds.
final class SlowAfterFirstSegmenter: FrameSegmenter {
    let inner = BrightnessSegmenter(inputSize: 8)
    let laterDelay: Double
    private var calls = 0
    init(laterDelay: Double) { self.laterDelay = laterDelay }
    var inputSize: Int { inner.inputSize }
    var channelOrderBGR: Bool { true }
    var inputScale: Float { inner.inputScale }
    func segment(planar: [Float]) throws -> [Float] {
        calls += 1
        if calls > 1 { Thread.sleep(forTimeInterval: laterDelay) }
        return try inner.segment(planar: planar)
    }
}

/// A source replaying a fixed list of frames (then end of stream).
final class ListSource: FrameSource {
    var frames: [Frame]
    var name: String { "list" }
    var isLive: Bool { false }
    init(_ frames: [Frame]) { self.frames = frames }
    func start() throws -> FrameFormat { frames.first?.format ?? FrameFormat(pixelFormat: .rgb24, width: 1, height: 1) }
    func next(timeoutMilliseconds: Int) throws -> SourceEvent {
        guard !frames.isEmpty else { return .endOfStream }
        var frame = frames.removeFirst()
        frame.captureTimeNanos = monotonicNanos()
        return .frame(frame, droppedBefore: 0)
    }
    func stop() {}
}

final class LivePipelineTests: XCTestCase {
    let identity = RunIdentity(runtimeVersion: "0.0-test", modelSHA256: "ab12", calibrationHash: "none")
    var logLines = Locked<[String]>([])

    func makeLog() -> LiveLog {
        let lines = logLines
        return LiveLog(identity: identity) { line in lines.mutate { $0.append(line) } }
    }

    /// A fake YUYV camera: every poll yields one frame after `period` seconds, bright (fill 200) on even
    /// sequence numbers and dark (30) on odd ones.
    func camera(period: Double = 0.002, steps: [FakeVideoDevice.Step] = []) -> FakeVideoDevice {
        let device = FakeVideoDevice(offered: [.yuyv], format: FrameFormat(pixelFormat: .yuyv, width: 32, height: 24), steps: steps)
        var parity = 0
        device.pollDelay = period
        device.endless = {
            parity += 1
            return .frames(count: 1, fill: parity % 2 == 1 ? 200 : 30)
        }
        return device
    }

    func runInBackground(_ pipeline: LivePipeline) -> () -> (ending: LiveEnding, statistics: LiveStatistics)? {
        let result = Locked<(ending: LiveEnding, statistics: LiveStatistics)?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            let outcome = try? pipeline.run()
            result.mutate { $0 = outcome }
            done.signal()
        }.start()
        return {
            XCTAssertEqual(done.wait(timeout: .now() + 20), .success, "pipeline did not stop")
            return result.read()
        }
    }

    func testLatestWinsDropsFramesInsteadOfQueueing() throws {
        let device = camera(period: 0.001)
        let sink = RecordingSink()
        var options = LiveOptions()
        options.frameLimit = 8
        let pipeline = LivePipeline(source: V4L2Capture(device: device), segmenter: BrightnessSegmenter(inputSize: 8, delaySeconds: 0.03),
                                    sinks: [sink], options: options, log: makeLog())
        let (ending, stats) = try pipeline.run()
        XCTAssertEqual(ending, .frameLimit)
        XCTAssertEqual(stats.segmented, 8, "masks in flight when the limit is reached are not counted")
        XCTAssertGreaterThan(stats.dropped, stats.segmented, "a 30 ms model on a ~1 ms camera must drop most frames")
        XCTAssertEqual(stats.captured, stats.segmented + stats.dropped, "every frame segmented or dropped (no fault, none discarded)")
        XCTAssertEqual(stats.discarded, 0)
        XCTAssertEqual(stats.inFlight, 0, "nothing left between the stages once the run has ended")
        XCTAssertTrue((1...4).contains(stats.inFlightMaximum), "latest-wins hand-offs: \(stats.inFlightMaximum) frames in flight")
        let segmented = sink.events.compactMap { event -> (UInt64, Bool, Bool, UInt8)? in
            if case .segmented(let sequence, let foreground, let background, let first) = event { return (sequence, foreground, background, first) }
            return nil
        }
        XCTAssertEqual(segmented.map(\.0), segmented.map(\.0).sorted(), "newest frames only: sequences increase")
        XCTAssertEqual(Set(segmented.map(\.0)).count, segmented.count)
        for (sequence, foreground, background, first) in segmented {
            XCTAssertEqual(foreground, first == 200, "mask of frame \(sequence) is its own frame's")
            XCTAssertEqual(background, first == 30, "mask of frame \(sequence) is its own frame's")
        }
        XCTAssertEqual(stats.latency.count, stats.segmented)
        XCTAssertGreaterThanOrEqual(stats.inference.count, stats.segmented)
        XCTAssertLessThanOrEqual(stats.inference.count, stats.segmented + 2, "at most the in-flight frames are inferred past the limit")
        XCTAssertTrue(sink.finished)
        XCTAssertFalse(device.isStreaming)
        XCTAssertFalse(device.isOpen)
    }

    func testOverlayClearsAtOnceOnFaultAndStreamingResumesAfterReplug() throws {
        let device = camera(steps: Array(repeating: FakeVideoDevice.Step.frames(count: 1, fill: 200), count: 30) + [.unplug])
        device.failingOpens = 0
        let sink = RecordingSink(wantsDisplayFrames: true)
        var options = LiveOptions()
        options.reconnectInitialDelaySeconds = 0.01
        options.reconnectMaxDelaySeconds = 0.02
        let pipeline = LivePipeline(source: V4L2Capture(device: device), segmenter: BrightnessSegmenter(inputSize: 8),
                                    sinks: [sink], options: options, log: makeLog())
        var replugged = false
        sink.onEvent = { events in
            if !replugged, events.last == .lost {
                replugged = true
                DispatchQueue.global().asyncAfter(deadline: .now() + 0.1) { device.replug() }
            }
            let afterLoss = events.drop { $0 != .lost }
            if afterLoss.filter({ if case .segmented = $0 { return true } else { return false } }).count >= 3 {
                pipeline.requestStop()
            }
        }
        let wait = runInBackground(pipeline)
        guard let (ending, stats) = wait() else { return XCTFail("run failed") }
        XCTAssertEqual(ending, .stopped)
        let events = sink.events
        XCTAssertEqual(events.filter { $0 == .lost }.count, 1)
        let lostIndex = events.firstIndex(of: .lost)!
        XCTAssertTrue(events[..<lostIndex].contains { if case .display(_, true) = $0 { return true } else { return false } },
                      "60 ms of bright frames before the unplug were shown with an overlay")
        // Between the loss and the first mask computed after it, no display frame carries an overlay.
        let afterLoss = events[(lostIndex + 1)...]
        let firstNewMask = afterLoss.firstIndex { if case .segmented = $0 { return true } else { return false } }!
        for event in afterLoss[..<firstNewMask] {
            if case .display(let sequence, let overlaid) = event { XCTAssertFalse(overlaid, "frame \(sequence) showed a stale overlay") }
        }
        XCTAssertTrue(afterLoss.contains { if case .display(_, true) = $0 { return true } else { return false } },
                      "overlay returns once new masks arrive: \(afterLoss)")
        XCTAssertEqual(stats.deviceFaults, 1)
        XCTAssertEqual(stats.reconnects, 1)
        XCTAssertGreaterThanOrEqual(device.opens, 2)
        let lines = logLines.read()
        XCTAssertTrue(lines.contains { $0.contains("no video: /dev/fake0: device lost") }, lines.joined(separator: "\n"))
        XCTAssertTrue(lines.contains { $0.contains("video back on /dev/fake0") })
    }

    func testResolutionChangeClearsTheOverlayAndContinuesAtTheNewSize() throws {
        let device = camera(period: 0.003, steps: Array(repeating: FakeVideoDevice.Step.frames(count: 1, fill: 200), count: 10)
                            + [.sourceChange(width: 64, height: 48)])
        let sink = RecordingSink(wantsDisplayFrames: true)
        let pipeline = LivePipeline(source: V4L2Capture(device: device), segmenter: BrightnessSegmenter(inputSize: 8),
                                    sinks: [sink], options: LiveOptions(), log: makeLog())
        sink.onEvent = { events in
            let afterChange = events.drop { $0 != .lost }
            if afterChange.filter({ if case .segmented = $0 { return true } else { return false } }).count >= 2 {
                pipeline.requestStop()
            }
        }
        let wait = runInBackground(pipeline)
        guard let (_, stats) = wait() else { return XCTFail("run failed") }
        XCTAssertEqual(stats.formatChanges, 1)
        XCTAssertEqual(stats.deviceFaults, 0)
        let events = sink.events
        let lostIndex = try XCTUnwrap(events.firstIndex(of: .lost), "the resolution change clears the overlay")
        let afterLoss = events[(lostIndex + 1)...]
        let firstNewMask = try XCTUnwrap(afterLoss.firstIndex { if case .segmented = $0 { return true } else { return false } })
        for event in afterLoss[..<firstNewMask] {
            if case .display(let sequence, let overlaid) = event { XCTAssertFalse(overlaid, "frame \(sequence) showed a mask of the old geometry") }
        }
        XCTAssertTrue(logLines.read().contains { $0.contains("source format changed: yuyv 32x24 -> yuyv 64x48; overlay cleared") })
    }

    func testRunEndsWhenTheDeviceStaysAway() throws {
        let device = camera(steps: [.frames(count: 1), .frames(count: 1), .unplug])
        let sink = RecordingSink()
        var options = LiveOptions()
        options.reconnectInitialDelaySeconds = 0.02
        options.giveUpAfterSeconds = 0.2
        let pipeline = LivePipeline(source: V4L2Capture(device: device), segmenter: BrightnessSegmenter(inputSize: 8),
                                    sinks: [sink], options: options, log: makeLog())
        let (ending, stats) = try pipeline.run()
        XCTAssertEqual(ending, .deviceGone)
        XCTAssertEqual(sink.events.filter { $0 == .lost }.count, 1)
        XCTAssertEqual(stats.deviceFaults, 1)
        XCTAssertEqual(stats.reconnects, 0)
        XCTAssertTrue(sink.finished)
        XCTAssertTrue(logLines.read().contains { $0.contains("did not come back") })
    }

    func testMissingDeviceFailsAtOnceOrIsWaitedFor() throws {
        let absent = camera()
        absent.missing = true
        let failing = LivePipeline(source: V4L2Capture(device: absent), segmenter: BrightnessSegmenter(inputSize: 8),
                                   sinks: [], options: LiveOptions(), log: makeLog())
        XCTAssertThrowsError(try failing.run()) { error in
            XCTAssertEqual("\(error)", "/dev/fake0: cannot open device: No such file or directory")
        }

        let late = camera()
        late.failingOpens = 3
        var options = LiveOptions()
        options.waitForDevice = true
        options.reconnectInitialDelaySeconds = 0.01
        options.frameLimit = 2
        let waiting = LivePipeline(source: V4L2Capture(device: late), segmenter: BrightnessSegmenter(inputSize: 8),
                                   sinks: [], options: options, log: makeLog())
        let (ending, stats) = try waiting.run()
        XCTAssertEqual(ending, .frameLimit)
        XCTAssertGreaterThanOrEqual(stats.segmented, 2)
        XCTAssertEqual(late.opens, 1)
        XCTAssertTrue(logLines.read().contains { $0.contains("retrying (attempt 1") })
    }

    /// A soak in miniature: the simulated camera injects a fault every 8 polls on average; the pipeline's counters
    /// must match what it injected, every captured frame must end segmented, dropped or discarded, and the frames
    /// between the stages must stay within the latest-wins bound.
    func testEverySimulatedFaultIsCountedAndEveryFrameAccountedFor() throws {
        let device = SimulatedVideoDevice.soak(width: 32, height: 24, faultEvery: 8, seed: 11)
        var options = LiveOptions()
        options.frameLimit = 300
        options.simulatedBackOff = true
        options.reconnectInitialDelaySeconds = 0.5
        options.reconnectMaxDelaySeconds = 4
        let sink = RecordingSink()
        let pipeline = LivePipeline(source: V4L2Capture(device: device), segmenter: BrightnessSegmenter(inputSize: 8),
                                    sinks: [sink], options: options, log: makeLog())
        let (ending, stats) = try pipeline.run()
        let injected = device.injectedFaults
        XCTAssertEqual(ending, .frameLimit)
        XCTAssertEqual(stats.segmented, 300)
        XCTAssertGreaterThan(injected.unplugs, 0)
        XCTAssertGreaterThan(injected.resolutionChanges, 0)
        XCTAssertEqual(stats.timeouts, injected.timeouts)
        XCTAssertEqual(stats.corrupt, injected.corruptFrames)
        XCTAssertEqual(stats.deviceFaults, injected.deviceFaults)
        XCTAssertEqual(stats.formatChanges, injected.resolutionChanges)
        // The run may end while it reopens the device after the last fault: that one is not back yet.
        XCTAssertTrue((stats.deviceFaults - 1...stats.deviceFaults).contains(stats.reconnects), "\(stats.reconnects) of \(stats.deviceFaults)")
        XCTAssertTrue((2 * injected.unplugs - 2...2 * injected.unplugs).contains(injected.failedOpens))
        // Back-off after an unplug: 0.5 s, then 1 s, on the simulated clock (each unplug refuses two opens); the
        // last unplug's may be cut short by the end of the run.
        let completeUnplugWaits = 1.5 * Double(injected.unplugs - 1)
        XCTAssertTrue((completeUnplugWaits...completeUnplugWaits + 1.5).contains(stats.reconnectWaitSeconds),
                      "\(stats.reconnectWaitSeconds) s of back-off for \(injected.unplugs) unplugs")
        XCTAssertEqual(stats.captured, stats.segmented + stats.dropped + stats.discarded)
        XCTAssertEqual(stats.inFlight, 0)
        XCTAssertTrue((1...4).contains(stats.inFlightMaximum), "\(stats.inFlightMaximum) frames in flight")
        XCTAssertEqual(device.protocolViolationCount, 0)
        XCTAssertFalse(device.isOpen)
        XCTAssertEqual(sink.events.filter { if case .segmented = $0 { return true } else { return false } }.count, 300)
    }

    func testSimulatedBackOffRunsTheSequenceAndTheGiveUpDeadline() throws {
        let device = camera(steps: [.frames(count: 1), .unplug])
        var options = LiveOptions()
        options.simulatedBackOff = true
        options.reconnectInitialDelaySeconds = 1
        options.reconnectMaxDelaySeconds = 4
        options.giveUpAfterSeconds = 20
        let pipeline = LivePipeline(source: V4L2Capture(device: device), segmenter: BrightnessSegmenter(inputSize: 8),
                                    sinks: [], options: options, log: makeLog())
        let (ending, stats) = try pipeline.run()
        XCTAssertEqual(ending, .deviceGone)
        // Waits 1, 2, 4, 4, 4, 4, 4: the eighth failed open comes 23 simulated seconds in, past the 20 s deadline.
        XCTAssertEqual(stats.reconnectWaitSeconds, 23, accuracy: 1e-9)
        XCTAssertEqual(device.injectedFaults.failedOpens, 8)
        XCTAssertEqual(device.injectedFaults.unplugs, 1)
        XCTAssertEqual(stats.deviceFaults, 1)
        XCTAssertEqual(stats.reconnects, 0)
        let lines = logLines.read()
        XCTAssertTrue(lines.contains { $0.contains("retrying (attempt 1, next in 1.0 s)") }, lines.joined(separator: "\n"))
        XCTAssertTrue(lines.contains { $0.contains("did not come back within 20.0 s") }, lines.joined(separator: "\n"))
    }

    func testTimeoutsAreCountedAndReported() throws {
        let device = camera(steps: [.timeout, .timeout, .timeout, .frames(count: 1)])
        var options = LiveOptions()
        options.frameLimit = 1
        let pipeline = LivePipeline(source: V4L2Capture(device: device), segmenter: BrightnessSegmenter(inputSize: 8),
                                    sinks: [], options: options, log: makeLog())
        let (_, stats) = try pipeline.run()
        XCTAssertEqual(stats.timeouts, 3)
        XCTAssertTrue(logLines.read().contains { $0.contains("no frame from /dev/fake0 within 1000 ms (1 in a row)") })
    }

    func testACameraSendingOnlyUnusableFramesIsAFaultAndIsReopened() throws {
        // Every frame truncated (4 bytes used of a 32×24 YUYV buffer): nothing can be segmented. A --frames run
        // would wait for ever; the pipeline treats 0.2 s of nothing usable as a device fault and reopens.
        let broken = FakeVideoDevice(offered: [.yuyv], format: FrameFormat(pixelFormat: .yuyv, width: 32, height: 24), steps: [])
        broken.pollDelay = 0.002
        broken.endless = { .frames(count: 1, bytesUsed: 4) }
        var options = LiveOptions()
        options.unusableVideoFaultSeconds = 0.2
        options.reconnectInitialDelaySeconds = 0.01
        options.durationLimitSeconds = 1.0
        options.frameLimit = 1
        let sink = RecordingSink()
        let (ending, stats) = try LivePipeline(source: V4L2Capture(device: broken), segmenter: BrightnessSegmenter(inputSize: 8),
                                               sinks: [sink], options: options, log: makeLog()).run()
        XCTAssertEqual(ending, .durationLimit)
        XCTAssertEqual(stats.segmented, 0)
        XCTAssertGreaterThanOrEqual(stats.deviceFaults, 2, "faulted again after each reopen: \(stats.summary)")
        XCTAssertLessThanOrEqual(stats.deviceFaults, 6, "one fault per 0.2 s at most: \(stats.summary)")
        XCTAssertEqual(stats.reconnects, stats.deviceFaults, "every reopen succeeded")
        XCTAssertGreaterThan(stats.corrupt, 0)
        XCTAssertEqual(stats.captured, stats.segmented + stats.dropped + stats.discarded + stats.inFlight, stats.summary)
        XCTAssertTrue(logLines.read().contains { $0.contains("no video: /dev/fake0: device lost: every frame for 0.2 s was unusable (") },
                      logLines.read().joined(separator: "\n"))

        // Unusable frames between usable ones are only counted: no fault.
        logLines = Locked([])
        let flaky = FakeVideoDevice(offered: [.yuyv], format: FrameFormat(pixelFormat: .yuyv, width: 32, height: 24), steps: [])
        flaky.pollDelay = 0.002
        var n = 0
        flaky.endless = { n += 1; return n % 2 == 0 ? .frames(count: 1, bytesUsed: 4) : .frames(count: 1, fill: 200) }
        options.frameLimit = nil
        options.durationLimitSeconds = 0.8
        let (flakyEnding, flakyStats) = try LivePipeline(source: V4L2Capture(device: flaky), segmenter: BrightnessSegmenter(inputSize: 8),
                                                         sinks: [], options: options, log: makeLog()).run()
        XCTAssertEqual(flakyEnding, .durationLimit)
        XCTAssertEqual(flakyStats.deviceFaults, 0, flakyStats.summary)
        XCTAssertGreaterThan(flakyStats.segmented, 0)
        XCTAssertGreaterThan(flakyStats.corrupt, 0)
    }

    func testSIGTERMStopsCleanlyWithCompleteFiles() throws {
        let folder = try makeTemporaryFolder(self)
        let device = camera(period: 0.005)
        let snapshots = try OverlaySnapshotSink(folder: folder, every: 1)
        let sink = RecordingSink()
        let pipeline = LivePipeline(source: V4L2Capture(device: device), segmenter: BrightnessSegmenter(inputSize: 8),
                                    sinks: [snapshots, sink], options: LiveOptions(), log: makeLog())
        let signals = StopSignals { _ in pipeline.requestStop() }
        defer { signals.cancel() }
        sink.onEvent = { events in
            if events.count == 5 { kill(getpid(), SIGTERM) }
        }
        let (ending, stats) = try pipeline.run()
        XCTAssertEqual(ending, .stopped)
        XCTAssertGreaterThanOrEqual(stats.segmented, 5)
        XCTAssertFalse(device.isStreaming, "streaming off")
        XCTAssertFalse(device.isOpen, "device closed")
        XCTAssertEqual(device.protocolViolations, [])
        XCTAssertTrue(sink.finished)
        let names = try FileManager.default.contentsOfDirectory(atPath: folder)
        XCTAssertEqual(names.filter { $0.hasPrefix(".") }, [], "no temporary files left")
        XCTAssertEqual(names.count, stats.segmented)
        for name in names {
            let image = try ImageCodec.decodeRGB(path: folder + "/" + name)
            XCTAssertEqual([image.width, image.height], [32, 24], name)
        }
    }

    func testCorruptMJPEGFramesAreDroppedAndCounted() throws {
        let picture = Image8(width: 16, height: 12, channels: 3, pixels: [UInt8](repeating: 220, count: 16 * 12 * 3))
        let jpeg = try ImageCodec.encodeJPEG(picture, quality: 90)
        let format = FrameFormat(pixelFormat: .mjpeg, width: 16, height: 12)
        let payloads = [jpeg, Array(jpeg.prefix(30)), jpeg, [UInt8](repeating: 0xFF, count: 64), jpeg]
        let frames = payloads.enumerated().map { Frame(format: format, bytes: $1, captureTimeNanos: 0, sequence: UInt64($0)) }
        let sink = RecordingSink()
        var options = LiveOptions()
        options.waitForConsumer = true
        let pipeline = LivePipeline(source: ListSource(frames), segmenter: BrightnessSegmenter(inputSize: 8),
                                    sinks: [sink], options: options, log: makeLog())
        let (ending, stats) = try pipeline.run()
        XCTAssertEqual(ending, .endOfStream)
        XCTAssertEqual(stats.corrupt, 2)
        XCTAssertEqual(stats.segmented, 3)
        XCTAssertEqual(stats.dropped, 0)
        // A frame that fails conversion was captured and ends discarded: the accounting still closes.
        XCTAssertEqual(stats.captured, 5)
        XCTAssertEqual(stats.discarded, 2)
        XCTAssertEqual(stats.captured, stats.segmented + stats.dropped + stats.discarded)
        XCTAssertEqual(stats.inFlight, 0)
        XCTAssertEqual(sink.events.map { event -> UInt64 in
            if case .segmented(let sequence, let foreground, _, _) = event { XCTAssertTrue(foreground); return sequence }
            return 99
        }, [0, 2, 4])
        XCTAssertEqual(logLines.read().filter { $0.contains("discarded corrupt frame") }.count, 2)
    }

    func testStaleMaskIsNotDrawnWhenInferenceStalls() throws {
        let device = camera(period: 0.004)
        let sink = RecordingSink(wantsDisplayFrames: true)
        var options = LiveOptions()
        options.maxMaskAgeMilliseconds = 40
        options.durationLimitSeconds = 0.4
        let pipeline = LivePipeline(source: V4L2Capture(device: device), segmenter: SlowAfterFirstSegmenter(laterDelay: 0.6),
                                    sinks: [sink], options: options, log: makeLog())
        let (ending, _) = try pipeline.run()
        XCTAssertEqual(ending, .durationLimit)
        let displays = sink.events.compactMap { event -> Bool? in
            if case .display(_, let overlaid) = event { return overlaid }
            return nil
        }
        XCTAssertGreaterThan(displays.count, 20)
        XCTAssertEqual(displays.suffix(10), Array(repeating: false, count: 10), "a 0.6 s stall must clear a 40 ms overlay")
    }

    func testReplayWritesMasksOverlaysAndRawVideo() throws {
        let folder = try makeTemporaryFolder(self)
        var pipeFDs: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&pipeFDs), 0)
        defer { close(pipeFDs[0]) }
        let masks = try MaskFolderSink(folder: folder + "/masks")
        let overlays = try OverlaySnapshotSink(folder: folder + "/overlays", every: 2)
        let raw = RawVideoSink(descriptor: pipeFDs[1], name: "pipe")
        var options = LiveOptions()
        options.waitForConsumer = true
        let pipeline = LivePipeline(source: Y4MSource(path: CaptureFixtures.path("clip-32x24.y4m"), paced: false),
                                    segmenter: BrightnessSegmenter(inputSize: 16), sinks: [masks, overlays, raw],
                                    options: options, log: makeLog())
        let (ending, stats) = try pipeline.run()
        close(pipeFDs[1])
        XCTAssertEqual(ending, .endOfStream)
        XCTAssertEqual(stats.segmented, 3)
        XCTAssertEqual(stats.displayed, 3)
        XCTAssertEqual(stats.dropped, 0)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder + "/masks").sorted(),
                       ["frame-000000.png", "frame-000001.png", "frame-000002.png"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder + "/overlays").sorted(),
                       ["frame-000000.png", "frame-000002.png"], "every second segmented frame")
        let mask = try ImageCodec.decodeGray(path: folder + "/masks/frame-000001.png")
        XCTAssertEqual([mask.width, mask.height], [32, 24])
        XCTAssertTrue(Set(mask.pixels).isSubset(of: [0, 255]))
        XCTAssertTrue(Set(mask.pixels) == [0, 255], "the test picture has bright and dark parts")
        var received = [UInt8](repeating: 0, count: 3 * 32 * 24 * 3 + 1)
        var total = 0
        while true {
            let count = received.withUnsafeMutableBytes { read(pipeFDs[0], $0.baseAddress! + total, $0.count - total) }
            if count <= 0 { break }
            total += count
        }
        XCTAssertEqual(total, 3 * 32 * 24 * 3, "three RGB24 frames on the raw output")
    }

    /// A segmenter that signals `secondCall` when it is asked for its second mask.
    final class CountingSegmenter: FrameSegmenter, @unchecked Sendable {
        let inner = BrightnessSegmenter(inputSize: 8)
        let secondCall = DispatchSemaphore(value: 0)
        private var calls = 0
        var inputSize: Int { inner.inputSize }
        var channelOrderBGR: Bool { true }
        var inputScale: Float { inner.inputScale }
        func segment(planar: [Float]) throws -> [Float] {
            calls += 1
            let result = try inner.segment(planar: planar)
            if calls == 2 { secondCall.signal() }
            return result
        }
    }

    func testFrameLimitCountsOnlyTheFramesHandedOut() throws {
        // The first mask's sink call waits until a second frame has been segmented, so a mask is in flight when
        // the limit is reached: it must be neither written nor counted. The source delivers frames without
        // waiting for the pipeline, as a camera does (an unpaced replay would not read the second frame).
        let segmenter = CountingSegmenter()
        let sink = RecordingSink()
        sink.onEvent = { events in
            if events.count == 1 { _ = segmenter.secondCall.wait(timeout: .now() + 20) }
        }
        var options = LiveOptions()
        options.frameLimit = 1
        let pipeline = LivePipeline(source: Y4MSource(path: CaptureFixtures.path("clip-32x24.y4m"), paced: false, loop: true),
                                    segmenter: segmenter, sinks: [sink], options: options, log: makeLog())
        let (ending, stats) = try pipeline.run()
        XCTAssertEqual(ending, .frameLimit)
        XCTAssertEqual(stats.segmented, 1)
        XCTAssertGreaterThanOrEqual(stats.inference.count, 2)
        XCTAssertGreaterThanOrEqual(stats.dropped, 1, "the second mask was made but not handed out")
        XCTAssertEqual(sink.events.count, 1, "\(sink.events)")
    }

    func testAnUnpacedReplayReadsNoFrameBeyondTheLimit() throws {
        // The clip has 3 frames; with --frames 2 the third must not be read (it would be captured only to be dropped).
        for limit in [1, 2] {
            let sink = RecordingSink()
            var options = LiveOptions()
            options.waitForConsumer = true
            options.frameLimit = limit
            let pipeline = LivePipeline(source: Y4MSource(path: CaptureFixtures.path("clip-32x24.y4m"), paced: false),
                                        segmenter: BrightnessSegmenter(inputSize: 16), sinks: [sink], options: options, log: makeLog())
            let (ending, stats) = try pipeline.run()
            XCTAssertEqual(ending, .frameLimit)
            XCTAssertEqual([stats.captured, stats.segmented, stats.dropped, stats.discarded, stats.inFlight], [limit, limit, 0, 0, 0])
            XCTAssertEqual(sink.events.count, limit, "\(sink.events)")
        }
    }

    func testEveryLogLineCarriesTheRunIdentity() throws {
        var options = LiveOptions()
        options.waitForConsumer = true
        let pipeline = LivePipeline(source: Y4MSource(path: CaptureFixtures.path("truncated.y4m"), paced: false),
                                    segmenter: BrightnessSegmenter(inputSize: 8), sinks: [], options: options, log: makeLog())
        _ = try pipeline.run()
        let lines = logLines.read()
        XCTAssertGreaterThanOrEqual(lines.count, 3)  // streaming, corrupt frame, run ended
        for line in lines { XCTAssertTrue(line.hasPrefix("[condseg 0.0-test model=ab12 calib=none] "), line) }
    }
}

/// A value behind a lock (test-side copy; the library's is internal).
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func read() -> Value { lock.lock(); defer { lock.unlock() }; return value }
    func mutate(_ body: (inout Value) -> Void) { lock.lock(); defer { lock.unlock() }; body(&value) }
}
