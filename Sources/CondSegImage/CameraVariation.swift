// CameraVariation.swift: a seeded "other camera" rendition of an image (different tone curve and white balance, a
// lower-resolution sensor, sometimes in-camera sharpening, a lossy JPEG encoder). `condseg calibrate --augment N`
// runs each calibration image and N such variants through the float model, so the int8 ranges also cover what
// other cameras and centres deliver. The parameters depend only on (seed, image index, variant index), so a
// calibration is the same whatever the thread count or the order the images are scheduled in.

import CondSegIO
import Foundation

/// The parameters of one camera variant and the function that renders it.
public struct CameraVariation: Sendable, Equatable {
    /// The seed `condseg calibrate --augment` uses (fixed, so a calibration can be repeated exactly).
    public static let calibrationSeed: UInt64 = 0x636F_6E64_7365_6763

    /// Range of `gamma`: each channel value x in [0, 1] becomes x^gamma (< 1 brightens, > 1 darkens).
    public static let gammaRange: ClosedRange<Double> = 0.7...1.4
    /// Range of each of `gains` (white balance: the channel is multiplied after the tone curve).
    public static let gainRange: ClosedRange<Double> = 0.85...1.15
    /// Range of `downscale`: the image is resized to this fraction of its size and back (a coarser sensor).
    public static let downscaleRange: ClosedRange<Double> = 0.4...0.8
    /// Range of `jpegQuality`.
    public static let jpegQualityRange: ClosedRange<Int> = 35...70
    /// Probability that a variant is sharpened (unsharp mask, radius `sharpenSigma`, amount `sharpenAmount`).
    public static let sharpenProbability = 0.5
    /// Gaussian sigma (pixels) of the unsharp mask's blur.
    public static let sharpenSigma = 2.0
    /// Unsharp mask amount: out = x + amount · (x − blur(x)).
    public static let sharpenAmount = 1.2

    /// Tone curve exponent, in `gammaRange`.
    public var gamma: Double
    /// Per-channel gains (R, G, B), each in `gainRange`; a gray image uses the first.
    public var gains: [Double]
    /// Resolution factor, in `downscaleRange`.
    public var downscale: Double
    /// Whether the unsharp mask is applied.
    public var sharpen: Bool
    /// JPEG quality of the final re-encode, in `jpegQualityRange`.
    public var jpegQuality: Int

    /// Explicit parameters (tests; the ranges are not enforced).
    public init(gamma: Double, gains: [Double], downscale: Double, sharpen: Bool, jpegQuality: Int) {
        precondition(gains.count == 3, "CameraVariation: \(gains.count) gains (need R, G, B)")
        self.gamma = gamma
        self.gains = gains
        self.downscale = downscale
        self.sharpen = sharpen
        self.jpegQuality = jpegQuality
    }

    /// The variant `variant` of image `image` under `seed`: each parameter drawn uniformly from its range by a
    /// `SplitMix64` whose state is mixed from the three numbers only.
    public init(seed: UInt64, image: Int, variant: Int) {
        var mixer = SplitMix64(seed: seed)
        mixer.state = mixer.next() ^ UInt64(bitPattern: Int64(image))
        mixer.state = mixer.next() ^ UInt64(bitPattern: Int64(variant))
        var random = SplitMix64(seed: mixer.next())
        func draw(_ range: ClosedRange<Double>) -> Double { random.uniform(range.lowerBound, range.upperBound) }
        let gamma = draw(Self.gammaRange)
        let gains = (0..<3).map { _ in draw(Self.gainRange) }
        let downscale = draw(Self.downscaleRange)
        let sharpen = random.chance(Self.sharpenProbability)
        let qualities = Self.jpegQualityRange
        let quality = qualities.lowerBound + Int(random.uniform(0, Double(qualities.count)))
        self.init(gamma: gamma, gains: gains, downscale: downscale, sharpen: sharpen,
                  jpegQuality: min(quality, qualities.upperBound))
    }

    /// The 256-entry lookup table of channel `channel`: round(255 · clamp((v/255)^gamma · gain, 0, 1)).
    public func toneTable(channel: Int) -> [UInt8] {
        let gain = gains[min(channel, 2)]
        return (0..<256).map { v in
            let y = min(1, max(0, pow(Double(v) / 255, gamma) * gain))
            return UInt8((y * 255).rounded())
        }
    }

    /// Renders the variant of `image` (gray is made RGB first; the result is RGB of the same width and height):
    /// tone curve and gains, bilinear resize (`Resize.bilinear`) down by `downscale` and back up, the unsharp mask
    /// when `sharpen`, then a JPEG encode at `jpegQuality` and decode. An empty image is returned unchanged.
    public func apply(to image: Image8) throws -> Image8 {
        guard image.width > 0 && image.height > 0 else { return image }
        var out = image.asRGB()
        let tables = (0..<3).map { toneTable(channel: image.channels == 1 ? 0 : $0) }
        for i in 0..<out.pixels.count { out.pixels[i] = tables[i % 3][Int(out.pixels[i])] }
        let smallWidth = max(1, Int((Double(out.width) * downscale).rounded()))
        let smallHeight = max(1, Int((Double(out.height) * downscale).rounded()))
        out = Resize.bilinear(Resize.bilinear(out, width: smallWidth, height: smallHeight),
                              width: image.width, height: image.height)
        if sharpen { out = Self.unsharpMask(out, sigma: Self.sharpenSigma, amount: Self.sharpenAmount) }
        let jpeg = try ImageCodec.encodeJPEG(out, quality: jpegQuality)
        return try ImageCodec.decodeJPEG(data: jpeg, name: "<camera variant>")
    }

    /// x + amount · (x − G_sigma * x) per channel, rounded and clipped to 0…255; the separable Gaussian (radius
    /// 3·sigma) repeats the edge pixels beyond the border.
    static func unsharpMask(_ image: Image8, sigma: Double, amount: Double) -> Image8 {
        let radius = max(1, Int((3 * sigma).rounded(.up)))
        var kernel = (-radius...radius).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        let w = image.width, h = image.height, c = image.channels
        let source = image.pixels.map(Double.init)
        var rows = [Double](repeating: 0, count: source.count)
        for y in 0..<h {
            for x in 0..<w {
                for ch in 0..<c {
                    var sum = 0.0
                    for k in -radius...radius { sum += kernel[k + radius] * source[(y * w + min(w - 1, max(0, x + k))) * c + ch] }
                    rows[(y * w + x) * c + ch] = sum
                }
            }
        }
        var out = image
        for y in 0..<h {
            for x in 0..<w {
                for ch in 0..<c {
                    var blur = 0.0
                    for k in -radius...radius { blur += kernel[k + radius] * rows[(min(h - 1, max(0, y + k)) * w + x) * c + ch] }
                    let i = (y * w + x) * c + ch
                    out.pixels[i] = UInt8(min(255, max(0, (source[i] + amount * (source[i] - blur)).rounded())))
                }
            }
        }
        return out
    }
}
