// TrainingData.swift — training samples and their augmentation. Items come from CondSegImage.Dataset (the
// Kvasir layout images/ + masks/ with optional list files, or any folder of image/mask pairs); images are
// decoded and OpenCV-resized to the model size once (CondSegImage) and cached as planar RGB floats in [0, 1];
// masks are read as grey, resized the same way and thresholded at ≥ 0.5 (docs/architecture.md).
//
// Augmentation, seeded (SplitMix64) so that a run and its resume see the same batches:
// - geometric (both stages, docs/architecture.md): rotation by U(−35°, 35°) with p 0.3 (bilinear image, nearest mask,
//   zero outside), horizontal and vertical flips with p 0.3 each, coarse dropout with p 0.3 (ten square holes
//   set to 0 in the image only; 32 px at 256, scaled with the model size);
// - strong (stage 1's x'): brightness, contrast, saturation factors U(0.7, 1.3), hue shift U(−0.1, 0.1) turns
//   (a rotation of the chroma plane in YIQ, an approximation of torchvision's HSV shift), random grayscale p 0.5,
//   Gaussian blur with σ ∈ U(0.1, 3) (separable, radius ⌈3σ⌉, reflected borders).

import CondSegCore
import CondSegIO
import CondSegImage
import Foundation

/// One training example at model size: planar RGB in [0, 1] (3·S·S) and a binary mask (S·S).
public struct TrainingSample: Sendable {
    public var rgb: [Float]
    public var mask: [Float]
    public var size: Int
}

/// A data set loaded into memory at model size.
public final class TrainingSet: @unchecked Sendable {
    public let items: [DatasetItem]
    public let size: Int
    public let samples: [TrainingSample]

    /// Loads every item of `directory` (with `list`), each with a mask, at `size`×`size`.
    public init(directory: String, list: String?, size: Int) throws {
        items = try Dataset.items(directory: directory, list: list, requireMasks: true)
        self.size = size
        samples = try items.map { try TrainingSet.load($0, size: size) }
    }

    static func load(_ item: DatasetItem, size: Int) throws -> TrainingSample {
        let image = try ImageCodec.decodeRGB(path: item.imagePath)
        let resized = (image.width == size && image.height == size) ? image : Resize.bilinear(image, width: size, height: size)
        let plane = size * size
        var rgb = [Float](repeating: 0, count: 3 * plane)
        for i in 0..<plane { for c in 0..<3 { rgb[c * plane + i] = Float(resized.pixels[3 * i + c]) / 255 } }
        let truth = try Dataset.groundTruth(maskPath: item.maskPath!, size: size)
        return TrainingSample(rgb: rgb, mask: truth.map { $0 ? 1 : 0 }, size: size)
    }
}

/// Seeded augmentations.
public enum Augment {
    /// Rotation ±35° (p 0.3), flips (p 0.3 each), coarse dropout (p 0.3), as in docs/architecture.md.
    public static func geometric(_ sample: TrainingSample, rng: inout SplitMix64) -> TrainingSample {
        var s = sample
        if rng.chance(0.3) { s = rotate(s, degrees: rng.uniform(-35, 35)) }
        if rng.chance(0.3) { s = flip(s, horizontal: true) }
        if rng.chance(0.3) { s = flip(s, horizontal: false) }
        if rng.chance(0.3) {
            let hole = max(1, 32 * s.size / 256)
            let plane = s.size * s.size
            for _ in 0..<10 {
                let y0 = Int(rng.uniform(0, Double(s.size - hole + 1))), x0 = Int(rng.uniform(0, Double(s.size - hole + 1)))
                for c in 0..<3 { for y in y0..<(y0 + hole) { for x in x0..<(x0 + hole) { s.rgb[c * plane + y * s.size + x] = 0 } } }
            }
        }
        return s
    }

    /// Mirror left-right (`horizontal`) or top-bottom.
    public static func flip(_ sample: TrainingSample, horizontal: Bool) -> TrainingSample {
        var s = sample
        let n = s.size
        for plane in 0..<4 {
            for y in 0..<n {
                for x in 0..<n {
                    let (sy, sx) = horizontal ? (y, n - 1 - x) : (n - 1 - y, x)
                    if plane < 3 { s.rgb[plane * n * n + y * n + x] = sample.rgb[plane * n * n + sy * n + sx] }
                    else { s.mask[y * n + x] = sample.mask[sy * n + sx] }
                }
            }
        }
        return s
    }

