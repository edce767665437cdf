// Image8 and ImageError: the plain 8-bit image value every CondSeg module passes around,
// and the one error type the image layer throws ("<path>: <problem>").

/// 8-bit interleaved image; `channels` is 1 (gray) or 3 (RGB order).
/// `pixels` holds `width * height * channels` bytes, row-major, no padding.
public struct Image8: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: [UInt8]

    /// Wraps existing pixels. `pixels.count` must equal `width * height * channels`.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && channels > 0, "Image8: invalid size \(width)x\(height)x\(channels)")
        precondition(pixels.count == width * height * channels,
                     "Image8: \(pixels.count) bytes for \(width)x\(height)x\(channels)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// A zero-filled (black) image.
    public init(width: Int, height: Int, channels: Int) {
        self.init(width: width, height: height, channels: channels,
                  pixels: [UInt8](repeating: 0, count: width * height * channels))
    }

    /// Number of pixels (width * height).
    public var pixelCount: Int { width * height }

    /// The same image with 3 channels: gray is replicated, RGB is returned unchanged.
    public func asRGB() -> Image8 {
        if channels == 3 { return self }
        precondition(channels == 1, "Image8.asRGB: unsupported channel count \(channels)")
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        for index in 0..<(width * height) {
            let value = pixels[index]
            rgb[3 * index] = value
            rgb[3 * index + 1] = value
            rgb[3 * index + 2] = value
        }
        return Image8(width: width, height: height, channels: 3, pixels: rgb)
    }

    /// The same image with its first and third channels swapped (RGB <-> BGR); gray is returned unchanged.
    public func swappingRedBlue() -> Image8 {
        guard channels == 3 else { return self }
        var swapped = pixels
        for index in 0..<(width * height) {
            swapped[3 * index] = pixels[3 * index + 2]
            swapped[3 * index + 2] = pixels[3 * index]
        }
        return Image8(width: width, height: height, channels: 3, pixels: swapped)
    }
}

/// Failure to read, decode, encode or write an image (or a .npy file).
/// Its description is one line: "<path>: <problem>".
public struct ImageError: Error, CustomStringConvertible, Sendable {
    /// The file (or, for in-memory data, the caller-supplied name) the problem is about.
    public let path: String
    /// What went wrong, in words.
    public let problem: String

    /// Creates an error about `path`.
    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }
}
