// SimulatedVideoDevice.swift: a scripted or randomly faulting stand-in for a V4L2 device behind `VideoDeviceIO`,
// so the capture policy (format choice, drain-to-newest, requeueing, partial/erroneous buffers, resolution
// changes, EIO, POLLERR, unplug and replug) is exercised without hardware: by the tests with a script of steps,
// and by `condseg live --device simulated:WxH` (long soak runs, with `--simulate-faults N`) with a seeded fault
// schedule. It checks the buffer protocol as a driver would: a buffer may be dequeued only after it was queued,
// and requeued only after it was dequeued; violations are counted, never fatal.
import CondSegIO
import Foundation
import Glibc

/// A V4L2 device simulated in memory (see the file comment).
public final class SimulatedVideoDevice: VideoDeviceIO, @unchecked Sendable {
    /// What the next poll sees.
    public enum Step {
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

    /// The faults the device has answered with so far, by kind: what the pipeline's counters must account for.
    public struct InjectedFaults: Sendable, Equatable {
        /// Polls that saw nothing.
        public var timeouts = 0
        /// Frames with fewer bytes used than their buffer holds.
        public var partialFrames = 0
        /// Frames with the error flag.
        public var flaggedFrames = 0
        /// Polls that reported POLLERR.
        public var pollErrors = 0
        /// DQBUFs that failed.
        public var dequeueErrors = 0
        /// Source-change events (a new resolution).
        public var resolutionChanges = 0
        /// Times the device node disappeared.
        public var unplugs = 0
        /// Opens refused while the device was away.
        public var failedOpens = 0
        public init() {}

        /// Faults that end the stream and make the pipeline reopen the device.
        public var deviceFaults: Int { pollErrors + dequeueErrors + unplugs }
        /// Frames the capture must drop as corrupt.
        public var corruptFrames: Int { partialFrames + flaggedFrames }
    }

    public let path: String
    private let lock = NSLock()
    public var offered: [PixelFormat]
    public var format: FrameFormat
    public var steps: [Step]
    /// Used when `steps` runs out; nil means a timeout.
    public var endless: (() -> Step)?
    /// Added to every buffer timestamp (to mimic a driver clock that is not CLOCK_MONOTONIC).
    public var timestampOffsetNanos: Int64 = 0
    /// The first poll completes this many `.frames` steps at once (buffers pile up before the reader wakes).
    public var completeStepsTogether = 1
    /// Seconds every poll waits before answering (a camera's frame period).
    public var pollDelay = 0.0
    public var isCapture = true
    public var missing = false
    /// Opens that must fail (device still away) before the device comes back.
    public var failingOpens = 0
    /// When set, an `unplug` step makes this many opens fail and the device then comes back by itself
    /// (otherwise it stays away until `replug()`).
    public var replugAfterFailedOpens: Int?

    public private(set) var opens = 0
    public private(set) var closes = 0
    public private(set) var streamStarts = 0
    public private(set) var streamStops = 0
    /// The last 100 S_FMT requests, oldest first.
    public private(set) var setFormatCalls: [(PixelFormat, Int, Int)] = []
    /// The first violations of the buffer protocol (at most 100 are kept; `protocolViolationCount` counts all).
    public private(set) var protocolViolations: [String] = []
    public private(set) var protocolViolationCount = 0
    public private(set) var isOpen = false
    public private(set) var isStreaming = false
    /// Frames completed (including partial and flagged ones).
    public private(set) var framesCompleted = 0
    private var injected = InjectedFaults()
    /// The faults injected so far (read under the device's lock: the soak reads it while the capture runs).
    public var injectedFaults: InjectedFaults { synchronized { injected } }
    private var buffers: [[UInt8]] = []
    private var queued: [Int] = []      // driver-owned, in fill order
    private var done: [DequeuedBuffer] = []
    private var dequeued: Set<Int> = []
    private var nextSequence: UInt32 = 0
    private var pendingChange: (Int, Int)?
    private var failNextDequeue: Int32?

    public init(path: String = "/dev/fake0", offered: [PixelFormat] = [.mjpeg, .nv12, .yuyv],
         format: FrameFormat = FrameFormat(pixelFormat: .mjpeg, width: 64, height: 48), steps: [Step] = []) {
        self.path = path
        self.offered = offered
        self.format = format
        self.steps = steps
    }

    private func violation(_ text: String) {
        protocolViolationCount += 1
        if protocolViolations.count < 100 { protocolViolations.append(text) }
    }

    public func synchronized<T>(_ body: () throws -> T) rethrows -> T { lock.lock(); defer { lock.unlock() }; return try body() }

    public var queuedCount: Int { synchronized { queued.count } }

    public func open() throws -> DeviceCapabilities {
        try synchronized {
            if missing || failingOpens > 0 {
                if failingOpens > 0 { failingOpens -= 1 }
                injected.failedOpens += 1
                throw CaptureError.deviceMissing(path: path, reason: "No such file or directory")
            }
            opens += 1
            isOpen = true
            return DeviceCapabilities(driver: "fake", card: "Fake camera", busInfo: "platform:fake", canCapture: isCapture, canStream: true)
        }
    }

    public func supportedFormats() throws -> [PixelFormat] { offered }
    public func frameSizes(for format: PixelFormat) throws -> [(width: Int, height: Int)] { [(format == .mjpeg ? 1920 : 640, 480)] }
    public func currentFormat() throws -> FrameFormat { synchronized { format } }