    /// Rotation about the centre; bilinear for the image, nearest for the mask, zero outside.
    public static func rotate(_ sample: TrainingSample, degrees: Double) -> TrainingSample {
        var s = sample
        let n = sample.size, plane = n * n
        let a = degrees * Double.pi / 180, ca = cos(a), sa = sin(a)
        let centre = Double(n - 1) / 2
        for y in 0..<n {
            for x in 0..<n {
                let dx = Double(x) - centre, dy = Double(y) - centre
                let sx = ca * dx + sa * dy + centre, sy = -sa * dx + ca * dy + centre
                let x0 = Int(sx.rounded(.down)), y0 = Int(sy.rounded(.down))
                let fx = Float(sx - Double(x0)), fy = Float(sy - Double(y0))
                for c in 0..<3 {
                    func at(_ yy: Int, _ xx: Int) -> Float {
                        (yy >= 0 && yy < n && xx >= 0 && xx < n) ? sample.rgb[c * plane + yy * n + xx] : 0
                    }
                    s.rgb[c * plane + y * n + x] = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1))
                        + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1))
                }
                let my = Int(sy.rounded()), mx = Int(sx.rounded())
                s.mask[y * n + x] = (my >= 0 && my < n && mx >= 0 && mx < n) ? sample.mask[my * n + mx] : 0
            }
        }
        return s
    }

    /// Stage 1's strong photometric augmentation of planar RGB in [0, 1] (the mask is unchanged).
    public static func strong(_ rgb: [Float], size n: Int, rng: inout SplitMix64) -> [Float] {
        let plane = n * n
        var r = Array(rgb[0..<plane]), g = Array(rgb[plane..<(2 * plane)]), b = Array(rgb[(2 * plane)...])
        func gray(_ i: Int) -> Float { 0.299 * r[i] + 0.587 * g[i] + 0.114 * b[i] }
        func clamp(_ v: Float) -> Float { min(max(v, 0), 1) }
        let brightness = Float(rng.uniform(0.7, 1.3)), contrast = Float(rng.uniform(0.7, 1.3))
        let saturation = Float(rng.uniform(0.7, 1.3)), hue = rng.uniform(-0.1, 0.1)
        for i in 0..<plane { r[i] = clamp(r[i] * brightness); g[i] = clamp(g[i] * brightness); b[i] = clamp(b[i] * brightness) }
        var mean: Float = 0
        for i in 0..<plane { mean += gray(i) }
        mean /= Float(plane)
        for i in 0..<plane {
            r[i] = clamp(contrast * r[i] + (1 - contrast) * mean)
            g[i] = clamp(contrast * g[i] + (1 - contrast) * mean)
            b[i] = clamp(contrast * b[i] + (1 - contrast) * mean)
        }
        for i in 0..<plane {
            let l = gray(i)
            r[i] = clamp(saturation * r[i] + (1 - saturation) * l)
            g[i] = clamp(saturation * g[i] + (1 - saturation) * l)
            b[i] = clamp(saturation * b[i] + (1 - saturation) * l)
        }
        let angle = Float(hue * 2 * Double.pi), ch = cos(angle), sh = sin(angle)
        for i in 0..<plane {
            let y = 0.299 * r[i] + 0.587 * g[i] + 0.114 * b[i]
            let iq = 0.596 * r[i] - 0.274 * g[i] - 0.322 * b[i]
            let q = 0.211 * r[i] - 0.523 * g[i] + 0.312 * b[i]
            let i2 = ch * iq - sh * q, q2 = sh * iq + ch * q
            r[i] = clamp(y + 0.956 * i2 + 0.621 * q2)
            g[i] = clamp(y - 0.272 * i2 - 0.647 * q2)
            b[i] = clamp(y - 1.106 * i2 + 1.703 * q2)
        }
        if rng.chance(0.5) { for i in 0..<plane { let l = gray(i); r[i] = l; g[i] = l; b[i] = l } }
        let sigma = rng.uniform(0.1, 3)
        return [blur(r, n, sigma), blur(g, n, sigma), blur(b, n, sigma)].flatMap { $0 }
    }

    /// Separable Gaussian blur, radius ⌈3σ⌉, reflected borders.
    static func blur(_ p: [Float], _ n: Int, _ sigma: Double) -> [Float] {
        let radius = max(1, Int((3 * sigma).rounded(.up)))
        var kernel = (-radius...radius).map { Float(exp(-Double($0 * $0) / (2 * sigma * sigma))) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        func reflect(_ i: Int) -> Int {
            var j = i
            while j < 0 || j >= n { j = j < 0 ? -j - 1 : 2 * n - j - 1 }
            return j
        }
        var tmp = [Float](repeating: 0, count: n * n), out = tmp
        for y in 0..<n { for x in 0..<n {
            var s: Float = 0
            for k in -radius...radius { s += kernel[k + radius] * p[y * n + reflect(x + k)] }
            tmp[y * n + x] = s
        } }
        for y in 0..<n { for x in 0..<n {
            var s: Float = 0
            for k in -radius...radius { s += kernel[k + radius] * tmp[reflect(y + k) * n + x] }
            out[y * n + x] = s
        } }
        return out
    }

    /// Network input N×3×S×S from RGB [0, 1] planes: channel order and scale of `config` (value·255·scale).
    public static func batchTensor(_ images: [[Float]], size: Int, config: ModelConfig) -> Tensor {
        let t = Tensor(n: images.count, c: 3, h: size, w: size)
        let plane = size * size
        let factor = 255 * config.scale
        for (k, rgb) in images.enumerated() {
            for c in 0..<3 {
                let source = config.channelOrderBGR ? 2 - c : c
                let dst = t.data + k * 3 * plane + c * plane
                for i in 0..<plane { dst[i] = (rgb[source * plane + i] * 255).rounded() / 255 * factor }
            }
        }
        return t
    }
}
