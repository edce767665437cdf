// MotionEstimator.swift: global image motion between two video frames, so that a mask computed on an older
// frame can be moved onto the frame being shown. The method is direct image alignment (Lucas–Kanade /
// Gauss–Newton) of a similarity transform plus gain and bias on a three-level pyramid of downscaled luma
// (about 160 pixels wide), with Huber weights against specular highlights and local tissue motion.
// Why this method: the camera motion of an endoscope is close to a global similarity over a second; smooth,
// low-texture mucosa gives few reliable corners for sparse flow, and phase correlation needs a log-polar
// resampling for rotation and zoom; a direct method uses every pixel's gradient, needs no FFT, and its
// aligned normalised cross-correlation is a natural reliability measure (a scene cut or a failed
// alignment correlates badly). Near-black pixels (the endoscope's dark border, outside the view) are ignored.
import CondSegImage
import Foundation

/// A similarity transform of the image plane: x' = a·x − b·y + tx, y' = b·x + a·y + ty
/// (scale √(a²+b²), rotation atan2(b, a)); pixel centres are at integer coordinates.
public struct Similarity: Equatable, Sendable, CustomStringConvertible {
    public var a: Double
    public var b: Double
    public var tx: Double
    public var ty: Double

    public init(a: Double, b: Double, tx: Double, ty: Double) {
        self.a = a; self.b = b; self.tx = tx; self.ty = ty
    }

    /// Scale `scale`, rotation `radians` (counter-clockwise in x-right/y-down pixel axes turns x towards y),
    /// then translation.
    public init(scale: Double, radians: Double, tx: Double, ty: Double) {
        self.init(a: scale * cos(radians), b: scale * sin(radians), tx: tx, ty: ty)
    }

    public static let identity = Similarity(a: 1, b: 0, tx: 0, ty: 0)

    public var scale: Double { (a * a + b * b).squareRoot() }
    public var radians: Double { atan2(b, a) }

    /// The transform applied to a point.
    @inline(__always)
    public func apply(_ x: Double, _ y: Double) -> (x: Double, y: Double) {
        (a * x - b * y + tx, b * x + a * y + ty)
    }

    /// The inverse transform (the scale must not be zero).
    public var inverse: Similarity {
        let norm = a * a + b * b
        let ia = a / norm, ib = -b / norm
        return Similarity(a: ia, b: ib, tx: -(ia * tx - ib * ty), ty: -(ib * tx + ia * ty))
    }

    /// `self ∘ other`: first `other`, then `self`.
    public func composed(after other: Similarity) -> Similarity {
        let (ctx, cty) = apply(other.tx, other.ty)
        return Similarity(a: a * other.a - b * other.b, b: a * other.b + b * other.a, tx: ctx, ty: cty)
    }

    /// The same motion in a coordinate system where big = factor·small + offset (both axes):
    /// small ↦ (self(factor·small + offset) − offset) / factor.
    public func inSmallCoordinates(factor: Double, offsetX: Double, offsetY: Double) -> Similarity {
        let (mx, my) = apply(offsetX, offsetY)
        return Similarity(a: a, b: b, tx: (mx - offsetX) / factor, ty: (my - offsetY) / factor)
    }

    /// The inverse of `inSmallCoordinates`: a small-coordinate motion expressed in big coordinates.
    public func inBigCoordinates(factor: Double, offsetX: Double, offsetY: Double) -> Similarity {
        let linear = Similarity(a: a, b: b, tx: 0, ty: 0)
        let (ox, oy) = linear.apply(offsetX, offsetY)
        return Similarity(a: a, b: b, tx: factor * tx + offsetX - ox, ty: factor * ty + offsetY - oy)
    }

    public var description: String {
        String(format: "scale %.4f rotation %.2f° translation (%.2f, %.2f)", scale, radians * 180 / .pi, tx, ty)
    }
}

/// A single-channel float image (luma, 0…255).
public struct LumaImage: Sendable {
    public let width: Int
    public let height: Int
    public var pixels: [Float]

