// ReplaySources.swift: frame sources without a camera, so the live pipeline runs anywhere: a folder of
// images (PNG/JPEG, in name order) and YUV4MPEG2 (`.y4m`) files. Both pace themselves at their frame rate
// (or deliver as fast as the pipeline takes them with pacing off) and stamp each frame when it is handed
// over, like a camera would. Unreadable images and a truncated last y4m frame are reported as corrupt.
import CondSegImage
import Foundation

/// Sleeps until a CLOCK_MONOTONIC deadline (no-op if it has passed).
func sleepUntil(nanos deadline: UInt64) {
    let now = monotonicNanos()
    guard deadline > now else { return }
    var request = timespec(tv_sec: Int((deadline - now) / 1_000_000_000), tv_nsec: Int((deadline - now) % 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}

/// Keeps a replay at its frame rate: frame i is due at start + i/fps.
struct ReplayClock {
    let framesPerSecond: Double
    let paced: Bool
    private var startNanos: UInt64?
    private var index: UInt64 = 0

    init(framesPerSecond: Double, paced: Bool) {
        self.framesPerSecond = framesPerSecond
        self.paced = paced
    }

    /// Waits until the next frame is due; returns the frame's index.
    mutating func waitForNextFrame() -> UInt64 {
        let start = startNanos ?? monotonicNanos()
        startNanos = start
        if paced && framesPerSecond > 0 {
            sleepUntil(nanos: start + UInt64(Double(index) * 1e9 / framesPerSecond))
        }
        defer { index += 1 }
        return index
    }
}

/// Frames from the images in a folder (see `ImageFiles.listInputFolder`: its own, or those of its images/ folder), in name order, as RGB24.
public final class ImageFolderSource: FrameSource {
    public let folder: String
    public let framesPerSecond: Double
    public let loop: Bool
    private var files: [String] = []
    private var position = 0
    private var clock: ReplayClock

    public var name: String { folder }
    public var isLive: Bool { false }

    /// - Parameters: folder: directory of images; framesPerSecond: replay rate; paced: false to go as fast
    ///   as the pipeline takes frames; loop: start again after the last image.
    public init(folder: String, framesPerSecond: Double = 30, paced: Bool = true, loop: Bool = false) {
        self.folder = folder
        self.framesPerSecond = framesPerSecond
        self.loop = loop
        self.clock = ReplayClock(framesPerSecond: framesPerSecond, paced: paced)
    }

    public func start() throws -> FrameFormat {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CaptureError.badSource(path: folder, reason: "no such folder")
        }
        files = try ImageFiles.listInputFolder(folder)
        guard !files.isEmpty else {
            throw CaptureError.badSource(path: folder, reason: "no PNG or JPEG images in this folder (nor in an images/ folder inside it)")
        }
        position = 0
        // The format of the first image; later images may differ, each frame carries its own.
        let first = try ImageCodec.decodeRGB(path: files[0])
        return FrameFormat(pixelFormat: .rgb24, width: first.width, height: first.height)
    }

    public func next(timeoutMilliseconds: Int) throws -> SourceEvent {
        if position >= files.count {
            guard loop, !files.isEmpty else { return .endOfStream }
            position = 0
        }
        let path = files[position]
        position += 1
        let image: Image8
        do {
            image = try ImageCodec.decodeRGB(path: path)
        } catch {
            // Image errors already name their file; others get it in front.
            let text = "\(error)"
            return .corrupt(reason: text.hasPrefix(path + ":") ? text : "\(path): \(text)")
        }
        var rgb = image
        if image.channels != 3 {
            rgb = Image8(width: image.width, height: image.height, channels: 3,
                         pixels: (0..<(image.width * image.height)).flatMap { index -> [UInt8] in
                             let base = index * image.channels
                             return image.channels >= 3 ? Array(image.pixels[base..<base + 3])
                                 : [image.pixels[base], image.pixels[base], image.pixels[base]]
                         })
        }
        let index = clock.waitForNextFrame()
        let label = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        return .frame(Frame(format: FrameFormat(pixelFormat: .rgb24, width: rgb.width, height: rgb.height),
                            bytes: rgb.pixels, captureTimeNanos: monotonicNanos(), sequence: index, label: label),
                      droppedBefore: 0)
    }

    public func stop() { files = [] }
}

/// The stream header of a YUV4MPEG2 file.
public struct Y4MHeader: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var framesPerSecond: Double
    public var pixelFormat: PixelFormat
    public var encoding: YCbCrEncoding

    /// Bytes of one frame's picture data (after its FRAME line).
    public var frameBytes: Int { pixelFormat.minimumBytes(width: width, height: height, bytesPerLine: width) ?? 0 }

    /// Parses the first line of a y4m file (without its newline), e.g.
    /// `YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg XCOLORRANGE=LIMITED`.
    /// Chroma tags 420jpeg/420paldv/420mpeg2/420 (the default), 422, 444 and mono are supported, 8-bit only.
    public static func parse(_ line: String, path: String) throws -> Y4MHeader {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.first == "YUV4MPEG2" else {
            throw CaptureError.badSource(path: path, reason: "not a YUV4MPEG2 file (missing signature)")
        }
        var width = 0, height = 0
        var rate = 25.0
        var format = PixelFormat.yuv420p
        var fullRange = false
        for field in fields.dropFirst() {
            let tag = field.first!
            let value = String(field.dropFirst())
            switch tag {
            case "W": width = Int(value) ?? 0
            case "H": height = Int(value) ?? 0
            case "F":
                let parts = value.split(separator: ":")
                guard parts.count == 2, let numerator = Double(parts[0]), let denominator = Double(parts[1]),
                      numerator > 0, denominator > 0 else {
                    throw CaptureError.badSource(path: path, reason: "bad frame rate \"\(field)\"")
                }
                rate = numerator / denominator
            case "C":
                switch value {
                case "420jpeg", "420paldv", "420mpeg2", "420": format = .yuv420p
                case "422": format = .yuv422p
                case "444": format = .yuv444p
                case "mono": format = .gray
                default: throw CaptureError.badSource(path: path, reason: "unsupported y4m colour space C\(value) (8-bit 420/422/444/mono only)")
                }
            case "X":
                if value.uppercased() == "COLORRANGE=FULL" { fullRange = true }
            default: break  // interlacing, aspect ratio, comments: not needed
            }
        }
        guard width > 0, height > 0 else {
            throw CaptureError.badSource(path: path, reason: "y4m header lacks a valid W/H")
        }
        guard width <= 16384, height <= 16384 else {
            throw CaptureError.badSource(path: path, reason: "y4m frame size \(width)x\(height) is too large (at most 16384 pixels a side)")
        }
        return Y4MHeader(width: width, height: height, framesPerSecond: rate, pixelFormat: format,
                         encoding: YCbCrEncoding(bt709: false, fullRange: fullRange))
    }
}

