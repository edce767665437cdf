// Metrics.swift — the paper's segmentation metrics (docs/architecture.md): per image Dice, IoU, recall and precision of a
// binary prediction against a binary ground truth, each with 1e-15 added to numerator and denominator;
// data-set figures are means over images.

/// Per-image figures of one prediction against its ground truth.
public struct SegmentationScores: Sendable, Equatable, Codable {
    public var dice: Double
    public var iou: Double
    public var recall: Double
    public var precision: Double

    /// Scores of `prediction` against `truth` (equal length, true = foreground).
    public init(prediction: [Bool], truth: [Bool]) {
        precondition(prediction.count == truth.count, "prediction and ground truth differ in size")
        var inter = 0, p = 0, g = 0
        for i in 0..<prediction.count {
            let a = prediction[i], b = truth[i]
            if a { p += 1 }
            if b { g += 1 }
            if a && b { inter += 1 }
        }
        let eps = 1e-15
        let i = Double(inter), ps = Double(p), gs = Double(g)
        dice = (2 * i + eps) / (ps + gs + eps)
        iou = (i + eps) / (ps + gs - i + eps)
        recall = (i + eps) / (gs + eps)
        precision = (i + eps) / (ps + eps)
    }

    public init(dice: Double, iou: Double, recall: Double, precision: Double) {
        self.dice = dice; self.iou = iou; self.recall = recall; self.precision = precision
    }

    /// Means over images (mDSC, mIoU, mean recall, mean precision).
    public static func mean(_ all: [SegmentationScores]) -> SegmentationScores {
        let n = Double(max(all.count, 1))
        return SegmentationScores(dice: all.reduce(0) { $0 + $1.dice } / n, iou: all.reduce(0) { $0 + $1.iou } / n,
                                  recall: all.reduce(0) { $0 + $1.recall } / n,
                                  precision: all.reduce(0) { $0 + $1.precision } / n)
    }
}