    public init(width: Int, height: Int, pixels: [Float]) {
        precondition(pixels.count == width * height, "LumaImage: \(pixels.count) values for \(width)x\(height)")
        self.width = width; self.height = height; self.pixels = pixels
    }

    /// Half size by 2×2 averaging (an odd last row or column is dropped).
    func halved() -> LumaImage {
        let w = max(1, width / 2), h = max(1, height / 2)
        var out = [Float](repeating: 0, count: w * h)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<h {
                    let r0 = min(2 * y, height - 1) * width, r1 = min(2 * y + 1, height - 1) * width
                    for x in 0..<w {
                        let x0 = min(2 * x, width - 1), x1 = min(2 * x + 1, width - 1)
                        dst[y * w + x] = 0.25 * (src[r0 + x0] + src[r0 + x1] + src[r1 + x0] + src[r1 + x1])
                    }
                }
            }
        }
        return LumaImage(width: w, height: h, pixels: out)
    }
}

/// The downscaled luma of one frame at three scales, and how its coordinates map to the frame's.
public struct LumaPyramid: Sendable {
    /// Size of the frame it was made from.
    public let frameWidth: Int
    public let frameHeight: Int
    /// Integer box-filter factor from the frame to level 0.
    public let factor: Int
    /// Level 0 is the finest (frame / factor), each next level half of the previous.
    public let levels: [LumaImage]

    /// Width of level 0 the factor is chosen for.
    public static let targetWidth = 160
    public static let levelCount = 3

    /// The box factor for a frame width: level 0 is about `targetWidth` wide (never upscaled).
    public static func factor(forWidth width: Int) -> Int {
        max(1, Int((Double(width) / Double(targetWidth)).rounded()))
    }

    /// From an RGB (or grey) image: luma = (77 R + 150 G + 29 B) / 256, averaged over factor×factor blocks.
    public init(rgb image: Image8) {
        let f = LumaPyramid.factor(forWidth: image.width)
        let w = max(1, image.width / f), h = max(1, image.height / f)
        var base = [Float](repeating: 0, count: w * h)
        let channels = image.channels, stride = image.width * channels
        image.pixels.withUnsafeBufferPointer { src in
            base.withUnsafeMutableBufferPointer { dst in
                let norm = 1 / Float(256 * f * f)
                for y in 0..<h {
                    for x in 0..<w {
                        var sum = 0
                        for dy in 0..<f {
                            var offset = (y * f + dy) * stride + x * f * channels
                            for _ in 0..<f {
                                if channels >= 3 {
                                    sum += 77 * Int(src[offset]) + 150 * Int(src[offset + 1]) + 29 * Int(src[offset + 2])
                                } else {
                                    sum += 256 * Int(src[offset])
                                }
                                offset += channels
                            }
                        }
                        dst[y * w + x] = Float(sum) * norm
                    }
                }
            }
        }
        self.init(frameWidth: image.width, frameHeight: image.height, factor: f,
                  base: LumaImage(width: w, height: h, pixels: base))
    }

    /// From a full-size luma plane (0…255) of a frame.
    public init(luma plane: [Float], width: Int, height: Int) {
        let f = LumaPyramid.factor(forWidth: width)
        let w = max(1, width / f), h = max(1, height / f)
        var base = [Float](repeating: 0, count: w * h)
        plane.withUnsafeBufferPointer { src in
            base.withUnsafeMutableBufferPointer { dst in
                let norm = 1 / Float(f * f)
                for y in 0..<h {
                    for x in 0..<w {
                        var sum: Float = 0
                        for dy in 0..<f {
                            let row = (y * f + dy) * width + x * f
                            for dx in 0..<f { sum += src[row + dx] }
                        }
                        dst[y * w + x] = sum * norm
                    }
                }
            }
        }
        self.init(frameWidth: width, frameHeight: height, factor: f, base: LumaImage(width: w, height: h, pixels: base))
    }

    init(frameWidth: Int, frameHeight: Int, factor: Int, base: LumaImage) {
        self.frameWidth = frameWidth
        self.frameHeight = frameHeight
        self.factor = factor
        var levels = [base]
        while levels.count < LumaPyramid.levelCount, levels.last!.width >= 16, levels.last!.height >= 16 {
            levels.append(levels.last!.halved())
        }
        self.levels = levels
    }

