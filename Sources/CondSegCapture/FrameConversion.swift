// FrameConversion.swift: turns captured frames into what the model and the outputs need.
// `modelInput` is the fused path: colour conversion, OpenCV-style bilinear resize and scaling in one pass
// over the output pixels only (a 1080p frame costs 4 source samples per model-input pixel, not a full-frame
// conversion). `rgb` converts a whole frame to RGB24 for overlays. MJPEG frames are decoded through
// libjpeg-turbo (CondSegImage) first; a broken JPEG raises an error and the caller drops the frame.
import CondSegImage

/// Colour conversion and resampling of captured frames.
public enum FrameConversion {

    /// The Y'CbCr → R'G'B' coefficients for one encoding, applied in float.
    ///
    /// Limited range: Y' = (Y − 16)·255/219, Cb/Cr = (U/V − 128)·255/224; full range: no scaling.
    /// BT.601: R = Y' + 1.402·Cr, G = Y' − 0.344136·Cb − 0.714136·Cr, B = Y' + 1.772·Cb.
    /// BT.709: R = Y' + 1.5748·Cr, G = Y' − 0.187324·Cb − 0.468124·Cr, B = Y' + 1.8556·Cb.
    public struct Coefficients: Sendable {
        public let yOffset: Float, yGain: Float, chromaGain: Float
        public let crToR: Float, cbToG: Float, crToG: Float, cbToB: Float

        public init(_ encoding: YCbCrEncoding) {
            yOffset = encoding.fullRange ? 0 : 16
            yGain = encoding.fullRange ? 1 : 255.0 / 219.0
            chromaGain = encoding.fullRange ? 1 : 255.0 / 224.0
            if encoding.bt709 {
                crToR = 1.5748; cbToG = -0.187324; crToG = -0.468124; cbToB = 1.8556
            } else {
                crToR = 1.402; cbToG = -0.344136; crToG = -0.714136; cbToB = 1.772
            }
        }

        /// R, G, B in 0…255 (clamped, not rounded) for one Y, U, V sample.
        @inline(__always)
        public func rgb(y: UInt8, u: UInt8, v: UInt8) -> (Float, Float, Float) {
            let luma = (Float(y) - yOffset) * yGain
            let cb = (Float(u) - 128) * chromaGain
            let cr = (Float(v) - 128) * chromaGain
            return (clamp255(luma + crToR * cr),
                    clamp255(luma + cbToG * cb + crToG * cr),
                    clamp255(luma + cbToB * cb))
        }
    }

    @inline(__always)
    static func clamp255(_ value: Float) -> Float { min(max(value, 0), 255) }

    /// Byte offsets of the Y, U and V samples of pixel (x, y) in a YUV frame, chroma replicated from the
    /// subsampled planes (nearest); for RGB24 the offsets of R, G, B.
    @inline(__always)
    static func sampleOffsets(_ format: FrameFormat, x: Int, y: Int) -> (Int, Int, Int) {
        let width = format.width, height = format.height, stride = format.bytesPerLine
        switch format.pixelFormat {
        case .yuyv:
            let pair = y * stride + (x >> 1) * 4
            return (pair + (x & 1) * 2, pair + 1, pair + 3)
        case .uyvy:
            let pair = y * stride + (x >> 1) * 4
            return (pair + 1 + (x & 1) * 2, pair, pair + 2)
        case .nv12:
            let chroma = stride * height + (y >> 1) * stride + (x >> 1) * 2
            return (y * stride + x, chroma, chroma + 1)
        case .yuv420p:
            let chromaWidth = (width + 1) / 2, chromaHeight = (height + 1) / 2
            let u = width * height + (y >> 1) * chromaWidth + (x >> 1)
            return (y * width + x, u, u + chromaWidth * chromaHeight)
        case .yuv422p:
            let chromaWidth = (width + 1) / 2
            let u = width * height + y * chromaWidth + (x >> 1)
            return (y * width + x, u, u + chromaWidth * height)
        case .yuv444p:
            let index = y * width + x
            return (index, width * height + index, 2 * width * height + index)
        case .rgb24:
            let index = y * stride + x * 3
            return (index, index + 1, index + 2)
        case .gray:
            let index = y * stride + x
            return (index, index, index)
        case .mjpeg:
            return (0, 0, 0)
        }
    }

