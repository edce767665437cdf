// MotionCompensationPipelineTests.swift: the live pipeline with motion compensation on: while the model is busy,
// a mask computed on an earlier frame is drawn where the content has moved to on the displayed frames, and after a
// scene cut the overlay is hidden and counted instead of drawn in the wrong place.
import CondSegCapture
import CondSegImage
import Foundation
import XCTest

/// Returns a fixed square mask at once for the first frame; later calls wait until `release` is signalled
/// (a model busy for as long as the test needs).
final class SquareThenBusySegmenter: FrameSegmenter {
    let inputSize = 32
    let channelOrderBGR = true
    let inputScale: Float = 1.0 / 255
    private let condition = NSCondition()
    private var released = false
    private var calls = 0
    /// Ends the busy spell: the waiting call and every later one return at once.
    func release() {
        condition.lock(); released = true; condition.broadcast(); condition.unlock()
    }
    func segment(planar: [Float]) throws -> [Float] {
        calls += 1
        if calls > 1 {
            condition.lock()
            while !released { condition.wait() }
            condition.unlock()
        }
        // Foreground: input pixels 12..<20 in both directions (frame pixels 60..<100 × 45..<75 at 160×120).
        return (0..<(inputSize * inputSize)).map { index in
            let x = index % inputSize, y = index / inputSize
            return (12..<20).contains(x) && (12..<20).contains(y) ? 1 : 0
        }
    }
}

/// Records every display frame with its pixels.
final class ImageRecordingSink: LiveSink, @unchecked Sendable {
    let lock = NSLock()
    var frames: [(sequence: UInt64, image: Image8, overlaid: Bool)] = []
    var wantsDisplayFrames: Bool { true }
    func display(_ image: Image8, sequence: UInt64, overlaid: Bool) throws {
        lock.lock(); defer { lock.unlock() }
        frames.append((sequence, image, overlaid))
    }
    func hasShown(_ sequence: UInt64) -> Bool {
        lock.lock(); defer { lock.unlock() }
        return frames.contains { $0.sequence == sequence }
    }
}

/// Frames from a list, one every `period` seconds (paced like a camera), then the end.
final class PacedListSource: FrameSource {
    var frames: [Image8]
    let period: Double
    private var sequence: UInt64 = 0
    var name: String { "paced list" }
    var isLive: Bool { false }
    init(_ frames: [Image8], period: Double) { self.frames = frames; self.period = period }
    func start() throws -> FrameFormat { FrameFormat(pixelFormat: .rgb24, width: frames[0].width, height: frames[0].height) }
    func next(timeoutMilliseconds: Int) throws -> SourceEvent {
        guard !frames.isEmpty else { return .endOfStream }
        if sequence > 0 { Thread.sleep(forTimeInterval: period) }
        let image = frames.removeFirst()
        defer { sequence += 1 }
        return .frame(Frame(format: FrameFormat(pixelFormat: .rgb24, width: image.width, height: image.height),
                            bytes: image.pixels, captureTimeNanos: monotonicNanos(), sequence: sequence), droppedBefore: 0)
    }
    func stop() {}
}

final class MotionCompensationPipelineTests: XCTestCase {
    /// A 160×120 window of a sample still (resized to 320×240) whose top-left corner is at (left, top).
    func window(_ still: Image8, left: Int, top: Int) -> Image8 {
        var pixels = [UInt8](repeating: 0, count: 160 * 120 * 3)
        for y in 0..<120 {
            for x in 0..<160 {
                for c in 0..<3 { pixels[(y * 160 + x) * 3 + c] = still.pixels[((y + top) * still.width + x + left) * 3 + c] }
            }
        }
        return Image8(width: 160, height: 120, channels: 3, pixels: pixels)
    }

