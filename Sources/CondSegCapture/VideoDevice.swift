// VideoDevice.swift: the small protocol between the capture logic and a V4L2 device, and its real
// implementation on libv4l2 (open, QUERYCAP, ENUM_FMT/ENUM_FRAMESIZES, G/S_FMT, REQBUFS + mmap, QBUF/DQBUF,
// STREAMON/OFF, poll, source-change events, controls). `V4L2Capture` holds the policy (format choice,
// drain-to-newest, renegotiation); tests drive it with a fake device that implements the same protocol.
import CV4L2
import Glibc

/// What QUERYCAP reported.
public struct DeviceCapabilities: Sendable {
    public var driver: String
    public var card: String
    public var busInfo: String
    public var canCapture: Bool
    public var canStream: Bool
    public init(driver: String, card: String, busInfo: String, canCapture: Bool, canStream: Bool) {
        self.driver = driver; self.card = card; self.busInfo = busInfo
        self.canCapture = canCapture; self.canStream = canStream
    }
}

/// One dequeued capture buffer.
public struct DequeuedBuffer: Sendable {
    public var index: Int
    public var bytesUsed: Int
    /// The buffer's capture timestamp on CLOCK_MONOTONIC in nanoseconds, or nil if the driver's clock is another.
    public var timestampNanos: UInt64?
    public var sequence: UInt32
    /// V4L2_BUF_FLAG_ERROR: the driver says the data may be corrupt.
    public var hasError: Bool
    public init(index: Int, bytesUsed: Int, timestampNanos: UInt64?, sequence: UInt32, hasError: Bool) {
        self.index = index; self.bytesUsed = bytesUsed; self.timestampNanos = timestampNanos
        self.sequence = sequence; self.hasError = hasError
    }
}

/// What `poll` saw on the device.
public struct PollOutcome: Sendable, Equatable {
    public var frameReady: Bool
    public var eventPending: Bool
    /// POLLERR/POLLHUP/POLLNVAL: the device is gone or broken.
    public var failed: Bool
    public init(frameReady: Bool = false, eventPending: Bool = false, failed: Bool = false) {
        self.frameReady = frameReady; self.eventPending = eventPending; self.failed = failed
    }
    public static let timeout = PollOutcome()
}

/// The device operations `V4L2Capture` needs. Every throwing call throws `CaptureError`.
public protocol VideoDeviceIO: AnyObject {
    /// The device path, for messages.
    var path: String { get }
    /// Opens the device (non-blocking) and queries its capabilities.
    func open() throws -> DeviceCapabilities
    /// Pixel formats the device delivers natively (not libv4l2 emulations), in the driver's order.
    func supportedFormats() throws -> [PixelFormat]
    /// Discrete frame sizes for a format (empty when the driver reports stepwise/continuous ranges).
    func frameSizes(for format: PixelFormat) throws -> [(width: Int, height: Int)]
    /// The currently configured format (G_FMT).
    func currentFormat() throws -> FrameFormat
    /// Requests a format (S_FMT); returns what the driver actually set.
    func setFormat(_ format: PixelFormat, width: Int, height: Int) throws -> FrameFormat
    /// REQBUFS with `bufferCount` mmap buffers, maps and queues them all, subscribes to source-change
    /// events and starts streaming. Returns the number of buffers the driver granted.
    func startStreaming(bufferCount: Int) throws -> Int
    /// Waits up to `timeoutMilliseconds` for a frame or an event.
    func poll(timeoutMilliseconds: Int) throws -> PollOutcome
    /// DQBUF; nil when no buffer is ready (EAGAIN).
    func dequeue() throws -> DequeuedBuffer?
    /// Copies the first `count` bytes of mapped buffer `index`.
    func copyBuffer(index: Int, count: Int) -> [UInt8]
    /// QBUF: hands buffer `index` back to the driver.
    func requeue(index: Int) throws
    /// DQEVENT; true when a pending event was a resolution change.
    func dequeueSourceChange() throws -> Bool
    /// STREAMOFF, unmap, REQBUFS 0. Never throws: used on the way out of faults too.
    func stopStreaming()
    /// Closes the device.
    func close()
}

/// A V4L2 capture device through libv4l2 with mmap streaming.
public final class LibV4L2Device: VideoDeviceIO {
    public let path: String
    private var descriptor: Int32 = -1
    private var mappings: [(address: UnsafeMutableRawPointer, length: Int)] = []
    private var streaming = false

    /// A device at `path` (e.g. /dev/video0); nothing is opened until `open()`.
    public init(path: String) { self.path = path }

    deinit { stopStreaming(); close() }