    /// OpenCV INTER_LINEAR source coordinates for one destination index: the two source indices and the
    /// weight of the second (src = (dst + 0.5)·in/out − 0.5, clamped at the borders as cv::resize does).
    @inline(__always)
    static func bilinearTap(_ destination: Int, scale: Double, sourceSize: Int) -> (Int, Int, Float) {
        let position = (Double(destination) + 0.5) * scale - 0.5
        var index = Int(position.rounded(.down))
        var fraction = Float(position - Double(index))
        if index < 0 { index = 0; fraction = 0 }
        if index >= sourceSize - 1 { index = sourceSize - 1; fraction = 0 }
        return (index, min(index + 1, sourceSize - 1), fraction)
    }

    /// A frame with MJPEG decoded to RGB24; other frames come back unchanged.
    /// Throws `CaptureError.badSource` for a JPEG libjpeg-turbo cannot decode (the caller drops it).
    public static func decoded(_ frame: Frame) throws -> Frame {
        guard frame.format.pixelFormat == .mjpeg else { return frame }
        let image: Image8
        do {
            image = try ImageCodec.decodeJPEG(data: frame.bytes, name: frame.label ?? "frame \(frame.sequence)")
        } catch {
            throw CaptureError.badSource(path: frame.label ?? "MJPEG frame \(frame.sequence)",
                                         reason: "corrupt JPEG: \(error)")
        }
        var rgbImage = image
        if image.channels == 1 {
            rgbImage = Image8(width: image.width, height: image.height, channels: 3,
                              pixels: image.pixels.flatMap { [$0, $0, $0] })
        }
        var result = frame
        result.format = FrameFormat(pixelFormat: .rgb24, width: rgbImage.width, height: rgbImage.height)
        result.bytes = rgbImage.pixels
        return result
    }

    /// Largest frame width or height accepted from any source (16K video is 15360 wide); larger values from a
    /// driver or a file are refused before any size arithmetic, so no product of them can overflow.
    public static let maximumDimension = 16384

    /// Checks that a frame's size and stride are sane and that it holds as many bytes as its format needs.
    /// Packed 4:2:2 rows hold whole pixel pairs and NV12 chroma rows whole Cb/Cr pairs, so an odd width needs
    /// a stride rounded up to the pair; a stride narrower than that would make the converters read past a row.
    public static func validate(_ frame: Frame) throws {
        let format = frame.format
        let name = frame.label ?? "frame \(frame.sequence)"
        guard format.width > 0, format.height > 0 else {
            throw CaptureError.badSource(path: name, reason: "empty frame size")
        }
        guard format.width <= maximumDimension, format.height <= maximumDimension else {
            throw CaptureError.badSource(path: name, reason: "frame size \(format.width)x\(format.height) is larger than \(maximumDimension)x\(maximumDimension)")
        }
        let pairs = (format.width + 1) / 2
        let narrowest: Int
        switch format.pixelFormat {
        case .yuyv, .uyvy: narrowest = 4 * pairs
        case .rgb24: narrowest = 3 * format.width
        case .nv12: narrowest = 2 * pairs
        case .gray, .yuv420p, .yuv422p, .yuv444p: narrowest = format.width
        case .mjpeg: narrowest = 0
        }
        if format.pixelFormat != .mjpeg {
            guard format.bytesPerLine >= narrowest, format.bytesPerLine <= 4 * maximumDimension else {
                throw CaptureError.badSource(path: name, reason: "row stride \(format.bytesPerLine) bytes does not fit a \(format.width)-pixel \(format.pixelFormat.rawValue) row (\(narrowest)…\(4 * maximumDimension) bytes)")
            }
        }
        if let needed = format.minimumBytes, frame.bytes.count < needed {
            throw CaptureError.badSource(path: name, reason: "partial frame: \(frame.bytes.count) of \(needed) bytes")
        }
    }

