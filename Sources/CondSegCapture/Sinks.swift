// Sinks.swift: the outputs of a live run — PNG overlay snapshots every N segmented frames, PNG masks,
// raw RGB24 video with the overlay on a file descriptor (stdout, for ffplay or a GStreamer fdsrc), and a
// V4L2 output device (e.g. v4l2loopback) so any viewer sees the overlaid stream. Files are written to a
// temporary name in the same folder and renamed, so a stopped run never leaves a half-written PNG.
import CV4L2
import CondSegIO
import CondSegImage
import Foundation

/// PNG snapshots of the overlaid frame every `every` segmented frames (the first one included).
public final class OverlaySnapshotSink: LiveSink {
    public let folder: String
    public let every: Int
    private var seen = 0
    /// Snapshots written so far, and the last one's path.
    public private(set) var writtenCount = 0
    public private(set) var lastWritten: String?

    private var folderMade = false

    /// Checks that `folder` can take files; it is created with the first snapshot, so a run that writes none
    /// leaves no empty folder.
    public init(folder: String, every: Int = 1) throws {
        try AtomicFile.checkFolderUsable(folder)
        self.folder = folder
        self.every = max(1, every)
    }

    public func segmented(_ result: SegmentedResult) throws {
        defer { seen += 1 }
        guard seen % every == 0 else { return }
        let path = (folder as NSString).appendingPathComponent(result.fileStem + ".png")
        if !folderMade { try AtomicFile.makeFolder(folder); folderMade = true }
        try AtomicFile.write(try ImageCodec.encodePNG(result.overlay), to: path)
        writtenCount += 1
        lastWritten = path
    }
}

/// The binary mask (0/255, frame size) of every segmented frame as a grayscale PNG.
public final class MaskFolderSink: LiveSink {
    public let folder: String
    public private(set) var written = 0

    private var folderMade = false

    /// Checks that `folder` can take files; it is created with the first mask.
    public init(folder: String) throws {
        try AtomicFile.checkFolderUsable(folder)
        self.folder = folder
    }

    public func segmented(_ result: SegmentedResult) throws {
        let path = (folder as NSString).appendingPathComponent(result.fileStem + ".png")
        if !folderMade { try AtomicFile.makeFolder(folder); folderMade = true }
        try AtomicFile.write(try ImageCodec.encodePNG(result.mask), to: path)
        written += 1
    }
}

/// Writes every display frame (RGB24, overlay drawn when a current mask exists) to a file descriptor.
/// The consumer must know the size: it is logged at start and must not change (a change is an error).
public final class RawVideoSink: LiveSink {
    public let descriptor: Int32
    public let name: String
    private var size: (width: Int, height: Int)?
    public var wantsDisplayFrames: Bool { true }

    /// - Parameters: descriptor: e.g. 1 for stdout; name: for messages.
    public init(descriptor: Int32 = 1, name: String = "stdout") {
        self.descriptor = descriptor
        self.name = name
    }

    public func display(_ image: Image8, sequence: UInt64, overlaid: Bool) throws {
        if let size, size != (image.width, image.height) {
            throw CaptureError.badSource(path: name, reason: "frame size changed from \(size.width)x\(size.height) to \(image.width)x\(image.height); raw video cannot follow")
        }
        size = (image.width, image.height)
        try image.pixels.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw CaptureError.badSource(path: name, reason: "write failed: \(String(cString: strerror(errno)))")
                }
                offset += written
            }
        }
    }
}

/// Sends display frames to a V4L2 output device (v4l2loopback, or vivid's output node) as RGB24: mmap
/// streaming with 4 buffers when the device supports it (a frame is dropped, never waited for, when the
/// driver still holds every buffer), write() otherwise. The format is set on the first frame and again
/// whenever the size changes.
public final class V4L2OutputSink: LiveSink {
    public let path: String
    private var descriptor: Int32 = -1
    private let canStream: Bool
    private var size: (width: Int, height: Int)?
    private var mappings: [(address: UnsafeMutableRawPointer, length: Int)] = []
    private var freeBuffers: [Int] = []
    private var streaming = false
    /// Frames not sent because the driver held every buffer.
    public private(set) var droppedFrames = 0
    public private(set) var sentFrames = 0
    public var wantsDisplayFrames: Bool { true }