    private func fail(_ call: String, _ code: Int32) -> CaptureError {
        let lost: Set<Int32> = [EIO, ENODEV, ENXIO, EPIPE, EBADF]
        let reason = "\(call): \(errnoDescription(code))"
        return lost.contains(code) ? .deviceLost(path: path, reason: reason) : .unsupported(path: path, reason: reason)
    }

    public func open() throws -> DeviceCapabilities {
        close()
        // Plain open + QUERYCAP first, so a missing node and a non-V4L2 file get distinct messages (libv4l2's
        // own open prints to stderr), then hand the descriptor to libv4l2 for its format helpers.
        let fd = Glibc.open(path, O_RDWR | O_NONBLOCK)
        guard fd >= 0 else { throw CaptureError.deviceMissing(path: path, reason: errnoDescription(cv4l2_errno())) }
        var caps = v4l2_capability()
        let status = cv4l2_raw_ioctl(fd, CV4L2_VIDIOC_QUERYCAP, &caps)
        guard status == 0 else {
            Glibc.close(fd)
            throw CaptureError.unsupported(path: path, reason: "not a V4L2 device (QUERYCAP: \(errnoDescription(Int32(status))))")
        }
        guard v4l2_fd_open(fd, 0) == fd else {
            let code = cv4l2_errno()
            Glibc.close(fd)
            throw CaptureError.unsupported(path: path, reason: "libv4l2 refused the device: \(errnoDescription(code))")
        }
        descriptor = fd
        let deviceCaps = (caps.capabilities & CV4L2_CAP_DEVICE_CAPS) != 0 ? caps.device_caps : caps.capabilities
        func text<T>(_ tuple: T) -> String {
            withUnsafeBytes(of: tuple) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
        return DeviceCapabilities(driver: text(caps.driver), card: text(caps.card), busInfo: text(caps.bus_info),
                                  canCapture: (deviceCaps & CV4L2_CAP_VIDEO_CAPTURE) != 0,
                                  canStream: (deviceCaps & CV4L2_CAP_STREAMING) != 0)
    }

    public func supportedFormats() throws -> [PixelFormat] {
        var found: [PixelFormat] = []
        var index: UInt32 = 0
        while true {
            var description = v4l2_fmtdesc()
            description.index = index
            description.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
            let status = cv4l2_xioctl(descriptor, CV4L2_VIDIOC_ENUM_FMT, &description)
            if status == EINVAL { break }
            guard status == 0 else { throw fail("VIDIOC_ENUM_FMT", Int32(status)) }
            if (description.flags & CV4L2_FMT_FLAG_EMULATED) == 0, let format = PixelFormat(fourcc: description.pixelformat),
               !found.contains(format) {
                found.append(format)
            }
            index += 1
        }
        return found
    }

    public func frameSizes(for format: PixelFormat) throws -> [(width: Int, height: Int)] {
        guard let fourcc = format.fourcc else { return [] }
        var sizes: [(width: Int, height: Int)] = []
        var index: UInt32 = 0
        while true {
            var size = v4l2_frmsizeenum()
            size.index = index
            size.pixel_format = fourcc
            let status = cv4l2_xioctl(descriptor, CV4L2_VIDIOC_ENUM_FRAMESIZES, &size)
            if status == EINVAL { break }
            guard status == 0 else { throw fail("VIDIOC_ENUM_FRAMESIZES", Int32(status)) }
            guard size.type == V4L2_FRMSIZE_TYPE_DISCRETE.rawValue else { break }
            sizes.append((Int(size.discrete.width), Int(size.discrete.height)))
            index += 1
        }
        return sizes
    }

    private func frameFormat(from format: v4l2_format) throws -> FrameFormat {
        let pix = format.fmt.pix
        guard let pixelFormat = PixelFormat(fourcc: pix.pixelformat) else {
            throw CaptureError.unsupported(path: path, reason: "unsupported pixel format fourcc 0x\(String(pix.pixelformat, radix: 16))")
        }
        let encoding = YCbCrEncoding(
            bt709: pix.ycbcr_enc == CV4L2_YCBCR_ENC_709
                || (pix.ycbcr_enc == 0 && pix.colorspace == CV4L2_COLORSPACE_REC709),
            fullRange: pix.quantization == CV4L2_QUANTIZATION_FULL_RANGE)
        let stride = Int(pix.bytesperline) > 0 ? Int(pix.bytesperline) : pixelFormat.naturalBytesPerLine(width: Int(pix.width))
        return FrameFormat(pixelFormat: pixelFormat, width: Int(pix.width), height: Int(pix.height),
                           bytesPerLine: stride, encoding: encoding)
    }

    public func currentFormat() throws -> FrameFormat {
        var format = v4l2_format()
        format.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        let status = cv4l2_xioctl(descriptor, CV4L2_VIDIOC_G_FMT, &format)
        guard status == 0 else { throw fail("VIDIOC_G_FMT", Int32(status)) }
        return try frameFormat(from: format)
    }

    public func setFormat(_ pixelFormat: PixelFormat, width: Int, height: Int) throws -> FrameFormat {
        guard let fourcc = pixelFormat.fourcc else {
            throw CaptureError.unsupported(path: path, reason: "format \(pixelFormat.rawValue) is not a device format")
        }
        var format = v4l2_format()
        format.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        format.fmt.pix.width = UInt32(width)
        format.fmt.pix.height = UInt32(height)
        format.fmt.pix.pixelformat = fourcc
        format.fmt.pix.field = V4L2_FIELD_NONE.rawValue
        let status = cv4l2_xioctl(descriptor, CV4L2_VIDIOC_S_FMT, &format)
        guard status == 0 else { throw fail("VIDIOC_S_FMT \(pixelFormat.rawValue) \(width)x\(height)", Int32(status)) }
        return try frameFormat(from: format)
    }

    public func startStreaming(bufferCount: Int) throws -> Int {
        var request = v4l2_requestbuffers()
        request.count = UInt32(bufferCount)
        request.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        request.memory = V4L2_MEMORY_MMAP.rawValue
        var status = cv4l2_xioctl(descriptor, CV4L2_VIDIOC_REQBUFS, &request)
        guard status == 0 else { throw fail("VIDIOC_REQBUFS", Int32(status)) }
        guard request.count >= 2 else {
            throw CaptureError.unsupported(path: path, reason: "driver granted only \(request.count) buffers")
        }
        for index in 0..<Int(request.count) {
            var buffer = v4l2_buffer()
            buffer.index = UInt32(index)
            buffer.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
            buffer.memory = V4L2_MEMORY_MMAP.rawValue
            status = cv4l2_xioctl(descriptor, CV4L2_VIDIOC_QUERYBUF, &buffer)
            guard status == 0 else { stopStreaming(); throw fail("VIDIOC_QUERYBUF", Int32(status)) }
            let address = v4l2_mmap(nil, Int(buffer.length), PROT_READ | PROT_WRITE, MAP_SHARED, descriptor,
                                    Int64(buffer.m.offset))
            guard let address, address != MAP_FAILED else {
                let code = cv4l2_errno()
                stopStreaming()
                throw fail("mmap", code)
            }
            mappings.append((address, Int(buffer.length)))
        }
        for index in 0..<mappings.count { try requeue(index: index) }
        var subscription = v4l2_event_subscription()
        subscription.type = CV4L2_EVENT_SOURCE_CHANGE
        _ = cv4l2_xioctl(descriptor, CV4L2_VIDIOC_SUBSCRIBE_EVENT, &subscription)  // optional: not all drivers have it
        var type = Int32(bitPattern: V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue)
        status = cv4l2_xioctl(descriptor, CV4L2_VIDIOC_STREAMON, &type)
        guard status == 0 else { stopStreaming(); throw fail("VIDIOC_STREAMON", Int32(status)) }
        streaming = true
        return mappings.count
    }

    public func poll(timeoutMilliseconds: Int) throws -> PollOutcome {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN | POLLPRI), revents: 0)
        let status = Glibc.poll(&entry, 1, Int32(timeoutMilliseconds))
        if status < 0 {
            let code = cv4l2_errno()
            if code == EINTR { return .timeout }
            throw fail("poll", code)
        }
        if status == 0 { return .timeout }
        let events = Int32(entry.revents)
        return PollOutcome(frameReady: (events & Int32(POLLIN)) != 0, eventPending: (events & Int32(POLLPRI)) != 0,
                           failed: (events & Int32(POLLERR | POLLHUP | POLLNVAL)) != 0)
    }

    public func dequeue() throws -> DequeuedBuffer? {
        var buffer = v4l2_buffer()
        buffer.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        buffer.memory = V4L2_MEMORY_MMAP.rawValue
        // Straight to the kernel: only native formats are negotiated, so libv4l2 has nothing to convert,
        // and its wrapper prints a line on stderr for every EAGAIN of a non-blocking drain.
        let status = cv4l2_raw_ioctl(descriptor, CV4L2_VIDIOC_DQBUF, &buffer)
        if status == EAGAIN { return nil }
        guard status == 0 else {
            // EIO from DQBUF is a fault: the buffer (if any) is requeued by the reopen path.
            throw CaptureError.deviceLost(path: path, reason: "VIDIOC_DQBUF: \(errnoDescription(Int32(status)))")
        }
        let monotonic = (buffer.flags & CV4L2_BUF_FLAG_TIMESTAMP_MASK) == CV4L2_BUF_FLAG_TIMESTAMP_MONOTONIC
        let stamp = UInt64(buffer.timestamp.tv_sec) * 1_000_000_000 + UInt64(buffer.timestamp.tv_usec) * 1000
        return DequeuedBuffer(index: Int(buffer.index), bytesUsed: Int(buffer.bytesused),
                              timestampNanos: monotonic && stamp > 0 ? stamp : nil,
                              sequence: buffer.sequence, hasError: (buffer.flags & CV4L2_BUF_FLAG_ERROR) != 0)
    }

    public func copyBuffer(index: Int, count: Int) -> [UInt8] {
        let mapping = mappings[index]
        let length = min(count, mapping.length)
        return [UInt8](UnsafeRawBufferPointer(start: mapping.address, count: length))
    }

    public func requeue(index: Int) throws {
        var buffer = v4l2_buffer()
        buffer.index = UInt32(index)
        buffer.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        buffer.memory = V4L2_MEMORY_MMAP.rawValue
        let status = cv4l2_raw_ioctl(descriptor, CV4L2_VIDIOC_QBUF, &buffer)
        guard status == 0 else { throw fail("VIDIOC_QBUF", Int32(status)) }
    }

    public func dequeueSourceChange() throws -> Bool {
        var event = v4l2_event()
        let status = cv4l2_xioctl(descriptor, CV4L2_VIDIOC_DQEVENT, &event)
        if status == ENOENT || status == EAGAIN { return false }
        guard status == 0 else { throw fail("VIDIOC_DQEVENT", Int32(status)) }
        return event.type == CV4L2_EVENT_SOURCE_CHANGE && (event.u.src_change.changes & CV4L2_EVENT_SRC_CH_RESOLUTION) != 0
    }

    public func stopStreaming() {
        guard descriptor >= 0 else { mappings.removeAll(); return }
        if streaming {
            var type = Int32(bitPattern: V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue)
            _ = cv4l2_xioctl(descriptor, CV4L2_VIDIOC_STREAMOFF, &type)
            streaming = false
        }
        for mapping in mappings { _ = v4l2_munmap(mapping.address, mapping.length) }
        if !mappings.isEmpty {
            mappings.removeAll()
            var request = v4l2_requestbuffers()
            request.count = 0
            request.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
            request.memory = V4L2_MEMORY_MMAP.rawValue
            _ = cv4l2_xioctl(descriptor, CV4L2_VIDIOC_REQBUFS, &request)
        }
    }

    public func close() {
        guard descriptor >= 0 else { return }
        stopStreaming()
        _ = v4l2_close(descriptor)
        descriptor = -1
    }

    /// A control (by its exact name as QUERYCTRL reports it, case-insensitive) set to `value`; for button
    /// controls the value is ignored and the button is pressed. The device must be open.
    public func setControl(named name: String, value: Int32) throws {
        let controls = try listControls()
        guard let control = controls.first(where: { $0.name.lowercased() == name.lowercased() }) else {
            throw CaptureError.unsupported(path: path, reason: "no control named \"\(name)\" (try --list-controls)")
        }
        var setting = v4l2_control(id: control.id, value: value)
        let status = cv4l2_xioctl(descriptor, CV4L2_VIDIOC_S_CTRL, &setting)
        guard status == 0 else { throw fail("VIDIOC_S_CTRL \(control.name)", Int32(status)) }
    }

    /// Every enabled control's id, name and current value (nil for buttons and controls that cannot be read).
    public func listControls() throws -> [(id: UInt32, name: String, value: Int32?)] {
        var controls: [(id: UInt32, name: String, value: Int32?)] = []
        var query = v4l2_queryctrl()
        query.id = CV4L2_CTRL_FLAG_NEXT_CTRL
        while cv4l2_xioctl(descriptor, CV4L2_VIDIOC_QUERYCTRL, &query) == 0 {
            if (query.flags & CV4L2_CTRL_FLAG_DISABLED) == 0 && query.type != V4L2_CTRL_TYPE_CTRL_CLASS.rawValue {
                let name = withUnsafeBytes(of: query.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                var current = v4l2_control(id: query.id, value: 0)
                let readable = query.type != V4L2_CTRL_TYPE_BUTTON.rawValue
                    && cv4l2_xioctl(descriptor, CV4L2_VIDIOC_G_CTRL, &current) == 0
                controls.append((query.id, name, readable ? current.value : nil))
            }
            query.id |= CV4L2_CTRL_FLAG_NEXT_CTRL
        }
        return controls
    }
}