    /// The model input for a frame in one pass: planar CHW floats of `size`×`size`, channel order BGR when
    /// `bgr`, each value the bilinearly resampled 0…255 colour times `scale`.
    ///
    /// Numerics: YUV is converted to float RGB at each of the four source taps (clamped to 0…255), then
    /// blended with float weights. The two-step path (RGB24 bytes, then cv::resize, then ×scale) rounds twice
    /// and quantises the weights to 1/2048; the two agree within about 1.5/255 before scaling.
    public static func modelInput(_ frame: Frame, size: Int, bgr: Bool, scale: Float) throws -> [Float] {
        let source = try decoded(frame)
        try validate(source)
        let format = source.format
        let coefficients = Coefficients(format.encoding)
        let isRGB = format.pixelFormat == .rgb24
        let plane = size * size
        var planar = [Float](repeating: 0, count: 3 * plane)
        let scaleX = Double(format.width) / Double(size), scaleY = Double(format.height) / Double(size)
        let xTaps = (0..<size).map { bilinearTap($0, scale: scaleX, sourceSize: format.width) }
        let redPlane = bgr ? 2 * plane : 0, bluePlane = bgr ? 0 : 2 * plane

        source.bytes.withUnsafeBufferPointer { bytes in
            planar.withUnsafeMutableBufferPointer { out in
                @inline(__always)
                func colour(_ x: Int, _ y: Int) -> (Float, Float, Float) {
                    let (a, b, c) = sampleOffsets(format, x: x, y: y)
                    if isRGB { return (Float(bytes[a]), Float(bytes[b]), Float(bytes[c])) }
                    return coefficients.rgb(y: bytes[a], u: bytes[b], v: bytes[c])
                }
                for outY in 0..<size {
                    let (y0, y1, wy) = bilinearTap(outY, scale: scaleY, sourceSize: format.height)
                    for outX in 0..<size {
                        let (x0, x1, wx) = xTaps[outX]
                        let p00 = colour(x0, y0), p01 = colour(x1, y0)
                        let p10 = colour(x0, y1), p11 = colour(x1, y1)
                        let w00 = (1 - wx) * (1 - wy), w01 = wx * (1 - wy), w10 = (1 - wx) * wy, w11 = wx * wy
                        let r = p00.0 * w00 + p01.0 * w01 + p10.0 * w10 + p11.0 * w11
                        let g = p00.1 * w00 + p01.1 * w01 + p10.1 * w10 + p11.1 * w11
                        let b = p00.2 * w00 + p01.2 * w01 + p10.2 * w10 + p11.2 * w11
                        let index = outY * size + outX
                        out[redPlane + index] = r * scale
                        out[plane + index] = g * scale
                        out[bluePlane + index] = b * scale
                    }
                }
            }
        }
        return planar
    }

