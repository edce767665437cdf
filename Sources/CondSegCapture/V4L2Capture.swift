// V4L2Capture.swift: capture policy on top of a `VideoDeviceIO`: choose and negotiate the format, stream
// with 4 mmap buffers, poll with a timeout, drain to the newest frame (dequeue until EAGAIN, requeue the
// older buffers), drop partial or error-flagged frames, and renegotiate on a resolution-change event.
// Device faults (POLLERR, EIO/ENODEV from an ioctl) surface as `CaptureError.deviceLost`; reopening is
// the pipeline's job, which calls `stop()` then `start()` again.

/// Anything that yields frames: a V4L2 device, a folder of images, a `.y4m` file, a test double.
public protocol FrameSource: AnyObject {
    /// Device path or file name, for log lines.
    var name: String { get }
    /// True for live devices: the pipeline reopens them after a fault instead of ending the run.
    var isLive: Bool { get }
    /// Opens the source and returns the format frames will arrive in.
    func start() throws -> FrameFormat
    /// Waits up to `timeoutMilliseconds` for the next frame (replay sources also sleep here to keep their pace).
    func next(timeoutMilliseconds: Int) throws -> SourceEvent
    /// Stops streaming and releases the device or file. Safe to call more than once.
    func stop()
}

/// Frames from a V4L2 capture device, always the newest one available.
public final class V4L2Capture: FrameSource {
    public let device: VideoDeviceIO
    /// The format asked for with `--format`, or nil for the best the device offers.
    public let requestedFormat: PixelFormat?
    /// The size asked for with `--size`, or nil to keep the device's current size.
    public let requestedSize: (width: Int, height: Int)?
    /// Buffers requested from the driver (4: one being filled, one being read, two spare).
    public let bufferCount: Int
    /// What QUERYCAP said on the last successful open.
    public private(set) var capabilities: DeviceCapabilities?
    /// The format negotiated on the last start or renegotiation.
    public private(set) var format: FrameFormat?
    private var chosenFormat: PixelFormat?
    private var lastSequence: UInt32?
    /// Reports held back by a drain (an error-flagged older buffer), returned before the next poll.
    private var deferredEvents: [SourceEvent] = []

    public var name: String { device.path }
    public var isLive: Bool { true }

    public init(device: VideoDeviceIO, format: PixelFormat? = nil, size: (width: Int, height: Int)? = nil,
                bufferCount: Int = 4) {
        self.device = device
        self.requestedFormat = format
        self.requestedSize = size
        self.bufferCount = bufferCount
    }

    /// The capture format to use among those the device offers: the requested one, or the first of
    /// `PixelFormat.devicePreference` the device has.
    public static func choose(requested: PixelFormat?, offered: [PixelFormat], path: String) throws -> PixelFormat {
        let offeredNames = offered.map(\.rawValue).joined(separator: ", ")
        if let requested {
            guard offered.contains(requested) else {
                throw CaptureError.unsupported(path: path, reason: "format \(requested.rawValue) not offered (device has: \(offeredNames.isEmpty ? "none usable" : offeredNames))")
            }
            return requested
        }
        guard let best = PixelFormat.devicePreference.first(where: offered.contains) else {
            throw CaptureError.unsupported(path: path, reason: "no usable pixel format (need yuyv, uyvy, nv12, rgb24 or mjpeg)")
        }
        return best
    }

    public func start() throws -> FrameFormat {
        let caps = try device.open()
        capabilities = caps
        guard caps.canCapture else {
            device.close()
            throw CaptureError.unsupported(path: device.path, reason: "not a video capture device (\(caps.driver) \(caps.card))")
        }
        guard caps.canStream else {
            device.close()
            throw CaptureError.unsupported(path: device.path, reason: "device cannot stream (no V4L2_CAP_STREAMING)")
        }
        do {
            let pixelFormat = try V4L2Capture.choose(requested: requestedFormat, offered: try device.supportedFormats(),
                                                     path: device.path)
            chosenFormat = pixelFormat
            let size = try requestedSize ?? { let current = try device.currentFormat(); return (current.width, current.height) }()
            return try negotiateAndStream(pixelFormat, width: size.0, height: size.1)
        } catch {
            device.stopStreaming()
            device.close()
            throw error
        }
    }

