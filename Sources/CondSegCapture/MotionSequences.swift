// MotionSequences.swift: moving video with ground truth, made from a still image and its mask. A smooth, seeded
// random camera path (translation, rotation, zoom) views the still; each frame and its mask are sampled through
// the same transform, so the true mask of every frame is known exactly.
//
// Default speeds (root-mean-square over a path): translation 15 % of the frame width per second, rotation
// 10°/s, zoom 10 %/s, each the sum of three sinusoids of 0.15–0.6 Hz (a hand steadying the scope, breathing,
// peristalsis), starting from a 1.25× view of the still. Why plausible: a colonoscope is withdrawn at about
// 6 minutes for some 1.5 m of colon (4 mm/s) with the mucosa 1–3 cm from a 140–170° lens, so at inspection
// distance the scene drifts a fraction of the field per second; tip deflection, shaft torque and patient
// motion add turns of tens of degrees over a few seconds, and approaching or backing off a polyp changes its
// size by some percent per second. These are estimates of typical inspection motion, not measurements;
// the command takes other speeds.
import CondSegIO
import CondSegImage
import Foundation

/// Speeds and shape of the random camera path.
public struct CameraMotionSettings: Sendable {
    /// Root-mean-square translation speed, in frame widths per second.
    public var translationSpeed = 0.15
    /// Root-mean-square rotation speed, degrees per second.
    public var rotationSpeedDegrees = 10.0
    /// Root-mean-square zoom rate (relative change of scale per second).
    public var zoomSpeed = 0.10
    /// Zoom of the first frame: the view shows 1/baseZoom of the still, leaving room to move.
    public var baseZoom = 1.25
    /// Frequency range of the path's sinusoids, in Hz.
    public var lowestFrequency = 0.15
    public var highestFrequency = 0.6
    public init() {}
}

/// A smooth random camera path over a still: the pose at time t maps frame pixels to still pixels.
public struct CameraPath: Sendable {
    public let width: Int
    public let height: Int
    public let settings: CameraMotionSettings
    /// Per degree of freedom (x, y, rotation, log-zoom): three (amplitude, angular frequency, phase).
    private let components: [[(amplitude: Double, omega: Double, phase: Double)]]

    public init(width: Int, height: Int, settings: CameraMotionSettings, seed: UInt64) {
        self.width = width
        self.height = height
        self.settings = settings
        var random = SplitMix64(seed: seed)
        // Three sinusoids per axis, each with velocity amplitude V: the RMS speed of one axis is V·√(3/2).
        let perAxis = (3.0 / 2).squareRoot()
        let translationV = settings.translationSpeed * Double(width) / 2.0.squareRoot() / perAxis
        let rotationV = settings.rotationSpeedDegrees * .pi / 180 / perAxis
        let zoomV = settings.zoomSpeed / perAxis
        components = [translationV, translationV, rotationV, zoomV].map { velocity in
            (0..<3).map { _ in
                let frequency = Double.random(in: settings.lowestFrequency...settings.highestFrequency, using: &random)
                let omega = 2 * Double.pi * frequency
                return (velocity / omega, omega, Double.random(in: 0..<(2 * .pi), using: &random))
            }
        }
    }

    private func offset(_ axis: Int, _ t: Double) -> Double {
        components[axis].reduce(0) { $0 + $1.amplitude * (sin($1.omega * t + $1.phase) - sin($1.phase)) }
    }

    /// Frame pixel → still pixel at `seconds`: a view centred on the still's centre plus the path's offset,
    /// turned by the path's angle and zoomed by baseZoom·exp(path's log-zoom).
    public func pose(atSeconds seconds: Double) -> Similarity {
        let zoom = settings.baseZoom * exp(offset(3, seconds))
        let angle = offset(2, seconds)
        let cx = Double(width - 1) / 2, cy = Double(height - 1) / 2
        let linear = Similarity(scale: 1 / zoom, radians: angle, tx: 0, ty: 0)
        let (rx, ry) = linear.apply(cx, cy)
        return Similarity(a: linear.a, b: linear.b,
                          tx: cx + offset(0, seconds) - rx, ty: cy + offset(1, seconds) - ry)
    }
}

/// One rendered frame of a sequence.
public struct RenderedFrame {
    /// Full-size luma of the frame (0…255).
    public var luma: [Float]
    /// True mask of the frame, 0 or 255.
    public var truth: Image8
    /// The model's mask for this frame (from the still's probabilities, moved with the frame), 0 or 255.
    public var prediction: Image8
}

