// Evaluation.swift — the paper's evaluation protocol (docs/architecture.md) over a data set laid out as DIR/images/ and
// DIR/masks/ with an optional list of names: prediction > 0.5 at model resolution against the ground-truth
// mask read as one grey channel, OpenCV-resized to the model size, /255 ≥ 0.5; metrics per image, then means.

import CondSegCore
import CondSegImage
import Foundation

/// Figures of an evaluation run.
public struct EvaluationResult: Sendable {
    public var perImage: [(name: String, scores: SegmentationScores)]
    public var mean: SegmentationScores { SegmentationScores.mean(perImage.map(\.scores)) }
}

public enum Evaluation {
    /// Ground truth at the model size as the paper reads it (`Dataset.groundTruth`, in CondSegImage so that the
    /// trainer reads masks the same way).
    public static func groundTruth(maskPath: String, size: Int) throws -> [Bool] {
        try Dataset.groundTruth(maskPath: maskPath, size: size)
    }

    /// Scores of size×size probabilities against a ground truth (prediction = probability > 0.5).
    public static func scores(probabilities: [Float], truth: [Bool]) -> SegmentationScores {
        SegmentationScores(prediction: probabilities.map { $0 > 0.5 }, truth: truth)
    }

    /// Runs the protocol over `items` (each must have a mask). `progress(done, total)` after each image.
    public static func run(_ segmenter: Segmenter, items: [DatasetItem],
                           progress: (Int, Int) -> Void = { _, _ in }) throws -> EvaluationResult {
        var results: [(String, SegmentationScores)] = []
        for (index, item) in items.enumerated() {
            guard let maskPath = item.maskPath else {
                throw DatasetError(path: item.imagePath, problem: "no ground-truth mask for \(item.name)")
            }
            let image = try ImageCodec.decodeRGB(path: item.imagePath)
            let probabilities = try segmenter.probabilities(image)
            let truth = try groundTruth(maskPath: maskPath, size: segmenter.size)
            results.append((item.name, scores(probabilities: probabilities, truth: truth)))
            progress(index + 1, items.count)
        }
        return EvaluationResult(perImage: results)
    }
}
