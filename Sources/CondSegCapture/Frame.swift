// Frame.swift: the values that travel through the live pipeline — pixel formats, a negotiated frame
// format, one captured frame with its capture timestamp, and the errors a frame source can raise.
import CV4L2
import Glibc

/// Pixel layouts a frame can arrive in, from a V4L2 device or a replay source.
///
/// `yuv420p`, `yuv422p` and `yuv444p` are planar layouts that only the `.y4m` replay source produces.
public enum PixelFormat: String, Sendable, CaseIterable {
    case yuyv, uyvy, nv12, rgb24, mjpeg
    case yuv420p, yuv422p, yuv444p, gray

    /// The V4L2 fourcc for formats a capture device can deliver; nil for replay-only layouts.
    public var fourcc: UInt32? {
        switch self {
        case .yuyv: return CV4L2_PIX_FMT_YUYV
        case .uyvy: return CV4L2_PIX_FMT_UYVY
        case .nv12: return CV4L2_PIX_FMT_NV12
        case .rgb24: return CV4L2_PIX_FMT_RGB24
        case .mjpeg: return CV4L2_PIX_FMT_MJPEG
        default: return nil
        }
    }

    /// The format for a V4L2 fourcc (JPEG is treated as MJPEG), or nil when unsupported.
    public init?(fourcc: UInt32) {
        switch fourcc {
        case CV4L2_PIX_FMT_YUYV: self = .yuyv
        case CV4L2_PIX_FMT_UYVY: self = .uyvy
        case CV4L2_PIX_FMT_NV12: self = .nv12
        case CV4L2_PIX_FMT_RGB24: self = .rgb24
        case CV4L2_PIX_FMT_MJPEG, CV4L2_PIX_FMT_JPEG: self = .mjpeg
        default: return nil
        }
    }

    /// Formats a capture device may be asked for, best first when the user does not choose:
    /// packed 4:2:2 needs the least work per pixel, MJPEG needs a full decode.
    public static let devicePreference: [PixelFormat] = [.yuyv, .uyvy, .nv12, .rgb24, .mjpeg]

    /// Bytes an uncompressed frame needs with the given row stride (nil for MJPEG, whose size varies).
    public func minimumBytes(width: Int, height: Int, bytesPerLine: Int) -> Int? {
        switch self {
        case .yuyv, .uyvy, .rgb24, .gray: return bytesPerLine * height
        case .nv12: return bytesPerLine * height + bytesPerLine * ((height + 1) / 2)
        case .yuv420p: return width * height + 2 * ((width + 1) / 2) * ((height + 1) / 2)
        case .yuv422p: return width * height + 2 * ((width + 1) / 2) * height
        case .yuv444p: return 3 * width * height
        case .mjpeg: return nil
        }
    }

    /// Natural row stride in bytes of the first plane for a width.
    public func naturalBytesPerLine(width: Int) -> Int {
        switch self {
        case .yuyv, .uyvy: return 2 * width
        case .rgb24: return 3 * width
        case .nv12, .yuv420p, .yuv422p, .yuv444p, .gray: return width
        case .mjpeg: return 0
        }
    }
}

/// Which Y'CbCr → R'G'B' matrix and range a YUV frame uses.
public struct YCbCrEncoding: Sendable, Equatable {
    /// true for BT.709 coefficients, false for BT.601.
    public var bt709: Bool
    /// true when Y' spans 0…255 (JPEG style), false for the limited 16…235 / 16…240 range.
    public var fullRange: Bool
    public init(bt709: Bool, fullRange: Bool) { self.bt709 = bt709; self.fullRange = fullRange }
    /// BT.601 limited range: what V4L2 reports by default for SDTV and webcam YUV.
    public static let bt601Limited = YCbCrEncoding(bt709: false, fullRange: false)
    /// BT.709 limited range: HD video (e.g. 1080p HDMI capture).
    public static let bt709Limited = YCbCrEncoding(bt709: true, fullRange: false)
}

/// A negotiated frame layout: pixel format, size, first-plane stride and colour encoding.
public struct FrameFormat: Sendable, Equatable, CustomStringConvertible {
    public var pixelFormat: PixelFormat
    public var width: Int
    public var height: Int
    /// Bytes per row of the first plane (the luma plane for NV12).
    public var bytesPerLine: Int
    public var encoding: YCbCrEncoding

    public init(pixelFormat: PixelFormat, width: Int, height: Int, bytesPerLine: Int? = nil,
                encoding: YCbCrEncoding = .bt601Limited) {
        self.pixelFormat = pixelFormat
        self.width = width
        self.height = height
        self.bytesPerLine = bytesPerLine ?? pixelFormat.naturalBytesPerLine(width: width)
        self.encoding = encoding
    }

    /// Bytes a complete uncompressed frame of this format has (nil for MJPEG).
    public var minimumBytes: Int? {
        pixelFormat.minimumBytes(width: width, height: height, bytesPerLine: bytesPerLine)
    }

    public var description: String { "\(pixelFormat.rawValue) \(width)x\(height)" }
}

/// One frame as it left the source: the raw bytes, their layout, and when it was captured.
public struct Frame: Sendable {
    public var format: FrameFormat
    public var bytes: [UInt8]
    /// Capture time on CLOCK_MONOTONIC, in nanoseconds (the V4L2 buffer timestamp for devices).
    public var captureTimeNanos: UInt64
    /// Source sequence number (V4L2 buffer sequence, or frame index for replays).
    public var sequence: UInt64
    /// Optional name, e.g. the replayed file's base name; outputs use it to name their files.
    public var label: String?

    public init(format: FrameFormat, bytes: [UInt8], captureTimeNanos: UInt64, sequence: UInt64,
                label: String? = nil) {
        self.format = format
        self.bytes = bytes
        self.captureTimeNanos = captureTimeNanos
        self.sequence = sequence
        self.label = label
    }
}

/// What a frame source hands back for one request.
public enum SourceEvent: Sendable {
    /// The newest frame; `droppedBefore` counts frames the source skipped to get to it.
    case frame(Frame, droppedBefore: Int)
    /// No frame arrived within the timeout.
    case timeout
    /// A frame arrived but was incomplete or corrupt and was dropped.
    case corrupt(reason: String)
    /// The source renegotiated its format (e.g. a resolution-change event).
    case formatChanged(FrameFormat)
    /// A replay source has no more frames.
    case endOfStream
}

/// Errors from frame sources. Every message names the device or file and the problem, on one line.
public enum CaptureError: Error, CustomStringConvertible, Equatable {
    /// The device node does not exist or cannot be opened.
    case deviceMissing(path: String, reason: String)
    /// The device failed mid-stream (unplugged, EIO, POLLERR); the pipeline reopens it.
    case deviceLost(path: String, reason: String)
    /// The device exists but cannot do what is asked (not a capture device, no usable format, …).
    case unsupported(path: String, reason: String)
    /// A replay file or folder is unreadable or malformed.
    case badSource(path: String, reason: String)

    public var description: String {
        switch self {
        case .deviceMissing(let path, let reason): return "\(path): cannot open device: \(reason)"
        case .deviceLost(let path, let reason): return "\(path): device lost: \(reason)"
        case .unsupported(let path, let reason): return "\(path): \(reason)"
        case .badSource(let path, let reason): return "\(path): \(reason)"
        }
    }
}

/// CLOCK_MONOTONIC now, in nanoseconds: the time base of every capture timestamp.
public func monotonicNanos() -> UInt64 { UInt64(cv4l2_monotonic_ns()) }

/// A description of a C errno value.
func errnoDescription(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return String(cString: text)
}
