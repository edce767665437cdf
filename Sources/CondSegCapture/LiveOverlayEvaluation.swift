// LiveOverlayEvaluation.swift: what a clinician sees when the model is slower than the camera. A moving
// sequence (MotionSequences) is replayed at the camera rate; the model runs back to back, so its result for
// frame t is shown from frame t + camera/model on (simulated, independent of the machine). Every displayed
// frame is scored by the IoU of the overlay with that frame's true mask, three ways: the ceiling (the model's
// own mask for every frame), the uncompensated overlay (the newest finished mask as it is), and the
// motion-compensated overlay (that mask moved by the estimated motion, hidden when the estimate is unreliable).
import CondSegImage
import Foundation

/// The schedule: the camera and model rates, and which camera frame each model result belongs to.
public struct LiveSchedule: Sendable, Equatable {
    public let cameraFPS: Double
    public let modelFPS: Double

    public init(cameraFPS: Double, modelFPS: Double) {
        precondition(cameraFPS > 0 && modelFPS > 0, "LiveSchedule: rates must be positive")
        self.cameraFPS = cameraFPS
        self.modelFPS = modelFPS
    }

    /// Camera frames per model result (camera/model), at least 1: a model faster than the camera
    /// still sees each frame once.
    public var framesPerResult: Double { max(1, cameraFPS / modelFPS) }

    /// The camera frame the model's j-th run works on (runs start back to back).
    public func modelFrame(_ j: Int) -> Int { Int((Double(j) * framesPerResult).rounded()) }

    /// The model run whose result is on display at camera frame t (its result arrives with the next run's
    /// start, t_j + camera/model), or nil before the first result.
    public func shownResult(atFrame t: Int) -> Int? {
        guard t >= modelFrame(1) else { return nil }
        var j = max(0, Int(Double(t) / framesPerResult) - 1)
        while modelFrame(j + 2) <= t { j += 1 }
        while j > 0 && modelFrame(j + 1) > t { j -= 1 }
        return j
    }
}

/// Intersection over union of two 0/255 masks; 1 when both are empty.
public func maskIoU(_ a: [UInt8], _ b: [UInt8]) -> Double {
    precondition(a.count == b.count, "maskIoU: masks of different sizes")
    var intersection = 0, union = 0
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            for i in 0..<pa.count {
                let x = pa[i] >= 128, y = pb[i] >= 128
                if x && y { intersection += 1 }
                if x || y { union += 1 }
            }
        }
    }
    return union == 0 ? 1 : Double(intersection) / Double(union)
}

/// Per-frame IoUs of one way of drawing the overlay, and their summary.
public struct OverlayScores: Sendable {
    public var values: [Double] = []
    public init() {}
    public init(values: [Double]) { self.values = values }

    public var mean: Double { values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count) }

    /// Nearest-rank percentile (q in 0…100).
    public func percentile(_ q: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let rank = max(1, Int((q / 100 * Double(sorted.count)).rounded(.up)))
        return sorted[min(rank, sorted.count) - 1]
    }

    public static let reportedPercentiles: [Double] = [5, 10, 25, 50, 75, 90]

    /// {"mean_iou", "p5", …, "frames"}.
    public func jsonObject() -> [String: Any] {
        var object: [String: Any] = ["mean_iou": (mean * 1e6).rounded() / 1e6, "frames": values.count]
        for q in OverlayScores.reportedPercentiles {
            object["p\(Int(q))"] = (percentile(q) * 1e6).rounded() / 1e6
        }
        return object
    }
}

/// The scores of one or more sequences.
public struct LiveOverlayReport: Sendable {
    public var ceiling = OverlayScores()
    public var uncompensated = OverlayScores()
    public var compensated = OverlayScores()
    /// Scored frames on which the compensated overlay was hidden (unreliable motion).
    public var hiddenFrames = 0
    /// Every rendered frame, scored or not (frames before the first result are not scored).
    public var renderedFrames = 0
    public var sequences = 0
    /// Tracking per displayed frame: pyramid, chain step, key alignment and mask warp (wall clock, and the
    /// thread's CPU time, which a loaded machine inflates less).
    public var motionTime = DurationHistogram()
    public var motionCPUTime = DurationHistogram()
    public init() {}