/// Frames from a YUV4MPEG2 (`.y4m`) file at the file's frame rate.
public final class Y4MSource: FrameSource {
    public let path: String
    public let paced: Bool
    public let loop: Bool
    public private(set) var header: Y4MHeader?
    private var file: UnsafeMutablePointer<FILE>?
    private var dataStart: Int = 0
    /// Length of the file when it is a regular file (nil for a pipe or device): frames are checked against it
    /// before their bytes are allocated.
    private var fileLength: Int?
    /// Frames read since the start of the file (the number in messages, from 1; a loop starts it again).
    private var framesRead = 0
    private var clock = ReplayClock(framesPerSecond: 0, paced: false)

    public var name: String { path }
    public var isLive: Bool { false }

    public init(path: String, paced: Bool = true, loop: Bool = false) {
        self.path = path
        self.paced = paced
        self.loop = loop
    }

    deinit { stop() }

    /// Reads one newline-terminated line (at most `limit` bytes); nil at end of file.
    private func readLine(limit: Int = 4096) -> String? {
        guard let file else { return nil }
        var bytes: [UInt8] = []
        while bytes.count < limit {
            let character = fgetc(file)
            if character == EOF { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
            if character == 0x0A { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(UInt8(character))
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func start() throws -> FrameFormat {
        stop()
        guard let handle = fopen(path, "rb") else {
            throw CaptureError.badSource(path: path, reason: "cannot open: \(String(cString: strerror(errno)))")
        }
        file = handle
        guard let line = readLine() else {
            stop()
            throw CaptureError.badSource(path: path, reason: "empty file")
        }
        let parsed: Y4MHeader
        do { parsed = try Y4MHeader.parse(line, path: path) } catch { stop(); throw error }
        header = parsed
        dataStart = ftell(handle)
        var status = stat()
        fileLength = fstat(fileno(handle), &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG ? Int(status.st_size) : nil
        framesRead = 0
        // A file without one whole frame has nothing to replay: refuse it now, naming what is wrong, rather than
        // streaming nothing (a whole frame's buffer is never allocated for a file too short to fill it).
        if let fileLength {
            guard let line = readLine() else {
                stop()
                throw CaptureError.badSource(path: path, reason: "no frame after the y4m header")
            }
            let available = fileLength - ftell(handle)
            if line.hasPrefix("FRAME") && available < parsed.frameBytes {
                stop()
                throw CaptureError.badSource(path: path, reason: "truncated frame 1: expected \(parsed.frameBytes) bytes, found \(max(0, available))")
            }
            fseek(handle, dataStart, SEEK_SET)
        }
        clock = ReplayClock(framesPerSecond: parsed.framesPerSecond, paced: paced)
        return FrameFormat(pixelFormat: parsed.pixelFormat, width: parsed.width, height: parsed.height,
                           encoding: parsed.encoding)
    }

    public func next(timeoutMilliseconds: Int) throws -> SourceEvent {
        guard let file, let header else { return .endOfStream }
        var frameLine = readLine()
        if frameLine == nil && loop {
            fseek(file, dataStart, SEEK_SET)
            framesRead = 0
            frameLine = readLine()
        }
        guard let frameLine else { return .endOfStream }
        guard frameLine.hasPrefix("FRAME") else {
            stop()
            return .corrupt(reason: "\(path): expected FRAME marker, found \"\(frameLine.prefix(16))\"; stopping")
        }
        framesRead += 1
        if let fileLength {
            let available = fileLength - ftell(file)
            guard available >= header.frameBytes else {
                fseek(file, 0, SEEK_END)
                return .corrupt(reason: "\(path): truncated frame \(framesRead): expected \(header.frameBytes) bytes, found \(max(0, available))")
            }
        }
        var bytes = [UInt8](repeating: 0, count: header.frameBytes)
        let read = bytes.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
        guard read == bytes.count else {
            return .corrupt(reason: "\(path): truncated frame \(framesRead): expected \(bytes.count) bytes, found \(read)")
        }
        let index = clock.waitForNextFrame()
        let format = FrameFormat(pixelFormat: header.pixelFormat, width: header.width, height: header.height,
                                 encoding: header.encoding)
        return .frame(Frame(format: format, bytes: bytes, captureTimeNanos: monotonicNanos(), sequence: index,
                            label: String(format: "frame-%06llu", index)),
                      droppedBefore: 0)
    }

    public func stop() {
        if let file { fclose(file) }
        file = nil
    }
}
