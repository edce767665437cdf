// FakeVideoDevice.swift: a scripted stand-in for a V4L2 device behind `VideoDeviceIO`, so the capture
// policy (format choice, drain-to-newest, requeueing, partial/erroneous buffers, resolution changes, EIO,
// POLLERR, unplug and replug) is tested without hardware. It checks the buffer protocol as a driver would:
// a buffer may be dequeued only after it was queued, and requeued only after it was dequeued.
import CondSegCapture
import Foundation
import Glibc

final class FakeVideoDevice: VideoDeviceIO, @unchecked Sendable {
    /// What the next poll sees.
    enum Step {
        /// `count` buffers complete; each gets the next sequence number (after skipping `skip`), its bytes
        /// filled with the sequence number's low byte (or `fill`), `bytesUsed` overriding the full size.
        case frames(count: Int, skip: Int = 0, bytesUsed: Int? = nil, errorFlag: Bool = false, fill: UInt8? = nil)
        case timeout
        case pollError
        case dequeueError(Int32)
        case sourceChange(width: Int, height: Int)
        /// The device node disappears: this poll fails and opens fail until `replug` steps.
        case unplug
    }

    let path: String
    private let lock = NSLock()
    var offered: [PixelFormat]
    var format: FrameFormat
    var steps: [Step]
    /// Used when `steps` runs out; nil means a timeout.
    var endless: (() -> Step)?
    /// Added to every buffer timestamp (to mimic a driver clock that is not CLOCK_MONOTONIC).
    var timestampOffsetNanos: Int64 = 0
    /// The first poll completes this many `.frames` steps at once (buffers pile up before the reader wakes).
    var completeStepsTogether = 1
    /// Seconds every poll waits before answering (a camera's frame period).
    var pollDelay = 0.0
    var isCapture = true
    var missing = false
    /// Opens that must fail (device still away) before the device comes back.
    var failingOpens = 0

    private(set) var opens = 0
    private(set) var closes = 0
    private(set) var streamStarts = 0
    private(set) var streamStops = 0
    private(set) var setFormatCalls: [(PixelFormat, Int, Int)] = []
    private(set) var protocolViolations: [String] = []
    private(set) var isOpen = false
    private(set) var isStreaming = false
    private var buffers: [[UInt8]] = []
    private var queued: [Int] = []      // driver-owned, in fill order
    private var done: [DequeuedBuffer] = []
    private var dequeued: Set<Int> = []
    private var nextSequence: UInt32 = 0
    private var pendingChange: (Int, Int)?
    private var failNextDequeue: Int32?

    init(path: String = "/dev/fake0", offered: [PixelFormat] = [.mjpeg, .nv12, .yuyv],
         format: FrameFormat = FrameFormat(pixelFormat: .mjpeg, width: 64, height: 48), steps: [Step] = []) {
        self.path = path
        self.offered = offered
        self.format = format
        self.steps = steps
    }

    func synchronized<T>(_ body: () throws -> T) rethrows -> T { lock.lock(); defer { lock.unlock() }; return try body() }

    var queuedCount: Int { synchronized { queued.count } }

    func open() throws -> DeviceCapabilities {
        try synchronized {
            if missing || failingOpens > 0 {
                if failingOpens > 0 { failingOpens -= 1 }
                throw CaptureError.deviceMissing(path: path, reason: "No such file or directory")
            }
            opens += 1
            isOpen = true
            return DeviceCapabilities(driver: "fake", card: "Fake camera", busInfo: "platform:fake", canCapture: isCapture, canStream: true)
        }
    }

    func supportedFormats() throws -> [PixelFormat] { offered }
    func frameSizes(for format: PixelFormat) throws -> [(width: Int, height: Int)] { [(format == .mjpeg ? 1920 : 640, 480)] }
    func currentFormat() throws -> FrameFormat { synchronized { format } }