    /// Opens the output device; throws `CaptureError.deviceMissing` / `.unsupported` with the path.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDWR | O_NONBLOCK)
        guard fd >= 0 else { throw CaptureError.deviceMissing(path: path, reason: String(cString: strerror(errno))) }
        var caps = v4l2_capability()
        guard cv4l2_raw_ioctl(fd, CV4L2_VIDIOC_QUERYCAP, &caps) == 0 else {
            Glibc.close(fd)
            throw CaptureError.unsupported(path: path, reason: "not a V4L2 device")
        }
        let deviceCaps = (caps.capabilities & CV4L2_CAP_DEVICE_CAPS) != 0 ? caps.device_caps : caps.capabilities
        guard (deviceCaps & CV4L2_CAP_VIDEO_OUTPUT) != 0,
              (deviceCaps & (CV4L2_CAP_STREAMING | CV4L2_CAP_READWRITE)) != 0 else {
            Glibc.close(fd)
            throw CaptureError.unsupported(path: path, reason: "not a video output device (no VIDEO_OUTPUT with streaming or write)")
        }
        canStream = (deviceCaps & CV4L2_CAP_STREAMING) != 0
        descriptor = fd
    }

    deinit { try? finish() }

    private func fail(_ call: String, _ code: Int32) -> CaptureError {
        .deviceLost(path: path, reason: "\(call): \(String(cString: strerror(code)))")
    }

    private func stopStreaming() {
        guard descriptor >= 0 else { return }
        if streaming {
            var type = Int32(bitPattern: V4L2_BUF_TYPE_VIDEO_OUTPUT.rawValue)
            _ = cv4l2_raw_ioctl(descriptor, CV4L2_VIDIOC_STREAMOFF, &type)
            streaming = false
        }
        for mapping in mappings { munmap(mapping.address, mapping.length) }
        if !mappings.isEmpty {
            mappings.removeAll()
            var request = v4l2_requestbuffers()
            request.type = V4L2_BUF_TYPE_VIDEO_OUTPUT.rawValue
            request.memory = V4L2_MEMORY_MMAP.rawValue
            _ = cv4l2_raw_ioctl(descriptor, CV4L2_VIDIOC_REQBUFS, &request)
        }
        freeBuffers = []
    }

    private func configure(width: Int, height: Int) throws {
        stopStreaming()
        var format = v4l2_format()
        format.type = V4L2_BUF_TYPE_VIDEO_OUTPUT.rawValue
        format.fmt.pix.width = UInt32(width)
        format.fmt.pix.height = UInt32(height)
        format.fmt.pix.pixelformat = CV4L2_PIX_FMT_RGB24
        format.fmt.pix.field = V4L2_FIELD_NONE.rawValue
        format.fmt.pix.bytesperline = UInt32(width * 3)
        format.fmt.pix.sizeimage = UInt32(width * height * 3)
        let status = cv4l2_raw_ioctl(descriptor, CV4L2_VIDIOC_S_FMT, &format)
        guard status == 0 else {
            throw CaptureError.unsupported(path: path, reason: "VIDIOC_S_FMT rgb24 \(width)x\(height): \(String(cString: strerror(Int32(status))))")
        }
        guard format.fmt.pix.width == UInt32(width), format.fmt.pix.height == UInt32(height),
              format.fmt.pix.pixelformat == CV4L2_PIX_FMT_RGB24, format.fmt.pix.bytesperline == UInt32(width * 3) else {
            throw CaptureError.unsupported(path: path, reason: "output device does not accept packed rgb24 \(width)x\(height)")
        }
        size = (width, height)
        guard canStream else { return }
        var request = v4l2_requestbuffers()
        request.count = 4
        request.type = V4L2_BUF_TYPE_VIDEO_OUTPUT.rawValue
        request.memory = V4L2_MEMORY_MMAP.rawValue
        let granted = cv4l2_raw_ioctl(descriptor, CV4L2_VIDIOC_REQBUFS, &request)
        guard granted == 0, request.count >= 1 else { throw fail("VIDIOC_REQBUFS", Int32(granted)) }
        for index in 0..<Int(request.count) {
            var buffer = v4l2_buffer()
            buffer.index = UInt32(index)
            buffer.type = V4L2_BUF_TYPE_VIDEO_OUTPUT.rawValue
            buffer.memory = V4L2_MEMORY_MMAP.rawValue
            let queried = cv4l2_raw_ioctl(descriptor, CV4L2_VIDIOC_QUERYBUF, &buffer)
            guard queried == 0 else { throw fail("VIDIOC_QUERYBUF", Int32(queried)) }
            let address = mmap(nil, Int(buffer.length), PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, off_t(buffer.m.offset))
            guard let address, address != MAP_FAILED else { throw fail("mmap", errno) }
            mappings.append((address, Int(buffer.length)))
        }
        freeBuffers = Array(0..<mappings.count)
    }

    public func display(_ image: Image8, sequence: UInt64, overlaid: Bool) throws {
        if size == nil || size! != (image.width, image.height) { try configure(width: image.width, height: image.height) }
        guard canStream else {
            let written = image.pixels.withUnsafeBytes { write(descriptor, $0.baseAddress!, $0.count) }
            if written < 0 && errno != EAGAIN { throw fail("write", errno) }
            if written < 0 { droppedFrames += 1 } else { sentFrames += 1 }
            return
        }
        // Take back whatever the driver has finished with; never wait for it.
        while true {
            var done = v4l2_buffer()
            done.type = V4L2_BUF_TYPE_VIDEO_OUTPUT.rawValue
            done.memory = V4L2_MEMORY_MMAP.rawValue
            let status = cv4l2_raw_ioctl(descriptor, CV4L2_VIDIOC_DQBUF, &done)
            if status == EAGAIN || status == EINVAL { break }  // EINVAL: not streaming yet
            guard status == 0 else { throw fail("VIDIOC_DQBUF", Int32(status)) }
            freeBuffers.append(Int(done.index))
        }
        guard let index = freeBuffers.first else { droppedFrames += 1; return }
        let mapping = mappings[index]
        let count = min(mapping.length, image.pixels.count)
        image.pixels.withUnsafeBytes { mapping.address.copyMemory(from: $0.baseAddress!, byteCount: count) }
        var buffer = v4l2_buffer()
        buffer.index = UInt32(index)
        buffer.type = V4L2_BUF_TYPE_VIDEO_OUTPUT.rawValue
        buffer.memory = V4L2_MEMORY_MMAP.rawValue
        buffer.bytesused = UInt32(count)
        buffer.field = V4L2_FIELD_NONE.rawValue
        let queued = cv4l2_raw_ioctl(descriptor, CV4L2_VIDIOC_QBUF, &buffer)
        guard queued == 0 else { throw fail("VIDIOC_QBUF", Int32(queued)) }
        freeBuffers.removeFirst()
        if !streaming {
            var type = Int32(bitPattern: V4L2_BUF_TYPE_VIDEO_OUTPUT.rawValue)
            let started = cv4l2_raw_ioctl(descriptor, CV4L2_VIDIOC_STREAMON, &type)
            guard started == 0 else { throw fail("VIDIOC_STREAMON", Int32(started)) }
            streaming = true
        }
        sentFrames += 1
    }

    public func finish() throws {
        stopStreaming()
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
    }
}