    /// The whole frame as RGB24 (MJPEG decoded; YUV converted with the frame's encoding, rounded to nearest).
    public static func rgb(_ frame: Frame) throws -> Image8 {
        let source = try decoded(frame)
        try validate(source)
        let format = source.format
        let width = format.width, height = format.height
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        if format.pixelFormat == .rgb24 && format.bytesPerLine == width * 3 {
            pixels.replaceSubrange(0..<pixels.count, with: source.bytes[0..<pixels.count])
            return Image8(width: width, height: height, channels: 3, pixels: pixels)
        }
        let table = LookupTables.shared(for: format.encoding)
        let stride = format.bytesPerLine
        source.bytes.withUnsafeBufferPointer { bytes in
            pixels.withUnsafeMutableBufferPointer { out in
                switch format.pixelFormat {
                case .yuyv, .uyvy:
                    // Packed 4:2:2: one chroma pair per two pixels; the chroma terms are looked up once per pair.
                    let (lumaOffset, uOffset, vOffset) = format.pixelFormat == .yuyv ? (0, 1, 3) : (1, 0, 2)
                    for y in 0..<height {
                        let row = y * stride
                        var o = y * width * 3
                        var x = 0
                        while x < width {
                            let pair = row + (x >> 1) * 4
                            let u = Int(bytes[pair + uOffset]), v = Int(bytes[pair + vOffset])
                            let red = table.crToR[v], green = table.cbToG[u] + table.crToG[v], blue = table.cbToB[u]
                            for half in 0..<min(2, width - x) {
                                let l = table.luma[Int(bytes[pair + lumaOffset + 2 * half])] + 32768
                                out[o] = UInt8(clamping: (l + red) >> 16)
                                out[o + 1] = UInt8(clamping: (l + green) >> 16)
                                out[o + 2] = UInt8(clamping: (l + blue) >> 16)
                                o += 3
                            }
                            x += 2
                        }
                    }
                case .rgb24:
                    for y in 0..<height {
                        for index in 0..<(width * 3) { out[y * width * 3 + index] = bytes[y * stride + index] }
                    }
                default:
                    for y in 0..<height {
                        var o = y * width * 3
                        for x in 0..<width {
                            let (a, b, c) = sampleOffsets(format, x: x, y: y)
                            let (r, g, bl) = table.rgb(y: bytes[a], u: bytes[b], v: bytes[c])
                            out[o] = r; out[o + 1] = g; out[o + 2] = bl
                            o += 3
                        }
                    }
                }
            }
        }
        return Image8(width: width, height: height, channels: 3, pixels: pixels)
    }

    /// Fixed-point lookup tables (16 fractional bits) for whole-frame conversion.
    final class LookupTables: Sendable {
        let luma: [Int32], crToR: [Int32], cbToG: [Int32], crToG: [Int32], cbToB: [Int32]

        init(_ encoding: YCbCrEncoding) {
            let c = Coefficients(encoding)
            func table(_ f: (Float) -> Float) -> [Int32] { (0..<256).map { Int32((f(Float($0)) * 65536).rounded()) } }
            luma = table { ($0 - c.yOffset) * c.yGain }
            crToR = table { c.crToR * ($0 - 128) * c.chromaGain }
            cbToG = table { c.cbToG * ($0 - 128) * c.chromaGain }
            crToG = table { c.crToG * ($0 - 128) * c.chromaGain }
            cbToB = table { c.cbToB * ($0 - 128) * c.chromaGain }
        }

        static let bt601Limited = LookupTables(.bt601Limited)
        static let bt709Limited = LookupTables(.bt709Limited)
        static let bt601Full = LookupTables(YCbCrEncoding(bt709: false, fullRange: true))
        static let bt709Full = LookupTables(YCbCrEncoding(bt709: true, fullRange: true))

        static func shared(for encoding: YCbCrEncoding) -> LookupTables {
            switch (encoding.bt709, encoding.fullRange) {
            case (false, false): return bt601Limited
            case (true, false): return bt709Limited
            case (false, true): return bt601Full
            case (true, true): return bt709Full
            }
        }

        @inline(__always)
        func rgb(y: UInt8, u: UInt8, v: UInt8) -> (UInt8, UInt8, UInt8) {
            let l = luma[Int(y)] + 32768
            @inline(__always) func pack(_ value: Int32) -> UInt8 { UInt8(clamping: value >> 16) }
            return (pack(l + crToR[Int(v)]), pack(l + cbToG[Int(u)] + crToG[Int(v)]), pack(l + cbToB[Int(u)]))
        }
    }
}