    private func negotiateAndStream(_ pixelFormat: PixelFormat, width: Int, height: Int) throws -> FrameFormat {
        let negotiated = try device.setFormat(pixelFormat, width: width, height: height)
        guard negotiated.pixelFormat == pixelFormat else {
            throw CaptureError.unsupported(path: device.path, reason: "driver replaced \(pixelFormat.rawValue) with \(negotiated.pixelFormat.rawValue)")
        }
        _ = try device.startStreaming(bufferCount: bufferCount)
        format = negotiated
        lastSequence = nil
        return negotiated
    }

    public func next(timeoutMilliseconds: Int) throws -> SourceEvent {
        guard let currentFormat = format else {
            throw CaptureError.deviceLost(path: device.path, reason: "not streaming")
        }
        if !deferredEvents.isEmpty { return deferredEvents.removeFirst() }
        let outcome = try device.poll(timeoutMilliseconds: timeoutMilliseconds)
        if outcome.failed && !outcome.frameReady && !outcome.eventPending {
            throw CaptureError.deviceLost(path: device.path, reason: "poll reported an error (POLLERR/POLLHUP)")
        }
        if outcome.eventPending, try device.dequeueSourceChange() {
            // Resolution change: the old buffers have the wrong size. Restart at the size the driver now reports.
            device.stopStreaming()
            let detected = try device.currentFormat()
            let renegotiated = try negotiateAndStream(chosenFormat ?? currentFormat.pixelFormat,
                                                      width: detected.width, height: detected.height)
            return .formatChanged(renegotiated)
        }
        guard outcome.frameReady else {
            if outcome.failed {
                throw CaptureError.deviceLost(path: device.path, reason: "poll reported an error (POLLERR/POLLHUP)")
            }
            return .timeout
        }
        // Drain: take every completed buffer, keep the newest, give the rest straight back.
        var ready: [DequeuedBuffer] = []
        while ready.count <= bufferCount, let buffer = try device.dequeue() { ready.append(buffer) }
        guard let newest = ready.last else { return .timeout }
        var flaggedOlder = 0
        for older in ready.dropLast() {
            try device.requeue(index: older.index)
            if older.hasError {
                flaggedOlder += 1
                deferredEvents.append(.corrupt(reason: "driver flagged buffer \(older.sequence) as erroneous (V4L2_BUF_FLAG_ERROR)"))
            }
        }
        var skipped = ready.count - 1
        if let previous = lastSequence, newest.sequence > previous {
            skipped = max(skipped, Int(newest.sequence - previous) - 1)
        }
        lastSequence = newest.sequence
        skipped = max(0, skipped - flaggedOlder)  // reported as corrupt instead
        if newest.hasError {
            try device.requeue(index: newest.index)
            return .corrupt(reason: "driver flagged buffer \(newest.sequence) as erroneous (V4L2_BUF_FLAG_ERROR)")
        }
        let needed = currentFormat.minimumBytes ?? 1
        if newest.bytesUsed < needed {
            try device.requeue(index: newest.index)
            return .corrupt(reason: "partial frame \(newest.sequence): \(newest.bytesUsed) of \(needed) bytes")
        }
        let bytes = device.copyBuffer(index: newest.index, count: newest.bytesUsed)
        try device.requeue(index: newest.index)
        let frame = Frame(format: currentFormat, bytes: bytes, captureTimeNanos: captureTime(of: newest),
                          sequence: UInt64(newest.sequence))
        return .frame(frame, droppedBefore: skipped)
    }

    /// Largest plausible age of a frame when it is dequeued; beyond it (or in the future) the driver's
    /// timestamp is not on this CLOCK_MONOTONIC (vivid, for one, offsets its clock) and is not used.
    public static let plausibleTimestampAgeNanos: UInt64 = 2_000_000_000

    /// True once a buffer timestamp was found implausible: capture times are then taken at dequeue.
    public private(set) var usesDequeueTime = false

    private func captureTime(of buffer: DequeuedBuffer) -> UInt64 {
        let now = monotonicNanos()
        guard !usesDequeueTime, let stamp = buffer.timestampNanos, stamp <= now,
              now - stamp <= V4L2Capture.plausibleTimestampAgeNanos else {
            usesDequeueTime = true
            return now
        }
        return stamp
    }

    public func stop() {
        device.stopStreaming()
        device.close()
        format = nil
        deferredEvents.removeAll()
    }
}