/// A still, its mask and the model's probabilities for it, viewed through camera poses.
public struct StillScene {
    public let width: Int
    public let height: Int
    let luma: [Float]
    let mask: [Float]
    let probabilities: [Float]
    let probabilitySize: Int
    let threshold: Float

    /// - Parameters: rgb: the still; mask: its ground truth (one channel, same size; ≥ 128 is foreground);
    ///   probabilities: the model's output for the still at probabilitySize²; threshold: the mask threshold.
    public init(rgb: Image8, mask: Image8, probabilities: [Float], probabilitySize: Int, threshold: Float = 0.5) {
        precondition(mask.width == rgb.width && mask.height == rgb.height && mask.channels == 1,
                     "StillScene: the mask must be one channel at the image's size")
        precondition(probabilities.count == probabilitySize * probabilitySize, "StillScene: probabilities do not match their size")
        width = rgb.width
        height = rgb.height
        let channels = rgb.channels
        luma = (0..<(rgb.width * rgb.height)).map { index in
            let p = index * channels
            return channels >= 3 ? (77 * Float(rgb.pixels[p]) + 150 * Float(rgb.pixels[p + 1]) + 29 * Float(rgb.pixels[p + 2])) / 256
                : Float(rgb.pixels[p])
        }
        self.mask = mask.pixels.map(Float.init)
        self.probabilities = probabilities
        self.probabilitySize = probabilitySize
        self.threshold = threshold
    }

    /// The frame seen through `pose` (frame pixel → still pixel): luma, true mask and model mask. Outside the
    /// still the frame is black and both masks are empty.
    public func render(pose: Similarity) -> RenderedFrame {
        let w = width, h = height, size = probabilitySize
        var lumaOut = [Float](repeating: 0, count: w * h)
        var truth = [UInt8](repeating: 0, count: w * h)
        var prediction = [UInt8](repeating: 0, count: w * h)
        let scaleX = Double(size) / Double(w), scaleY = Double(size) / Double(h)
        let maxX = Double(w - 1), maxY = Double(h - 1)
        luma.withUnsafeBufferPointer { L in
        mask.withUnsafeBufferPointer { M in
        probabilities.withUnsafeBufferPointer { P in
        lumaOut.withUnsafeMutableBufferPointer { outL in
        truth.withUnsafeMutableBufferPointer { outT in
        prediction.withUnsafeMutableBufferPointer { outP in
            for y in 0..<h {
                for x in 0..<w {
                    let (sx, sy) = pose.apply(Double(x), Double(y))
                    guard sx >= 0, sy >= 0, sx <= maxX, sy <= maxY else { continue }
                    let x0 = min(Int(sx), w - 2 < 0 ? 0 : w - 2), y0 = min(Int(sy), h - 2 < 0 ? 0 : h - 2)
                    let x1 = min(x0 + 1, w - 1), y1 = min(y0 + 1, h - 1)
                    let fx = Float(sx - Double(x0)), fy = Float(sy - Double(y0))
                    @inline(__always) func sample(_ plane: UnsafeBufferPointer<Float>) -> Float {
                        let top = plane[y0 * w + x0] + fx * (plane[y0 * w + x1] - plane[y0 * w + x0])
                        let bottom = plane[y1 * w + x0] + fx * (plane[y1 * w + x1] - plane[y1 * w + x0])
                        return top + fy * (bottom - top)
                    }
                    let index = y * w + x
                    outL[index] = sample(L)
                    if sample(M) >= 127.5 { outT[index] = 255 }
                    // The model's output at the still's position, in its own pixel grid (half-pixel centres).
                    let u = min(max((sx + 0.5) * scaleX - 0.5, 0), Double(size - 1))
                    let v = min(max((sy + 0.5) * scaleY - 0.5, 0), Double(size - 1))
                    let u0 = min(Int(u), size - 1), v0 = min(Int(v), size - 1)
                    let u1 = min(u0 + 1, size - 1), v1 = min(v0 + 1, size - 1)
                    let fu = Float(u - Double(u0)), fv = Float(v - Double(v0))
                    let top = P[v0 * size + u0] + fu * (P[v0 * size + u1] - P[v0 * size + u0])
                    let bottom = P[v1 * size + u0] + fu * (P[v1 * size + u1] - P[v1 * size + u0])
                    if top + fv * (bottom - top) > threshold { outP[index] = 255 }
                }
            }
        }}}}}}
        return RenderedFrame(luma: lumaOut,
                             truth: Image8(width: w, height: h, channels: 1, pixels: truth),
                             prediction: Image8(width: w, height: h, channels: 1, pixels: prediction))
    }
}
