// EvalCommand.swift — `condseg eval`: the paper's protocol (docs/architecture.md) on a data set with ground-truth masks.

import ArgumentParser
import CondSegCore
import CondSegImage
import CondSegRuntime
import Foundation

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure segmentation accuracy (mDSC, mIoU, recall, precision) on images with ground-truth masks.",
        discussion: """
        DIR holds images/ and masks/ (same base names). Masks are read as one grey channel, resized to the model \
        size and thresholded at 128; predictions at > 0.5. Figures are per image, then averaged (paper protocol).
        Example: condseg eval --data kvasir-seg --list kvasir-seg/val.txt
        """)

    @OptionGroup var modelOptions: ModelOptions

    @OptionGroup var engineOptions: EngineOptions

    @OptionGroup var sizeOptions: SizeOptions

    @Option(name: .long, help: "Data set folder with images/ and masks/.", transform: nonEmptyPath)
    var data: String

    @Option(name: .long, help: "File listing the image names to use, one per line (default: every image).", transform: nonEmptyPath)
    var list: String?

    @Option(name: .long, help: calibrationOptionHelp)
    var calibration: String?

    @Flag(name: .long, help: "Print JSON: mDSC, mIoU, recall, precision, images, per_image.")
    var json = false

    mutating func run() throws {
        let items = try Dataset.items(directory: data, list: list, requireMasks: true)
        let loaded = try modelOptions.loadEngine(calibration: calibration, engine: engineOptions.engine,
                                                 size: sizeOptions.inputSize())
        let engine = loaded.engine
        var progress = Progress("eval", total: items.count)
        let started = Date()
        let result = try Evaluation.run(Segmenter(engine: engine), items: items) { done, total in
            progress.update(done)
        }
        let mean = result.mean
        if json {
            var perImage: [String: Any] = [:]
            for (name, s) in result.perImage {
                perImage[name] = ["dice": s.dice, "iou": s.iou, "recall": s.recall, "precision": s.precision]
            }
            try printJSON(["mDSC": mean.dice, "mIoU": mean.iou, "recall": mean.recall, "precision": mean.precision,
                           "images": result.perImage.count, "per_image": perImage, "model_sha256": loaded.modelSHA256,
                           "engine": loaded.name, "input_size": loaded.config.inputSize,
                           "trained_input_size": loaded.trainedInputSize])
        } else {
            print("model: \(loaded.modelPath) (sha256 \(loaded.modelSHA256.prefix(16))…, \(loaded.name), \(loaded.config.inputSize)×\(loaded.config.inputSize))")
            print("images: \(result.perImage.count)  (\(fixed(Date().timeIntervalSince(started), 1)) s)")
            print("mDSC \(fixed(mean.dice, 4))  mIoU \(fixed(mean.iou, 4))  recall \(fixed(mean.recall, 4))  precision \(fixed(mean.precision, 4))")
        }
    }
}