    public func setFormat(_ pixelFormat: PixelFormat, width: Int, height: Int) throws -> FrameFormat {
        synchronized {
            // Only the latest are kept: a soak renegotiates a hundred times a second, and an unbounded record of
            // it was the one thing growing in a 100,000-frame run.
            if setFormatCalls.count == 100 { setFormatCalls.removeFirst() }
            setFormatCalls.append((pixelFormat, width, height))
            format = FrameFormat(pixelFormat: pixelFormat, width: width, height: height)
            return format
        }
    }

    public func startStreaming(bufferCount: Int) throws -> Int {
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

    public func poll(timeoutMilliseconds: Int) throws -> PollOutcome {
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
                injected.timeouts += 1
                return .timeout
            case .pollError:
                injected.pollErrors += 1
                return PollOutcome(failed: true)
            case .unplug:
                injected.unplugs += 1
                if let opens = replugAfterFailedOpens { failingOpens = opens } else { missing = true }
                return PollOutcome(failed: true)
            case .dequeueError(let code):
                injected.dequeueErrors += 1
                failNextDequeue = code
                return PollOutcome(frameReady: true)
            case .sourceChange(let width, let height):
                injected.resolutionChanges += 1
                pendingChange = (width, height)
                return PollOutcome(eventPending: true)
            case .frames(let count, let skip, let bytesUsed, let errorFlag, let fill):
                nextSequence += UInt32(skip)
                for _ in 0..<count {
                    guard !queued.isEmpty else { violation("frame completed with no queued buffer"); break }
                    let index = queued.removeFirst()
                    let value = fill ?? UInt8(truncatingIfNeeded: nextSequence)
                    // Filled in place, as a driver writes into its mapped buffer (no new allocation per frame).
                    buffers[index].withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: value) }
                    let used = bytesUsed ?? buffers[index].count
                    done.append(DequeuedBuffer(index: index, bytesUsed: used,
                                               timestampNanos: UInt64(Int64(monotonicNanos()) + timestampOffsetNanos), sequence: nextSequence, hasError: errorFlag))
                    nextSequence += 1
                    framesCompleted += 1
                    if used < buffers[index].count { injected.partialFrames += 1 }
                    if errorFlag { injected.flaggedFrames += 1 }
                }
                return PollOutcome(frameReady: true)
            }
        }
    }

    public func dequeue() throws -> DequeuedBuffer? {
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

    public func copyBuffer(index: Int, count: Int) -> [UInt8] {
        synchronized {
            if !dequeued.contains(index) { violation("read buffer \(index) while the driver owns it") }
            return Array(buffers[index].prefix(count))
        }
    }

    public func requeue(index: Int) throws {
        synchronized {
            if dequeued.remove(index) == nil { violation("QBUF of buffer \(index) that was not dequeued") }
            queued.append(index)
        }
    }

    public func dequeueSourceChange() throws -> Bool {
        synchronized {
            guard let (width, height) = pendingChange else { return false }
            pendingChange = nil
            format = FrameFormat(pixelFormat: format.pixelFormat, width: width, height: height)
            return true
        }
    }

    public func stopStreaming() {
        synchronized {
            if isStreaming { streamStops += 1 }
            isStreaming = false
            buffers = []; queued = []; done = []; dequeued = []
        }
    }

    public func close() {
        synchronized {
            if isOpen { closes += 1 }
            isOpen = false
        }
    }

    /// What the device injected and saw, as a JSON-ready dictionary: `injected` (each fault kind), frames
    /// completed, opens, stream starts and buffer-protocol violations.
    public var report: [String: Any] {
        synchronized {
            ["injected": ["timeouts": injected.timeouts, "partial_frames": injected.partialFrames,
                          "flagged_frames": injected.flaggedFrames, "poll_errors": injected.pollErrors,
                          "dequeue_errors": injected.dequeueErrors, "resolution_changes": injected.resolutionChanges,
                          "unplugs": injected.unplugs, "failed_opens": injected.failedOpens],
             "frames_completed": framesCompleted, "opens": opens, "stream_starts": streamStarts,
             "protocol_violations": protocolViolationCount]
        }
    }

    /// The device comes back (after an `unplug`).
    public func replug() { synchronized { missing = false } }

    /// A device for long unattended runs: YUYV frames of `width`×`height` as fast as they are read and, when
    /// `faultEvery` > 0, on average one fault every `faultEvery` polls, drawn from a seeded generator among every
    /// kind the capture must survive: a poll timeout, a partial buffer, a buffer with the error flag, POLLERR,
    /// a failed DQBUF (EIO), a resolution change (to half size and back), and an unplug after which two opens
    /// fail before the device returns. Polls sometimes complete two frames at once, so frames are dropped too.
    public static func soak(width: Int, height: Int, faultEvery: Int, seed: UInt64) -> SimulatedVideoDevice {
        let device = SimulatedVideoDevice(path: "simulated:\(width)x\(height)", offered: [.yuyv],
                                          format: FrameFormat(pixelFormat: .yuyv, width: width, height: height))
        device.replugAfterFailedOpens = 2
        var generator = SplitMix64(seed: seed)
        func next() -> UInt64 { generator.next() }
        var halfSize = false
        device.endless = {
            if faultEvery > 0 && next() % UInt64(faultEvery) == 0 {
                switch next() % 7 {
                case 0: return .timeout
                case 1: return .frames(count: 1, bytesUsed: width)
                case 2: return .frames(count: 1, errorFlag: true)
                case 3: return .pollError
                case 4: return .dequeueError(EIO)
                case 5:
                    halfSize.toggle()
                    return halfSize ? .sourceChange(width: max(2, width / 2 & ~1), height: max(1, height / 2))
                                    : .sourceChange(width: width, height: height)
                default: return .unplug
                }
            }
            return .frames(count: next() % 8 == 0 ? 2 : 1)
        }
        return device
    }
}