    /// Mean x and y of the pixels the overlay changed (tint), or nil when none changed.
    func overlayCentroid(_ shown: Image8, _ raw: Image8) -> (x: Double, y: Double)? {
        var sx = 0.0, sy = 0.0, n = 0.0
        for y in 0..<raw.height {
            for x in 0..<raw.width {
                let i = (y * raw.width + x) * 3
                if shown.pixels[i] != raw.pixels[i] || shown.pixels[i + 1] != raw.pixels[i + 1] || shown.pixels[i + 2] != raw.pixels[i + 2] {
                    sx += Double(x); sy += Double(y); n += 1
                }
            }
        }
        return n > 0 ? (sx / n, sy / n) : nil
    }

    func run(frames: [Image8], compensation: Bool) throws -> (ImageRecordingSink, LiveStatistics) {
        let sink = ImageRecordingSink()
        var options = LiveOptions()
        options.motionCompensation = compensation
        options.maxMaskAgeMilliseconds = 60_000
        options.overlayStyle = OverlayStyle(tint: (0, 255, 0), opacity: 0.5, contour: false)
        let segmenter = SquareThenBusySegmenter()
        let pipeline = LivePipeline(source: PacedListSource(frames, period: 0.03), segmenter: segmenter,
                                    sinks: [sink], options: options, log: LiveLog(identity: RunIdentity(runtimeVersion: "t", modelSHA256: "t")) { _ in })
        let done = DispatchSemaphore(value: 0)
        var statistics = LiveStatistics()
        Thread {
            statistics = (try? pipeline.run())?.statistics ?? LiveStatistics()
            done.signal()
        }.start()
        // Wait until the last frame is displayed (the newest display frame is never dropped), then stop the run
        // while the model is still busy.
        let last = UInt64(frames.count - 1)
        while !sink.hasShown(last) && done.wait(timeout: .now() + 0.05) == .timedOut {}
        pipeline.requestStop()
        segmenter.release()
        done.wait()
        return (sink, statistics)
    }

    func testMaskFollowsTheMovingContentWhileTheModelIsBusy() throws {
        let still = Resize.bilinear(try SampleStills.image(1), width: 320, height: 240)
        // The view pans right by 4 pixels per frame: the content moves left by 4 pixels per frame.
        let frames = (0..<12).map { window(still, left: 40 + 4 * $0, top: 60) }
        let (sink, stats) = try run(frames: frames, compensation: true)
        XCTAssertGreaterThan(stats.motionCompensated, 0)
        var checked = 0
        for frame in sink.frames where frame.sequence >= 3 {
            guard frame.overlaid, let centroid = overlayCentroid(frame.image, frames[Int(frame.sequence)]) else { continue }
            // The mask of frame 0 covers x 60..<100 (centre 79.5); on frame k it belongs at 79.5 − 4k.
            XCTAssertEqual(centroid.x, 79.5 - 4 * Double(frame.sequence), accuracy: 1.5, "frame \(frame.sequence)")
            XCTAssertEqual(centroid.y, 59.5, accuracy: 1.5, "frame \(frame.sequence)")
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 3, "overlaid frames after the first mask: \(sink.frames.map { ($0.sequence, $0.overlaid) })")
        // Without compensation the same frames show the mask where it was computed.
        let (plain, plainStats) = try run(frames: frames, compensation: false)
        XCTAssertEqual(plainStats.motionCompensated, 0)
        for frame in plain.frames where frame.sequence >= 3 && frame.overlaid {
            if let centroid = overlayCentroid(frame.image, frames[Int(frame.sequence)]) {
                XCTAssertEqual(centroid.x, 79.5, accuracy: 1.0)
            }
        }
    }

    func testOverlayIsHiddenAndCountedAfterASceneCut() throws {
        let first = Resize.bilinear(try SampleStills.image(1), width: 320, height: 240)
        let second = Resize.bilinear(try SampleStills.image(4), width: 320, height: 240)
        let frames = (0..<4).map { window(first, left: 40 + 2 * $0, top: 60) } + (0..<6).map { window(second, left: 40 + 2 * $0, top: 60) }
        let (sink, stats) = try run(frames: frames, compensation: true)
        XCTAssertGreaterThan(stats.motionHidden, 0)
        for frame in sink.frames where frame.sequence >= 4 {
            XCTAssertFalse(frame.overlaid, "frame \(frame.sequence), after the cut, showed the old mask")
        }
    }
}
