// ImageCodec: PNG (libpng simplified API) and JPEG (TurboJPEG 2.x) decoding and encoding, chosen by magic
// bytes. Decoding follows cv2.imread: JPEG with the accurate integer DCT, fancy upsampling and EXIF
// orientation; gray reads of a JPEG take the decoded Y channel; gray reads of a colour PNG use libpng's
// rgb_to_gray as OpenCV sets it up; PNG gamma chunks are ignored as OpenCV does.
import CPNG
import CTurboJPEG
import CondSegIO

/// Reading and writing PNG and JPEG images as `Image8`.
public enum ImageCodec {
    /// Container formats recognised by their first bytes.
    public enum Format: Sendable, Equatable {
        case png
        case jpeg
    }

    /// The format of `data` judged by its magic bytes, or nil when it is neither PNG nor JPEG.
    public static func sniff(_ data: [UInt8]) -> Format? {
        let pngMagic: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        if data.count >= 8 && Array(data[0..<8]) == pngMagic { return .png }
        if data.count >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF { return .jpeg }
        return nil
    }

    // MARK: Decoding

    /// Decodes PNG or JPEG (by magic bytes, not extension) to 3-channel RGB (gray/alpha/16-bit/palette PNGs converted).
    public static func decodeRGB(path: String) throws -> Image8 {
        try decodeRGB(data: FileIO.readAll(path: path), name: path)
    }

    /// Decodes PNG or JPEG bytes to 3-channel RGB; `name` is used in error messages.
    public static func decodeRGB(data: [UInt8], name: String) throws -> Image8 {
        switch try format(of: data, name: name) {
        case .jpeg: return try decodeJPEG(data: data, name: name, gray: false)
        case .png: return try decodePNG(data: data, name: name, gray: false)
        }
    }

    /// One-channel decode exactly as cv2.imread(path, cv2.IMREAD_GRAYSCALE) (JPEG: decoded Y; PNG: OpenCV's RGB→gray formula).
    public static func decodeGray(path: String) throws -> Image8 {
        try decodeGray(data: FileIO.readAll(path: path), name: path)
    }

    /// One-channel decode of PNG or JPEG bytes, as `decodeGray(path:)`; `name` is used in error messages.
    public static func decodeGray(data: [UInt8], name: String) throws -> Image8 {
        switch try format(of: data, name: name) {
        case .jpeg: return try decodeJPEG(data: data, name: name, gray: true)
        case .png: return try decodePNG(data: data, name: name, gray: true)
        }
    }

    /// Decodes JPEG bytes to RGB (used for MJPEG frames). Truncated or corrupt data is an error.
    /// An EXIF orientation tag, if present, is applied as cv2.imdecode does.
    public static func decodeJPEG(data: [UInt8], name: String) throws -> Image8 {
        if data.isEmpty { throw ImageError(path: name, problem: "empty file (0 bytes)") }
        guard sniff(data) == .jpeg else { throw ImageError(path: name, problem: "not a JPEG (no FF D8 FF start marker)") }
        return try decodeJPEG(data: data, name: name, gray: false)
    }

    // MARK: Encoding and writing

    /// Writes a 1- or 3-channel image as PNG, atomically (temporary file in the same folder, then rename).
    public static func writePNG(_ image: Image8, to path: String) throws {
        let encoded: [UInt8]
        do { encoded = try encodePNG(image) } catch let error as ImageError {
            throw ImageError(path: path, problem: error.problem)
        }
        try AtomicFile.write(encoded, to: path)
    }

    /// Writes a 1- or 3-channel image as JPEG of the given quality (1...100), atomically.
    public static func writeJPEG(_ image: Image8, quality: Int, to path: String) throws {
        let encoded: [UInt8]
        do { encoded = try encodeJPEG(image, quality: quality) } catch let error as ImageError {
            throw ImageError(path: path, problem: error.problem)
        }
        try AtomicFile.write(encoded, to: path)
    }