    /// Frame coordinate = scale·level coordinate + offset, for a level.
    func mapping(level: Int) -> (scale: Double, offset: Double) {
        var scale = Double(factor), offset = Double(factor - 1) / 2
        for _ in 0..<level {
            offset += 0.5 * scale
            scale *= 2
        }
        return (scale, offset)
    }
}

/// The result of aligning two frames.
public struct MotionEstimate: Sendable {
    /// Maps coordinates of the current frame to the key frame's (full-frame pixels).
    public var currentToKey: Similarity
    /// Normalised cross-correlation of the aligned images over the pixels both see (1 = identical).
    public var correlation: Double
    /// Fraction of the current frame's pixels that the key frame covers and that are not near-black.
    public var overlap: Double
    /// True when the alignment can be trusted (see `MotionEstimator.Settings`).
    public var reliable: Bool
}

/// Estimates the similarity motion between two luma pyramids.
public struct MotionEstimator: Sendable {
    /// Thresholds of the estimator.
    public struct Settings: Sendable {
        /// Minimum aligned normalised cross-correlation for a reliable estimate.
        public var minimumCorrelation = 0.75
        /// Minimum fraction of usable overlapping pixels.
        public var minimumOverlap = 0.3
        /// Scale change between the two frames outside 1/this…this is not believed.
        public var maximumScaleChange = 1.6
        /// Rotation beyond this many degrees between the two frames is not believed.
        public var maximumRotationDegrees = 45.0
        /// Pixels darker than this (luma, 0…255) are ignored: the scope's black border and outside the view.
        public var darkThreshold: Float = 12
        /// Gauss–Newton iterations per pyramid level (at most).
        public var iterationsPerLevel = 12
        /// Huber threshold of the residual, in luma units.
        public var huberThreshold: Float = 12
        /// Levels with more pixels than this are sampled on every other row and column.
        public var fullSamplingPixels = 12_000
        public init() {}
    }

    public var settings: Settings

    public init(settings: Settings = Settings()) { self.settings = settings }

    /// Aligns `current` to `key`, starting from `initial` (current → key, frame pixels). `finestLevel` > 0
    /// stops the refinement above the finest level (cheaper, less precise); `coarsestLevel` below the top
    /// starts lower (when `initial` is already close). The reliability is always judged at the finest level.
    public func estimate(key: LumaPyramid, current: LumaPyramid, initial: Similarity = .identity,
                         finestLevel: Int = 0, coarsestLevel: Int? = nil) -> MotionEstimate {
        let levels = min(key.levels.count, current.levels.count)
        guard levels > 0, key.factor == current.factor, key.frameWidth == current.frameWidth,
              key.frameHeight == current.frameHeight, key.frameWidth > 0 else {
            return MotionEstimate(currentToKey: initial, correlation: 0, overlap: 0, reliable: false)
        }
        var transform = initial
        var gain = 1.0, bias = 0.0
        let top = min(levels - 1, coarsestLevel ?? levels - 1)
        let bottom = min(max(0, finestLevel), top)
        for level in stride(from: top, through: bottom, by: -1) {
            let (scale, offset) = key.mapping(level: level)
            var small = transform.inSmallCoordinates(factor: scale, offsetX: offset, offsetY: offset)
            refine(&small, gain: &gain, bias: &bias, key: key.levels[level], current: current.levels[level])
            transform = small.inBigCoordinates(factor: scale, offsetX: offset, offsetY: offset)
        }
        let (scale, offset) = key.mapping(level: 0)
        let small = transform.inSmallCoordinates(factor: scale, offsetX: offset, offsetY: offset)
        let (correlation, overlap) = agreement(small, key: key.levels[0], current: current.levels[0])
        let scaleChange = transform.scale
        let reliable = correlation.isFinite && correlation >= settings.minimumCorrelation
            && overlap >= settings.minimumOverlap
            && scaleChange <= settings.maximumScaleChange && scaleChange >= 1 / settings.maximumScaleChange
            && abs(transform.radians) * 180 / .pi <= settings.maximumRotationDegrees
            && transform.tx.isFinite && transform.ty.isFinite
        return MotionEstimate(currentToKey: transform, correlation: correlation.isFinite ? correlation : 0,
                              overlap: overlap, reliable: reliable)
    }