    public mutating func merge(_ other: LiveOverlayReport) {
        ceiling.values += other.ceiling.values
        uncompensated.values += other.uncompensated.values
        compensated.values += other.compensated.values
        hiddenFrames += other.hiddenFrames
        renderedFrames += other.renderedFrames
        sequences += other.sequences
        motionTime.merge(other.motionTime)
        motionCPUTime.merge(other.motionCPUTime)
    }

    /// Share of the gap between the uncompensated overlay and the ceiling that compensation recovers
    /// (nil when there is no gap).
    public var recoveredFraction: Double? {
        let gap = ceiling.mean - uncompensated.mean
        guard gap > 1e-9 else { return nil }
        return (compensated.mean - uncompensated.mean) / gap
    }
}

/// Replays moving sequences and scores the overlay.
public enum LiveOverlayEvaluation {
    /// One sequence of `frameCount` camera frames over `scene` along `path`, under `schedule`.
    public static func evaluate(scene: StillScene, path: CameraPath, frameCount: Int, schedule: LiveSchedule,
                                estimator: MotionEstimator = MotionEstimator()) -> LiveOverlayReport {
        var report = LiveOverlayReport()
        report.sequences = 1
        let tracker = MotionTracker(estimator: estimator)
        // Model results by run index: the key frame's pyramid and the model's mask for it.
        var keys: [Int: (frame: Int, pyramid: LumaPyramid, mask: Image8)] = [:]
        var nextRun = 0
        for t in 0..<frameCount {
            let rendered = scene.render(pose: path.pose(atSeconds: Double(t) / schedule.cameraFPS))
            report.renderedFrames += 1
            let started = monotonicNanos(), startedCPU = threadCPUNanos()
            let pyramid = LumaPyramid(luma: rendered.luma, width: scene.width, height: scene.height)
            tracker.add(sequence: UInt64(t), pyramid: pyramid)
            var trackingNanos = monotonicNanos() - started
            var trackingCPUNanos = threadCPUNanos() - startedCPU
            while schedule.modelFrame(nextRun) == t {
                keys[nextRun] = (t, pyramid, rendered.prediction)
                nextRun += 1
            }
            guard let shown = schedule.shownResult(atFrame: t), let key = keys[shown] else { continue }
            keys = keys.filter { $0.key >= shown }
            let truth = rendered.truth.pixels
            report.ceiling.values.append(maskIoU(rendered.prediction.pixels, truth))
            report.uncompensated.values.append(maskIoU(key.mask.pixels, truth))
            let motionStarted = monotonicNanos(), motionStartedCPU = threadCPUNanos()
            let motion = tracker.motion(keySequence: UInt64(key.frame), key: key.pyramid, current: pyramid)
            var drawn: Image8?
            if motion.reliable {
                drawn = MaskWarp.warp(key.mask, currentToKey: motion.currentToKey, width: scene.width, height: scene.height)
            }
            trackingNanos += monotonicNanos() - motionStarted
            trackingCPUNanos += threadCPUNanos() - motionStartedCPU
            report.motionTime.record(milliseconds: Double(trackingNanos) / 1e6)
            report.motionCPUTime.record(milliseconds: Double(trackingCPUNanos) / 1e6)
            if let drawn {
                report.compensated.values.append(maskIoU(drawn.pixels, truth))
            } else {
                report.hiddenFrames += 1
                report.compensated.values.append(maskIoU([UInt8](repeating: 0, count: truth.count), truth))
            }
        }
        return report
    }
}

/// CPU time of the calling thread, in nanoseconds.
public func threadCPUNanos() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}