    /// Encodes a 1- or 3-channel image as an 8-bit PNG (gray or RGB).
    public static func encodePNG(_ image: Image8) throws -> [UInt8] {
        let name = "<PNG encoder>"
        guard image.channels == 1 || image.channels == 3 else {
            throw ImageError(path: name, problem: "cannot encode \(image.channels) channels as PNG (only 1 or 3)")
        }
        guard image.width > 0 && image.height > 0 else {
            throw ImageError(path: name, problem: "cannot encode an empty \(image.width)x\(image.height) image")
        }
        var control = png_image()
        control.version = cpng_image_version()
        control.width = UInt32(image.width)
        control.height = UInt32(image.height)
        control.format = image.channels == 1 ? cpng_format_gray : cpng_format_rgb
        let rowStride = Int32(image.width * image.channels)
        var size: png_alloc_size_t = 0
        // First call measures, second call writes.
        let measured = image.pixels.withUnsafeBytes {
            png_image_write_to_memory(&control, nil, &size, 0, $0.baseAddress, rowStride, nil)
        }
        if measured == 0 || size == 0 {
            let reason = pngMessage(&control)
            png_image_free(&control)
            throw ImageError(path: name, problem: "PNG encoding failed: \(reason)")
        }
        var output = [UInt8](repeating: 0, count: Int(size))
        let written = output.withUnsafeMutableBytes { destination in
            image.pixels.withUnsafeBytes {
                png_image_write_to_memory(&control, destination.baseAddress, &size, 0, $0.baseAddress, rowStride, nil)
            }
        }
        if written == 0 {
            let reason = pngMessage(&control)
            png_image_free(&control)
            throw ImageError(path: name, problem: "PNG encoding failed: \(reason)")
        }
        png_image_free(&control)
        output.removeLast(output.count - Int(size))
        return output
    }

    /// Encodes a 1-channel (gray JPEG) or 3-channel (RGB, 4:2:0 chroma) image as baseline JPEG.
    /// `quality` is clamped to 1...100.
    public static func encodeJPEG(_ image: Image8, quality: Int) throws -> [UInt8] {
        let name = "<JPEG encoder>"
        guard image.channels == 1 || image.channels == 3 else {
            throw ImageError(path: name, problem: "cannot encode \(image.channels) channels as JPEG (only 1 or 3)")
        }
        guard image.width > 0 && image.height > 0 else {
            throw ImageError(path: name, problem: "cannot encode an empty \(image.width)x\(image.height) image")
        }
        guard let handle = tjInitCompress() else {
            throw ImageError(path: name, problem: "cannot create a TurboJPEG compressor")
        }
        defer { tjDestroy(handle) }
        let pixelFormat = image.channels == 1 ? Int32(TJPF_GRAY.rawValue) : Int32(TJPF_RGB.rawValue)
        let subsampling = image.channels == 1 ? Int32(TJSAMP_GRAY.rawValue) : Int32(TJSAMP_420.rawValue)
        var jpegBuffer: UnsafeMutablePointer<UInt8>? = nil
        var jpegSize: UInt = 0
        let status = image.pixels.withUnsafeBufferPointer {
            tjCompress2(handle, $0.baseAddress, Int32(image.width), 0, Int32(image.height), pixelFormat,
                        &jpegBuffer, &jpegSize, subsampling, Int32(min(100, max(1, quality))), 0)
        }
        defer { if let jpegBuffer { tjFree(jpegBuffer) } }
        guard status == 0, let jpegBuffer else {
            throw ImageError(path: name, problem: "JPEG encoding failed: \(turboMessage(handle))")
        }
        return Array(UnsafeBufferPointer(start: jpegBuffer, count: Int(jpegSize)))
    }

    // MARK: Internals

    /// Largest decoded image accepted, in pixels (64 Mpixel, e.g. 8192×8192: 192 MiB as RGB), checked against
    /// the header before anything is allocated, so a few hundred bytes claiming a huge image cannot make the
    /// runtime allocate gigabytes. Endoscopy video is at most 4K (8.3 Mpixel); dataset stills are smaller.
    public static let maximumPixelCount = 1 << 26