    /// Gauss–Newton on one level: parameters (a, b, tx, ty) in coordinates centred on the level's middle,
    /// plus gain and bias of the key image; residual r = gain·K(G x) + bias − C(x).
    private func refine(_ transform: inout Similarity, gain: inout Double, bias: inout Double,
                        key: LumaImage, current: LumaImage) {
        let kw = key.width, kh = key.height, cw = current.width, ch = current.height
        guard kw >= 3, kh >= 3, cw >= 1, ch >= 1 else { return }
        // Central-difference gradients of the key, once per level (zero on the border).
        var gradientX = [Float](repeating: 0, count: kw * kh), gradientY = gradientX
        key.pixels.withUnsafeBufferPointer { K in
            gradientX.withUnsafeMutableBufferPointer { GX in
                gradientY.withUnsafeMutableBufferPointer { GY in
                    for y in 1..<(kh - 1) {
                        for x in 1..<(kw - 1) {
                            let i = y * kw + x
                            GX[i] = 0.5 * (K[i + 1] - K[i - 1])
                            GY[i] = 0.5 * (K[i + kw] - K[i - kw])
                        }
                    }
                }
            }
        }
        // Centre the coordinates (of the current frame) for a well-conditioned system.
        let cx = Double(cw - 1) / 2, cy = Double(ch - 1) / 2
        var centred = transform.composed(after: Similarity(a: 1, b: 0, tx: cx, ty: cy))
        let dark = settings.darkThreshold, huber = settings.huberThreshold
        let maxX = Float(kw - 2), maxY = Float(kh - 2)
        // Large levels are sampled on every other row and column: a quarter of the work, the same optimum.
        let sampling = cw * ch > settings.fullSamplingPixels ? 2 : 1
        key.pixels.withUnsafeBufferPointer { K in
        gradientX.withUnsafeBufferPointer { GX in
        gradientY.withUnsafeBufferPointer { GY in
        current.pixels.withUnsafeBufferPointer { C in
            for _ in 0..<settings.iterationsPerLevel {
                // Upper triangle of JᵀWJ (21 terms) and JᵀWr (6 terms), in Double.
                var h00 = 0.0, h01 = 0.0, h02 = 0.0, h03 = 0.0, h04 = 0.0, h05 = 0.0
                var h11 = 0.0, h12 = 0.0, h13 = 0.0, h14 = 0.0, h15 = 0.0
                var h22 = 0.0, h23 = 0.0, h24 = 0.0, h25 = 0.0
                var h33 = 0.0, h34 = 0.0, h35 = 0.0
                var h44 = 0.0, h45 = 0.0, h55 = 0.0
                var g0 = 0.0, g1 = 0.0, g2 = 0.0, g3 = 0.0, g4 = 0.0, g5 = 0.0
                var used = 0
                let a = Float(centred.a), b = Float(centred.b), tx = Float(centred.tx), ty = Float(centred.ty)
                let fgain = Float(gain), fbias = Float(bias)
                let stepA = a * Float(sampling), stepB = b * Float(sampling), stepX = Float(sampling)
                for y in stride(from: 0, to: ch, by: sampling) {
                    let yc = Float(y) - Float(cy)
                    // Row start in key coordinates; each sampled column adds (a, b)·sampling.
                    var kx = -Float(cx) * a - b * yc + tx
                    var ky = -Float(cx) * b + a * yc + ty
                    var xc = -Float(cx)
                    let row = y * cw
                    for x in stride(from: 0, to: cw, by: sampling) {
                        defer { kx += stepA; ky += stepB; xc += stepX }
                        let value = C[row + x]
                        if value < dark { continue }
                        guard kx >= 1, ky >= 1, kx < maxX, ky < maxY else { continue }
                        let x0 = Int(kx), y0 = Int(ky)
                        let fx = kx - Float(x0), fy = ky - Float(y0)
                        let i = y0 * kw + x0
                        let p00 = K[i], p01 = K[i + 1], p10 = K[i + kw], p11 = K[i + kw + 1]
                        if p00 < dark || p01 < dark || p10 < dark || p11 < dark { continue }
                        let w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy), w10 = (1 - fx) * fy, w11 = fx * fy
                        let sample = w00 * p00 + w01 * p01 + w10 * p10 + w11 * p11
                        let gradX = fgain * (w00 * GX[i] + w01 * GX[i + 1] + w10 * GX[i + kw] + w11 * GX[i + kw + 1])
                        let gradY = fgain * (w00 * GY[i] + w01 * GY[i + 1] + w10 * GY[i + kw] + w11 * GY[i + kw + 1])
                        let residual = fgain * sample + fbias - value
                        let magnitude = abs(residual)
                        let weight = magnitude <= huber ? 1 : huber / magnitude
                        let j0 = Double(gradX * xc + gradY * yc), j1 = Double(gradY * xc - gradX * yc)
                        let j2 = Double(gradX), j3 = Double(gradY), j4 = Double(sample)
                        let w = Double(weight), wr = w * Double(residual)
                        let wj0 = w * j0, wj1 = w * j1, wj2 = w * j2, wj3 = w * j3, wj4 = w * j4
                        h00 += wj0 * j0; h01 += wj0 * j1; h02 += wj0 * j2; h03 += wj0 * j3; h04 += wj0 * j4; h05 += wj0
                        h11 += wj1 * j1; h12 += wj1 * j2; h13 += wj1 * j3; h14 += wj1 * j4; h15 += wj1
                        h22 += wj2 * j2; h23 += wj2 * j3; h24 += wj2 * j4; h25 += wj2
                        h33 += wj3 * j3; h34 += wj3 * j4; h35 += wj3
                        h44 += wj4 * j4; h45 += wj4; h55 += w
                        g0 += j0 * wr; g1 += j1 * wr; g2 += j2 * wr; g3 += j3 * wr; g4 += j4 * wr; g5 += wr
                        used += 1
                    }
                }
                guard used >= 24 else { return }
                var matrix = [h00, h01, h02, h03, h04, h05,
                              h01, h11, h12, h13, h14, h15,
                              h02, h12, h22, h23, h24, h25,
                              h03, h13, h23, h33, h34, h35,
                              h04, h14, h24, h34, h44, h45,
                              h05, h15, h25, h35, h45, h55]
                // Damp slightly (Levenberg): keeps a flat image from producing a wild step.
                for r in 0..<6 { matrix[r * 6 + r] = matrix[r * 6 + r] * 1.0001 + 1e-6 }
                guard let step = MotionEstimator.solve6(matrix, [-g0, -g1, -g2, -g3, -g4, -g5]) else { return }
                centred.a += step[0]; centred.b += step[1]; centred.tx += step[2]; centred.ty += step[3]
                gain += step[4]; bias += step[5]
                if !(gain > 0.2 && gain < 5) { gain = 1; bias = 0 }
                // Converged when the frame's corners move by less than 0.02 level pixels.
                let reach = Double(max(cw, ch))
                if abs(step[2]) + reach * (abs(step[0]) + abs(step[1])) < 0.02 && abs(step[3]) < 0.02 { break }
            }
        }}}}
        transform = centred.composed(after: Similarity(a: 1, b: 0, tx: -cx, ty: -cy))
    }

    /// Correlation of K(G x) with C(x) over the usable overlap, and the overlap fraction.
    private func agreement(_ transform: Similarity, key: LumaImage, current: LumaImage) -> (Double, Double) {
        let kw = key.width, kh = key.height, cw = current.width, ch = current.height
        var n = 0.0, sk = 0.0, sc = 0.0, skk = 0.0, scc = 0.0, skc = 0.0
        let dark = settings.darkThreshold
        key.pixels.withUnsafeBufferPointer { K in
            current.pixels.withUnsafeBufferPointer { C in
                for y in 0..<ch {
                    for x in 0..<cw {
                        let value = C[y * cw + x]
                        if value < dark { continue }
                        let (kx, ky) = transform.apply(Double(x), Double(y))
                        guard kx >= 0, ky >= 0, kx < Double(kw - 1), ky < Double(kh - 1) else { continue }
                        let x0 = Int(kx), y0 = Int(ky)
                        let fx = Float(kx - Double(x0)), fy = Float(ky - Double(y0))
                        let i = y0 * kw + x0
                        let p00 = K[i], p01 = K[i + 1], p10 = K[i + kw], p11 = K[i + kw + 1]
                        if p00 < dark || p01 < dark || p10 < dark || p11 < dark { continue }
                        let top = p00 + fx * (p01 - p00), bottom = p10 + fx * (p11 - p10)
                        let sample = Double(top + fy * (bottom - top)), v = Double(value)
                        n += 1; sk += sample; sc += v; skk += sample * sample; scc += v * v; skc += sample * v
                    }
                }
            }
        }
        guard n >= 16 else { return (0, n / Double(max(1, cw * ch))) }
        let covariance = skc - sk * sc / n
        let varianceK = skk - sk * sk / n, varianceC = scc - sc * sc / n
        // A flat overlap (no texture) cannot confirm any alignment.
        guard varianceK > n * 1.0, varianceC > n * 1.0 else { return (0, n / Double(cw * ch)) }
        return (covariance / (varianceK * varianceC).squareRoot(), n / Double(cw * ch))
    }

    /// Solves the 6×6 system by Gaussian elimination with partial pivoting; nil when singular.
    static func solve6(_ matrix: [Double], _ rhs: [Double]) -> [Double]? {
        var m = matrix, v = rhs
        let n = 6
        for col in 0..<n {
            var pivot = col
            for row in (col + 1)..<n where abs(m[row * n + col]) > abs(m[pivot * n + col]) { pivot = row }
            guard abs(m[pivot * n + col]) > 1e-12 else { return nil }
            if pivot != col {
                for k in 0..<n { m.swapAt(col * n + k, pivot * n + k) }
                v.swapAt(col, pivot)
            }
            for row in (col + 1)..<n {
                let factor = m[row * n + col] / m[col * n + col]
                if factor == 0 { continue }
                for k in col..<n { m[row * n + k] -= factor * m[col * n + k] }
                v[row] -= factor * v[col]
            }
        }
        var x = [Double](repeating: 0, count: n)
        for row in stride(from: n - 1, through: 0, by: -1) {
            var sum = v[row]
            for k in (row + 1)..<n { sum -= m[row * n + k] * x[k] }
            x[row] = sum / m[row * n + row]
        }
        return x.allSatisfy(\.isFinite) ? x : nil
    }
}

/// Moving masks between frames.
public enum MaskWarp {
    /// The mask of a key frame (one byte per pixel) drawn on a frame of `width`×`height`: each pixel takes
    /// the key mask's value at `currentToKey` of its position (nearest pixel); outside the key frame, 0.
    public static func warp(_ mask: Image8, currentToKey: Similarity, width: Int, height: Int) -> Image8 {
        precondition(mask.channels == 1, "MaskWarp.warp: the mask must have one channel")
        var out = [UInt8](repeating: 0, count: width * height)
        let mw = mask.width, mh = mask.height
        let t = currentToKey
        mask.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    // Row start and per-column step in key coordinates (+0.5 to round to nearest).
                    var kx = t.a * 0 - t.b * Double(y) + t.tx + 0.5
                    var ky = t.b * 0 + t.a * Double(y) + t.ty + 0.5
                    let row = y * width
                    for x in 0..<width {
                        if kx >= 0 && ky >= 0 && kx < Double(mw) && ky < Double(mh) {
                            dst[row + x] = src[Int(ky) * mw + Int(kx)]
                        }
                        kx += t.a; ky += t.b
                    }
                }
            }
        }
        return Image8(width: width, height: height, channels: 1, pixels: out)
    }
}
