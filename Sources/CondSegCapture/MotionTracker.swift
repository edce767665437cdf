// MotionTracker.swift: follows the camera motion over the displayed frames so that a mask computed on an older
// frame can be drawn where the tissue is now. Every displayed frame is aligned to the previous one (small
// motion, easy to track) and the steps are chained; when a mask's frame is to be moved onto the current frame,
// the chained motion is the starting point of a direct alignment of the two frames (which removes the drift of
// the chain and gives the reliability). Memory is bounded: a fixed ring of recent chained poses, one pyramid.
import CondSegImage
import Foundation

/// Motion from a key frame (where a mask was computed) to the current frame, and whether to trust it.
public struct KeyMotion: Sendable {
    /// Current-frame pixel → key-frame pixel.
    public var currentToKey: Similarity
    public var reliable: Bool
    public var correlation: Double
}

/// Chains frame-to-frame motion over displayed frames and aligns key frames to the current one.
public final class MotionTracker {
    public let estimator: MotionEstimator
    /// Chained poses kept for this many recent frames.
    public let historyLength: Int

    private struct Entry {
        var sequence: UInt64
        /// Frame pixel → the chain's reference pixel.
        var toReference: Similarity
        var chain: Int
    }

    private var history: [Entry] = []
    private var previous: (sequence: UInt64, pyramid: LumaPyramid)?
    private var chain = 0
    /// Frame-to-frame steps that could not be aligned (a cut, a flash, a blank frame): the chain restarts.
    public private(set) var brokenSteps = 0

    public init(estimator: MotionEstimator = MotionEstimator(), historyLength: Int = 128) {
        self.estimator = estimator
        self.historyLength = max(2, historyLength)
    }

    /// Forgets everything (after lost video or a format change).
    public func reset() {
        history.removeAll()
        previous = nil
        chain += 1
    }

    /// Adds the next displayed frame (in display order) and returns its luma pyramid.
    @discardableResult
    public func add(sequence: UInt64, pyramid: LumaPyramid) -> LumaPyramid {
        var pose = Similarity.identity
        if let previous, previous.pyramid.frameWidth == pyramid.frameWidth, previous.pyramid.frameHeight == pyramid.frameHeight,
           let last = history.last, last.sequence == previous.sequence {
            let unchanged = (MotionTracker.meanDifference(previous.pyramid, pyramid) ?? .infinity) < MotionTracker.unchangedDifference
            let step = unchanged ? MotionEstimate(currentToKey: .identity, correlation: 1, overlap: 1, reliable: true)
                : estimator.estimate(key: previous.pyramid, current: pyramid, finestLevel: 1)
            if step.reliable {
                pose = last.toReference.composed(after: step.currentToKey)
            } else {
                brokenSteps += 1
                chain += 1
            }
        } else {
            chain += 1
        }
        history.append(Entry(sequence: sequence, toReference: pose, chain: chain))
        if history.count > historyLength { history.removeFirst(history.count - historyLength) }
        previous = (sequence, pyramid)
        return pyramid
    }

    /// Motion from the key frame `keySequence` (its pyramid `key`) to the frame added last (`current`).
    /// The chain gives the start when it links both frames (or a frame near the key); otherwise the
    /// alignment starts from no motion.
    public func motion(keySequence: UInt64, key: LumaPyramid, current: LumaPyramid) -> KeyMotion {
        // A frame that has not changed needs no motion, textured or not (a flat picture cannot be aligned).
        if let difference = MotionTracker.meanDifference(key, current), difference < MotionTracker.unchangedDifference {
            return KeyMotion(currentToKey: .identity, reliable: true, correlation: 1)
        }
        var initial = Similarity.identity
        var chained = false
        if let now = history.last {
            let linked = history.filter { $0.chain == now.chain }
            if let nearest = linked.min(by: { distance($0.sequence, keySequence) < distance($1.sequence, keySequence) }) {
                initial = nearest.toReference.inverse.composed(after: now.toReference)
                chained = distance(nearest.sequence, keySequence) <= 2
            }
        }
        // With the chain's start the motion left is small: the coarsest level adds nothing.
        let estimate = estimator.estimate(key: key, current: current, initial: initial, coarsestLevel: chained ? 1 : nil)
        return KeyMotion(currentToKey: estimate.currentToKey, reliable: estimate.reliable, correlation: estimate.correlation)
    }

    private func distance(_ a: UInt64, _ b: UInt64) -> UInt64 { a > b ? a - b : b - a }

    /// Mean absolute luma difference (0…255) below which two frames count as the same picture.
    static let unchangedDifference: Float = 0.5

    /// Mean absolute difference of the finest levels, or nil when the frames differ in size.
    static func meanDifference(_ a: LumaPyramid, _ b: LumaPyramid) -> Float? {
        guard a.frameWidth == b.frameWidth, a.frameHeight == b.frameHeight, let la = a.levels.first, let lb = b.levels.first,
              la.pixels.count == lb.pixels.count, !la.pixels.isEmpty else { return nil }
        var sum: Float = 0
        la.pixels.withUnsafeBufferPointer { pa in
            lb.pixels.withUnsafeBufferPointer { pb in
                for i in 0..<pa.count { sum += abs(pa[i] - pb[i]) }
            }
        }
        return sum / Float(la.pixels.count)
    }
}