    static func format(of data: [UInt8], name: String) throws -> Format {
        if data.isEmpty { throw ImageError(path: name, problem: "empty file (0 bytes)") }
        guard let format = sniff(data) else {
            throw ImageError(path: name, problem: "not a PNG or JPEG image (unrecognised first bytes)")
        }
        return format
    }

    static func turboMessage(_ handle: tjhandle) -> String {
        guard let text = tjGetErrorStr2(handle) else { return "unknown TurboJPEG error" }
        return String(cString: text)
    }

    static func pngMessage(_ control: inout png_image) -> String {
        withUnsafeBytes(of: &control.message) { raw in
            let bytes = raw.prefix { $0 != 0 }
            let text = String(decoding: bytes, as: UTF8.self)
            return text.isEmpty ? "unknown libpng error" : text
        }
    }

    /// JPEG decode with cv2.imread's settings: accurate integer DCT, fancy upsampling, EXIF orientation applied;
    /// any libjpeg warning (truncated or corrupt data) is treated as an error.
    static func decodeJPEG(data: [UInt8], name: String, gray: Bool) throws -> Image8 {
        guard let handle = tjInitDecompress() else {
            throw ImageError(path: name, problem: "cannot create a TurboJPEG decompressor")
        }
        defer { tjDestroy(handle) }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let headerStatus = data.withUnsafeBufferPointer {
            tjDecompressHeader3(handle, $0.baseAddress, UInt($0.count), &width, &height, &subsampling, &colorspace)
        }
        if headerStatus != 0 {
            throw ImageError(path: name, problem: "cannot read JPEG header: \(turboMessage(handle))")
        }
        guard width > 0, height > 0 else {
            throw ImageError(path: name, problem: "JPEG has zero size \(width)x\(height)")
        }
        guard Int(width) * Int(height) <= maximumPixelCount else {
            throw ImageError(path: name, problem: "JPEG is too large (\(width)x\(height) = \(Int(width) * Int(height)) pixels; the limit is \(maximumPixelCount) pixels, 64 Mpixel)")
        }
        let isCMYK = colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue)
        if isCMYK {
            let rgb = try decodeCMYK(data: data, name: name, handle: handle, width: Int(width), height: Int(height))
            let oriented = ExifOrientation.apply(ExifOrientation.orientation(ofJPEG: data), to: rgb)
            return gray ? grayFromRGB(oriented) : oriented
        }
        let channels = gray ? 1 : 3
        let pixelFormat = gray ? Int32(TJPF_GRAY.rawValue) : Int32(TJPF_RGB.rawValue)
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * channels)
        let flags = Int32(TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING)
        let status = pixels.withUnsafeMutableBufferPointer { destination in
            data.withUnsafeBufferPointer {
                tjDecompress2(handle, $0.baseAddress, UInt($0.count), destination.baseAddress,
                              width, 0, height, pixelFormat, flags)
            }
        }
        if status != 0 {
            let message = turboMessage(handle)
            if tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue) {
                throw ImageError(path: name, problem: "JPEG data is truncated or corrupt (\(message))")
            }
            throw ImageError(path: name, problem: "cannot decode JPEG: \(message)")
        }
        let decoded = Image8(width: Int(width), height: Int(height), channels: channels, pixels: pixels)
        return ExifOrientation.apply(ExifOrientation.orientation(ofJPEG: data), to: decoded)
    }

    /// A CMYK or YCCK JPEG (as Photoshop and print workflows write them) decoded to CMYK, then to RGB without a
    /// colour profile: Adobe stores the inks inverted (255 = no ink), so each channel is (inverted ink) × (inverted
    /// black) / 255, rounded: R = C'·K'/255, G = M'·K'/255, B = Y'·K'/255.
    static func decodeCMYK(data: [UInt8], name: String, handle: tjhandle, width: Int, height: Int) throws -> Image8 {
        var cmyk = [UInt8](repeating: 0, count: width * height * 4)
        let flags = Int32(TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING)
        let status = cmyk.withUnsafeMutableBufferPointer { destination in
            data.withUnsafeBufferPointer {
                tjDecompress2(handle, $0.baseAddress, UInt($0.count), destination.baseAddress,
                              Int32(width), 0, Int32(height), Int32(TJPF_CMYK.rawValue), flags)
            }
        }
        if status != 0 {
            let message = turboMessage(handle)
            if tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue) {
                throw ImageError(path: name, problem: "JPEG data is truncated or corrupt (\(message))")
            }
            throw ImageError(path: name, problem: "cannot decode CMYK JPEG: \(message)")
        }
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        for pixel in 0..<(width * height) {
            let black = UInt32(cmyk[pixel * 4 + 3])
            for channel in 0..<3 {
                rgb[pixel * 3 + channel] = UInt8((UInt32(cmyk[pixel * 4 + channel]) * black + 127) / 255)
            }
        }
        return Image8(width: width, height: height, channels: 3, pixels: rgb)
    }

    /// One grey channel from RGB with the BT.601 weights 0.299, 0.587, 0.114 (14-bit fixed point, rounded).
    static func grayFromRGB(_ image: Image8) -> Image8 {
        var gray = [UInt8](repeating: 0, count: image.width * image.height)
        for pixel in 0..<gray.count {
            let r = UInt32(image.pixels[pixel * 3]), g = UInt32(image.pixels[pixel * 3 + 1]), b = UInt32(image.pixels[pixel * 3 + 2])
            gray[pixel] = UInt8((4899 * r + 9617 * g + 1868 * b + 8192) >> 14)
        }
        return Image8(width: image.width, height: image.height, channels: 1, pixels: gray)
    }

    /// The PNG bytes without gAMA, cHRM, sRGB and iCCP chunks, or nil when there are none. Parsing stops at
    /// the first malformed or truncated chunk, whose bytes are kept for libpng to report.
    static func withoutColorManagementChunks(_ data: [UInt8]) -> [UInt8]? {
        let dropped: Set<[UInt8]> = [Array("gAMA".utf8), Array("cHRM".utf8), Array("sRGB".utf8), Array("iCCP".utf8)]
        var ranges: [Range<Int>] = []  // chunks to drop
        var position = 8
        while position + 12 <= data.count {
            let length = Int(data[position]) << 24 | Int(data[position + 1]) << 16 | Int(data[position + 2]) << 8 | Int(data[position + 3])
            let end = position + 12 + length
            guard length >= 0, end <= data.count else { break }
            let kind = Array(data[(position + 4)..<(position + 8)])
            if dropped.contains(kind) { ranges.append(position..<end) }
            if kind == Array("IDAT".utf8) || kind == Array("IEND".utf8) { break }  // colour chunks precede IDAT
            position = end
        }
        if ranges.isEmpty { return nil }
        var kept: [UInt8] = []
        kept.reserveCapacity(data.count)
        var start = 0
        for range in ranges {
            kept.append(contentsOf: data[start..<range.lowerBound])
            start = range.upperBound
        }
        kept.append(contentsOf: data[start...])
        return kept
    }

    /// PNG decode following cv2.imread: no gamma or colour-profile handling, 16-bit samples keep their high
    /// byte, alpha is dropped (not composited),
    /// palettes and low-bit gray are expanded; gray output from a colour PNG uses libpng's rgb_to_gray with
    /// OpenCV's weights (0.299, 0.587), which libpng truncates to 9797/32768 and 19234/32768.
    static func decodePNG(data: [UInt8], name: String, gray: Bool) throws -> Image8 {
        // OpenCV ignores gamma and colour-profile chunks; libpng's simplified API would apply them.
        let data = withoutColorManagementChunks(data) ?? data
        return try data.withUnsafeBufferPointer { (source: UnsafeBufferPointer<UInt8>) -> Image8 in
            var control = png_image()
            control.version = cpng_image_version()
            defer { png_image_free(&control) }
            if png_image_begin_read_from_memory(&control, source.baseAddress, source.count) == 0 {
                throw ImageError(path: name, problem: "cannot read PNG header: \(pngMessage(&control))")
            }
            let width = Int(control.width), height = Int(control.height)
            guard width > 0, height > 0 else {
                throw ImageError(path: name, problem: "PNG has zero size \(width)x\(height)")
            }
            guard width * height <= maximumPixelCount else {
                throw ImageError(path: name, problem: "PNG is too large (\(width)x\(height) = \(width * height) pixels; the limit is \(maximumPixelCount) pixels, 64 Mpixel)")
            }
            let colorFlag = UInt32(PNG_FORMAT_FLAG_COLOR), alphaFlag = UInt32(PNG_FORMAT_FLAG_ALPHA)
            let linearFlag = UInt32(PNG_FORMAT_FLAG_LINEAR)
            let fileFormat = control.format
            let isColor = fileFormat & colorFlag != 0
            let hasAlpha = fileFormat & alphaFlag != 0
            let isSixteenBit = fileFormat & linearFlag != 0
            // Ask for the file's own layout without colour-map so libpng expands palettes but does not
            // composite alpha or change the colour model; we drop alpha and convert below.
            control.format = (isColor ? colorFlag : 0) | (hasAlpha ? alphaFlag : 0) | (isSixteenBit ? linearFlag : 0)
            let components = (isColor ? 3 : 1) + (hasAlpha ? 1 : 0)
            let bytesPerComponent = isSixteenBit ? 2 : 1
            var decoded = [UInt8](repeating: 0, count: width * height * components * bytesPerComponent)
            let finished = decoded.withUnsafeMutableBytes {
                png_image_finish_read(&control, nil, $0.baseAddress, Int32(width * components), nil)
            }
            if finished == 0 || (control.warning_or_error & 0x03) > 1 {
                throw ImageError(path: name, problem: "cannot decode PNG (truncated or corrupt): \(pngMessage(&control))")
            }
            let pixelCount = width * height
            let outputChannels = gray ? 1 : 3
            var output = [UInt8](repeating: 0, count: pixelCount * outputChannels)
            decoded.withUnsafeBytes { raw in
                output.withUnsafeMutableBufferPointer { destination in
                    // Sample `component` of pixel `pixel` as a 16-bit value (8-bit data is widened by *257).
                    func sample16(_ pixel: Int, _ component: Int) -> UInt32 {
                        if isSixteenBit {
                            return UInt32(raw.load(fromByteOffset: 2 * (pixel * components + component), as: UInt16.self))
                        }
                        return UInt32(raw[pixel * components + component]) * 257
                    }
                    func sample8(_ pixel: Int, _ component: Int) -> UInt8 {
                        isSixteenBit ? UInt8(sample16(pixel, component) >> 8) : raw[pixel * components + component]
                    }
                    for pixel in 0..<pixelCount {
                        if !isColor {
                            let value = sample8(pixel, 0)
                            for channel in 0..<outputChannels { destination[pixel * outputChannels + channel] = value }
                        } else if !gray {
                            for channel in 0..<3 { destination[pixel * 3 + channel] = sample8(pixel, channel) }
                        } else if isSixteenBit {
                            let red = sample16(pixel, 0), green = sample16(pixel, 1), blue = sample16(pixel, 2)
                            let gray16 = (red == green && red == blue) ? red : (9797 * red + 19234 * green + 3737 * blue + 16384) >> 15
                            destination[pixel] = UInt8(gray16 >> 8)
                        } else {
                            let red = UInt32(sample8(pixel, 0)), green = UInt32(sample8(pixel, 1)), blue = UInt32(sample8(pixel, 2))
                            destination[pixel] = UInt8((9797 * red + 19234 * green + 3737 * blue) >> 15)
                        }
                    }
                }
            }
            return Image8(width: width, height: height, channels: outputChannels, pixels: output)
        }
    }
}
