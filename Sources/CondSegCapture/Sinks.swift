// Sinks.swift: the outputs of a live run — PNG overlay snapshots every N segmented frames, PNG masks,
// raw RGB24 video with the overlay on a file descriptor (stdout, for ffplay or a GStreamer fdsrc), and a
// V4L2 output device (e.g. v4l2loopback) so any viewer sees the overlaid stream. Files are written to a
// temporary name in the same folder and renamed, so a stopped run never leaves a half-written PNG.
import CV4L2
import CondSegImage
import Foundation

/// Writes bytes to `path` atomically (temp file in the same folder, then rename).
func writeAtomically(_ bytes: [UInt8], to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let temporary = url.deletingLastPathComponent()
        .appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
    do {
        try Data(bytes).write(to: temporary)
        if rename(temporary.path, url.path) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw CaptureError.badSource(path: path, reason: "cannot rename into place: \(reason)")
        }
    } catch let error as CaptureError {
        throw error
    } catch {
        try? FileManager.default.removeItem(at: temporary)
        throw CaptureError.badSource(path: path, reason: "cannot write: \(error.localizedDescription)")
    }
}

/// Creates a folder (and parents) if needed, with a one-line error naming it.
func ensureFolder(_ folder: String) throws {
    do {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    } catch {
        throw CaptureError.badSource(path: folder, reason: "cannot create output folder: \(error.localizedDescription)")
    }
}

/// PNG snapshots of the overlaid frame every `every` segmented frames (the first one included).
public final class OverlaySnapshotSink: LiveSink {
    public let folder: String
    public let every: Int
    private var seen = 0
    public private(set) var written: [String] = []

    public init(folder: String, every: Int = 1) throws {
        try ensureFolder(folder)
        self.folder = folder
        self.every = max(1, every)
    }

    public func segmented(_ result: SegmentedResult) throws {
        defer { seen += 1 }
        guard seen % every == 0 else { return }
        let path = (folder as NSString).appendingPathComponent(result.fileStem + ".png")
        try writeAtomically(try ImageCodec.encodePNG(result.overlay), to: path)
        written.append(path)
    }
}

/// The binary mask (0/255, frame size) of every segmented frame as a grayscale PNG.
public final class MaskFolderSink: LiveSink {
    public let folder: String
    public private(set) var written = 0

    public init(folder: String) throws {
        try ensureFolder(folder)
        self.folder = folder
    }

    public func segmented(_ result: SegmentedResult) throws {
        let path = (folder as NSString).appendingPathComponent(result.fileStem + ".png")
        try writeAtomically(try ImageCodec.encodePNG(result.mask), to: path)
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

/// Writes display frames to a V4L2 output device (v4l2loopback, or vivid's output node) as RGB24 through
/// write(); the format is set on the first frame and again whenever the size changes.
public final class V4L2OutputSink: LiveSink {
    public let path: String
    private var descriptor: Int32 = -1
    private var size: (width: Int, height: Int)?
    public var wantsDisplayFrames: Bool { true }

    /// Opens the output device; throws `CaptureError.deviceMissing` / `.unsupported` with the path.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDWR)
        guard fd >= 0 else { throw CaptureError.deviceMissing(path: path, reason: String(cString: strerror(errno))) }
        var caps = v4l2_capability()
        guard cv4l2_raw_ioctl(fd, CV4L2_VIDIOC_QUERYCAP, &caps) == 0 else {
            Glibc.close(fd)
            throw CaptureError.unsupported(path: path, reason: "not a V4L2 device")
        }
        let deviceCaps = (caps.capabilities & CV4L2_CAP_DEVICE_CAPS) != 0 ? caps.device_caps : caps.capabilities
        guard (deviceCaps & CV4L2_CAP_VIDEO_OUTPUT) != 0, (deviceCaps & CV4L2_CAP_READWRITE) != 0 else {
            Glibc.close(fd)
            throw CaptureError.unsupported(path: path, reason: "not a video output device with write() support")
        }
        descriptor = fd
    }

    deinit { if descriptor >= 0 { Glibc.close(descriptor) } }

    private func configure(width: Int, height: Int) throws {
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
              format.fmt.pix.pixelformat == CV4L2_PIX_FMT_RGB24 else {
            throw CaptureError.unsupported(path: path, reason: "output device does not accept rgb24 \(width)x\(height)")
        }
        size = (width, height)
    }

    public func display(_ image: Image8, sequence: UInt64, overlaid: Bool) throws {
        if size == nil || size! != (image.width, image.height) { try configure(width: image.width, height: image.height) }
        let written = image.pixels.withUnsafeBytes { write(descriptor, $0.baseAddress!, $0.count) }
        if written < 0 && errno != EAGAIN {
            throw CaptureError.deviceLost(path: path, reason: "write failed: \(String(cString: strerror(errno)))")
        }
    }

    public func finish() throws {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
    }
}