    func setFormat(_ pixelFormat: PixelFormat, width: Int, height: Int) throws -> FrameFormat {
        synchronized {
            setFormatCalls.append((pixelFormat, width, height))
            format = FrameFormat(pixelFormat: pixelFormat, width: width, height: height)
            return format
        }
    }

    func startStreaming(bufferCount: Int) throws -> Int {
        synchronized {
            let size = format.minimumBytes ?? 4096
            buffers = Array(repeating: [UInt8](repeating: 0, count: size), count: bufferCount)
            queued = Array(0..<bufferCount)
            done = []
            dequeued = []
            isStreaming = true
            streamStarts += 1
            return bufferCount
        }
    }

    func poll(timeoutMilliseconds: Int) throws -> PollOutcome {
        if pollDelay > 0 { Thread.sleep(forTimeInterval: pollDelay) }
        while completeStepsTogether > 1 {
            completeStepsTogether -= 1
            let step: Step? = synchronized { steps.isEmpty ? nil : steps.removeFirst() }
            if let step { _ = answer(step) }
        }
        let step: Step? = synchronized { steps.isEmpty ? nil : steps.removeFirst() }
        guard let step = step ?? endless?() else { return .timeout }
        return answer(step)
    }

    private func answer(_ step: Step) -> PollOutcome {
        synchronized {
            switch step {
            case .timeout:
                return .timeout
            case .pollError:
                return PollOutcome(failed: true)
            case .unplug:
                missing = true
                return PollOutcome(failed: true)
            case .dequeueError(let code):
                failNextDequeue = code
                return PollOutcome(frameReady: true)
            case .sourceChange(let width, let height):
                pendingChange = (width, height)
                return PollOutcome(eventPending: true)
            case .frames(let count, let skip, let bytesUsed, let errorFlag, let fill):
                nextSequence += UInt32(skip)
                for _ in 0..<count {
                    guard !queued.isEmpty else { protocolViolations.append("frame completed with no queued buffer"); break }
                    let index = queued.removeFirst()
                    let value = fill ?? UInt8(truncatingIfNeeded: nextSequence)
                    buffers[index] = [UInt8](repeating: value, count: buffers[index].count)
                    done.append(DequeuedBuffer(index: index, bytesUsed: bytesUsed ?? buffers[index].count,
                                               timestampNanos: UInt64(Int64(monotonicNanos()) + timestampOffsetNanos), sequence: nextSequence, hasError: errorFlag))
                    nextSequence += 1
                }
                return PollOutcome(frameReady: true)
            }
        }
    }

    func dequeue() throws -> DequeuedBuffer? {
        try synchronized {
            if let code = failNextDequeue {
                failNextDequeue = nil
                throw CaptureError.deviceLost(path: path, reason: "VIDIOC_DQBUF: \(String(cString: strerror(code)))")
            }
            guard !done.isEmpty else { return nil }
            let buffer = done.removeFirst()
            dequeued.insert(buffer.index)
            return buffer
        }
    }

    func copyBuffer(index: Int, count: Int) -> [UInt8] {
        synchronized {
            if !dequeued.contains(index) { protocolViolations.append("read buffer \(index) while the driver owns it") }
            return Array(buffers[index].prefix(count))
        }
    }

    func requeue(index: Int) throws {
        synchronized {
            if dequeued.remove(index) == nil { protocolViolations.append("QBUF of buffer \(index) that was not dequeued") }
            queued.append(index)
        }
    }

    func dequeueSourceChange() throws -> Bool {
        synchronized {
            guard let (width, height) = pendingChange else { return false }
            pendingChange = nil
            format = FrameFormat(pixelFormat: format.pixelFormat, width: width, height: height)
            return true
        }
    }

    func stopStreaming() {
        synchronized {
            if isStreaming { streamStops += 1 }
            isStreaming = false
            buffers = []; queued = []; done = []; dequeued = []
        }
    }

    func close() {
        synchronized {
            if isOpen { closes += 1 }
            isOpen = false
        }
    }

    /// The device comes back (after an `unplug`).
    func replug() { synchronized { missing = false } }
}
