// CompareCommand.swift — `condseg compare`: float vs int8 on the same images, with thresholds and an exit status
// for regression tests, optional HTML report and JSON.

import ArgumentParser
import CondSegCore
import CondSegIO
import CondSegImage
import CondSegQuant
import CondSegRuntime
import Foundation

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare the int8 path with float on images: accuracy, agreement, worst images, per-layer error.",
        discussion: """
        Exit status 1 when a threshold is broken:
          --max-dice-drop X   float mDSC - int8 mDSC > X (with ground-truth masks; without them 1 - agreement > X)
          --min-agreement Y   mean Dice(int8 mask, float mask) < Y
        Example: condseg compare --calibration calibration/condseg-r18w64-kvasir.table.txt \\
                   --data kvasir-seg --list kvasir-seg/val.txt --max-dice-drop 0.003 --min-agreement 0.99 --report out/
        """)

    @OptionGroup var modelOptions: ModelOptions

    @OptionGroup var engineOptions: EngineOptions

    @OptionGroup var sizeOptions: SizeOptions

    @Option(name: .long, help: "Calibration table for the model: a file, or the NAME of a bundled table (calibration/NAME.table.txt or share/condseg/NAME.table.txt).")
    var calibration: String

    @Option(name: .long, help: "Data set folder (images/ and optional masks/).", transform: nonEmptyPath)
    var data: String

    @Option(name: .long, help: "File listing the image names to use.", transform: nonEmptyPath)
    var list: String?

    @Option(name: .long, parsing: .unconditional, help: "Use only the first N images.")
    var count: Int?

    @Option(name: .long, parsing: .unconditional, help: "Fail when float mDSC - int8 mDSC exceeds X (1 - agreement without masks).")
    var maxDiceDrop: Double?

    @Option(name: .long, parsing: .unconditional, help: "Fail when the mean Dice(int8 mask, float mask) is below Y.")
    var minAgreement: Double?

    @Option(name: .long, parsing: .unconditional, help: "Images used for the per-layer table (the first N).")
    var layerImages: Int = 3

    @Option(name: .long, help: "Write DIR/index.html with the per-layer chart and overlays of the worst images.", transform: nonEmptyPath)
    var report: String?

    @Option(name: .long, help: "Keep float probabilities here (per model) so later comparisons skip the float runs.", transform: nonEmptyPath)
    var floatCache: String?

    @Flag(name: .long, help: .hidden)
    var floatOnly = false

    @Flag(name: .long, help: "Print JSON: float, int8 ({mDSC, mIoU}), agreement_dice, layers, worst.")
    var json = false

    func validate() throws {
        // A threshold that no result can meet (or that every result meets by accident) is a typo: say so before
        // any work instead of running the whole comparison.
        if let minAgreement, !(0...1).contains(minAgreement) {
            throw ValidationError("--min-agreement must be within 0...1 (a mean Dice), not \(minAgreement)")
        }
        if let maxDiceDrop, !(maxDiceDrop >= 0 && maxDiceDrop <= 1) {
            throw ValidationError("--max-dice-drop must be within 0...1 (a drop in mean Dice), not \(maxDiceDrop)")
        }
        guard layerImages >= 0 else { throw ValidationError("--layer-images must not be negative") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    mutating func run() throws {
        // The output folders must take files before any work.
        if let report { try AtomicFile.checkFolderUsable(report) }
        if let floatCache { try AtomicFile.checkFolderUsable(floatCache) }
        var items = try Dataset.items(directory: data, list: list)
        if let count {
            guard count >= 1 else { throw ValidationError("--count must be at least 1") }
            items = Array(items.prefix(count))
        }
        let model = try modelOptions.loadModel(size: sizeOptions.inputSize())
        if floatOnly { try fillFloatCache(model: model, items: items); return }
        let calibration = try BundledFiles.calibration(self.calibration)
        let table = try CalibrationTable.load(path: calibration)
        try table.check(modelSHA256: model.sha256, model: model.path, file: calibration)   // before any warning about it
        let size = model.config.inputSize, calibratedSize = table.inputSize ?? model.trainedInputSize
        if let warning = table.sizeWarning(runSize: size, modelSize: model.trainedInputSize, file: calibration) {
            printError(warning)
        }
        // The images run through the int8 executor being shipped (--engine fast, the default) or the int8
        // reference; the per-layer table always comes from the int8 reference, the float side from the float
        // reference (the oracle).
        let reference = try Int8ReferenceExecutor(model: model, table: table, tableFile: calibration, threads: modelOptions.threads)
        let int8: InferenceEngine = engineOptions.engine == .fast
            ? try FastInt8Executor(model: model, table: table, tableFile: calibration, threads: modelOptions.threads)
            : reference
        let float = try ReferenceExecutor(model: model, threads: modelOptions.threads)
        var progress = Progress("compare", total: items.count)
        let result = try Comparison.run(float: float, int8: int8, layers: reference, modelSHA256: model.sha256, items: items,
                                        layerImages: layerImages, floatCache: floatCache) { done, total in
            progress.update(done)
        }
        let (thresholds, failures) = ComparisonThresholds(maxDiceDrop: maxDiceDrop, minAgreement: minAgreement).check(result)
        if let report {
            try ComparisonReport.write(result, to: report, title: "condseg compare: \(URL(fileURLWithPath: model.path).lastPathComponent) with \(URL(fileURLWithPath: calibration).lastPathComponent)",
                                       modelSize: model.config.inputSize, thresholds: thresholds, failures: failures,
                                       weightBits: table.weightBits, calibratedSize: calibratedSize)
        }
        if json {
            var object: [String: Any] = [
                "agreement_dice": result.agreement,
                "images": result.images.count,
                "worst": result.worst.map(\.name),
                "layers": Dictionary(uniqueKeysWithValues: result.layers.map {
                    ($0.name, ["cosine": $0.cosine, "sqnr_db": $0.sqnrDB.isFinite ? $0.sqnrDB : 999.0])
                }),
                "passed": failures.isEmpty,
                "failures": failures,
                "model_sha256": model.sha256,
                "calibration": calibration,
                "weight_bits": table.weightBits,
                "input_size": size,
                "calibrated_input_size": calibratedSize,
                "trained_input_size": model.trainedInputSize,
            ]
            if let f = result.floatMean, let q = result.int8Mean {
                object["float"] = ["mDSC": f.dice, "mIoU": f.iou]
                object["int8"] = ["mDSC": q.dice, "mIoU": q.iou]
            }
            if let report { object["report"] = report + "/index.html" }
            try printJSON(object)
        } else {
            print("model: \(model.path)  calibration: \(calibration) (\(table.method), \(table.weightBits)-bit weights)  images: \(result.images.count)")
            print("input size: \(size)×\(size)" + (calibratedSize != size ? " (table calibrated at \(calibratedSize)×\(calibratedSize))" : ""))
            if let f = result.floatMean, let q = result.int8Mean {
                print("float32: mDSC \(fixed(f.dice, 4))  mIoU \(fixed(f.iou, 4))")
                print("int8:    mDSC \(fixed(q.dice, 4))  mIoU \(fixed(q.iou, 4))  (drop \(fixed(f.dice - q.dice, 4)))")
            }
            print("agreement (mean Dice of int8 mask vs float mask): \(fixed(result.agreement, 4))")
            print("worst: " + result.worst.map { "\($0.name) (\(fixed($0.agreement, 3)))" }.joined(separator: ", "))
            let sorted = result.layers.sorted { $0.cosine < $1.cosine }
            let layerCount = min(layerImages, items.count)
            print("per-layer (int8 conv outputs vs float, \(layerCount) image\(layerCount == 1 ? "" : "s")), lowest cosine first:")
            for l in sorted.prefix(10) {
                print("  \(l.name.padding(toLength: 34, withPad: " ", startingAt: 0)) cosine \(fixed(l.cosine, 5))  SQNR \(l.sqnrDB.isFinite ? fixed(l.sqnrDB, 1) : "inf") dB")
            }
            if let report { print("report: \(report)/index.html") }
            print(failures.isEmpty ? (thresholds.isEmpty ? "no thresholds given" : "PASS: " + thresholds.joined(separator: "; "))
                                   : "FAIL: " + failures.joined(separator: "; "))
        }
        if !failures.isEmpty { throw ExitCode(1) }
    }

    /// `--float-only`: runs only the float side into --float-cache (so several tables can then be compared
    /// concurrently) and prints the float mDSC.
    func fillFloatCache(model: ConDSegModel, items: [DatasetItem]) throws {
        guard let floatCache else { throw ValidationError("--float-only needs --float-cache DIR") }
        let float = try ReferenceExecutor(model: model, threads: modelOptions.threads)
        let scores = try Comparison.floatPass(float: float, modelSHA256: model.sha256, items: items, floatCache: floatCache)
        if !scores.isEmpty { print("float32: mDSC \(fixed(SegmentationScores.mean(scores).dice, 4)) over \(scores.count) images") }
    }
}
