// CalibrateCommand.swift — `condseg calibrate`: run the float network over calibration images, choose int8
// ranges per tensor (minmax, percentile, entropy), optionally refine scales and fall back to float until a
// mask-agreement target holds, and write the calibration table.

import ArgumentParser
import CondSegCore
import CondSegIO
import CondSegImage
import CondSegQuant
import CondSegRuntime
import Foundation

struct Calibrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Calibrate int8 activation ranges on images and write a calibration table.",
        discussion: """
        Runs the float model over the images (DIR/images, or DIR itself; --list picks names) and records a \
        histogram of every tensor a convolution reads. At least 10 images are required unless --count asks for \
        fewer. Several methods can share one pass: --method minmax,percentile,entropy with {method} in --out.
        Example: condseg calibrate --data kvasir-seg --list kvasir-seg/calib.txt --out calibration/table.txt
        """)

    @OptionGroup var modelOptions: ModelOptions

    @OptionGroup var sizeOptions: SizeOptions

    @Option(name: .long, help: "Data set folder (images/ inside, or a folder of images).", transform: nonEmptyPath)
    var data: String

    @Option(name: .long, help: "File listing the image names to use, one per line.", transform: nonEmptyPath)
    var list: String?

    @Option(name: .long, parsing: .unconditional, help: "Use the first N images (fewer than 10 allowed only when asked for here).")
    var count: Int?

    @Option(name: .long, help: "minmax, percentile or entropy (comma-separated for several).")
    var method: String = "percentile"

    @Option(name: .long, parsing: .unconditional, help: "Percentile of |x| kept by the percentile method.")
    var percentile: Double = 99.99

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Bits of the int8 convolution weights: 7 (-63...63), 6 (-31...31) or 8 (-127...127).",
        discussion: "7 lets AVX2 CPUs without VNNI use vpmaddubsw (about twice the int8 speed, exact); on the Kvasir-SEG validation images it keeps the compare gate with margin (calibration/README.md). 6 lets them sum two vpmaddubsw before widening (about 15% faster int8 convolutions, exact), but on those images it fails the 0.99 agreement gate (calibration/README.md, section 6-bit weights). Every CPU computes the same bits for the same table."))
    var weightBits: Int = 7

    @Option(name: .long, help: "Which convolutions stay float: standard (the measured choice) or all-int8.")
    var policy: String = "standard"

    @Flag(name: .long, help: "Per-layer scale search (x0.5…x1.2, best cosine vs float on a few images).")
    var refine = false

    @Option(name: .long, parsing: .unconditional, help: "Flip the worst layers to float until 1 - mean Dice(int8 mask, float mask) <= X on a subset.")
    var maxDiceDrop: Double?

    @Option(name: .long, parsing: .unconditional, help: "Images used by --refine and --max-dice-drop (the first N).")
    var refineImages: Int = 4

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Also calibrate on N camera variants of each image (0...8).",
        discussion: "A variant is the image as another camera might deliver it: a random tone curve (gamma 0.7...1.4) and white balance (gains 0.85...1.15 per channel), a lower-resolution capture (bilinear down to 0.4...0.8 of the size and back), an unsharp mask on half of them, a JPEG re-encode at quality 35...70. The variants are seeded by image and variant number: the same every run, whatever --threads is. Use it when the int8 model will see other cameras or centres than the calibration images came from: the ranges then cover them too. Calibration takes (1+N) times as long; the table records '# augment: N'. --refine and --max-dice-drop still use the plain images.",
        valueName: "N"))
    var augment: Int = 0

    @Option(name: .long, help: "Output table (text). With several methods it must contain {method}.", transform: nonEmptyPath)
    var out: String

    @Option(name: .long, help: ArgumentHelp("Also write the activation histograms to this file.", visibility: .hidden))
    var saveHistograms: String?

    @Option(name: .long, help: ArgumentHelp("Use histograms written by --save-histograms instead of running the network.", visibility: .hidden))
    var fromHistograms: String?

    mutating func run() throws {
        let methods = try method.split(separator: ",").map { name -> CalibrationMethod in
            switch name.trimmingCharacters(in: .whitespaces) {
            case "minmax": return .minmax
            case "percentile":
                guard percentile > 50, percentile <= 100 else { throw ValidationError("--percentile must be in (50, 100]") }
                return .percentile(percentile)
            case "entropy": return .entropy
            default: throw ValidationError("--method: unknown method '\(name)' (minmax, percentile, entropy)")
            }
        }
        guard !methods.isEmpty else { throw ValidationError("--method names no method") }
        if methods.count > 1 && !out.contains("{method}") {
            throw ValidationError("--out must contain {method} when several methods are given")
        }
        guard let policy = PrecisionPolicy(rawValue: policy) else {
            throw ValidationError("--policy must be one of \(PrecisionPolicy.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let maxDiceDrop, !(0...1).contains(maxDiceDrop) { throw ValidationError("--max-dice-drop must be between 0 and 1") }
        guard refineImages >= 1 else { throw ValidationError("--refine-images must be at least 1") }
        guard Int8ConvWeights.supportedBits.contains(weightBits) else { throw ValidationError("--weight-bits must be 6, 7 or 8") }
        guard (0...8).contains(augment) else { throw ValidationError("--augment must be 0...8 camera variants per image (got \(augment))") }
        if augment > 0 && fromHistograms != nil {
            throw ValidationError("--augment runs the network on camera variants; --from-histograms reuses recorded statistics instead (give one of them)")
        }

        var items = try Dataset.items(directory: data, list: list)
        if let count {
            guard count >= 1 else { throw ValidationError("--count must be at least 1") }
            guard count <= items.count else {
                throw ValidationError("--count \(count) but only \(items.count) images in \(list ?? data)")
            }
            items = Array(items.prefix(count))
            if count < 10 { printError("warning: calibrating on only \(count) images (asked for with --count); ranges may not generalise") }
        } else if items.count < 10 {
            throw ValidationError("\(list ?? data): only \(items.count) image\(items.count == 1 ? "" : "s"): calibration needs at least 10 (pass --count \(items.count) to accept fewer)")
        }

        // The tables (and histograms) must not replace an input or each other; their folders must take files.
        var plan = OutputPlan()
        plan.read(try modelOptions.modelPath(), as: "--model")
        if let list { plan.read(list, as: "--list") }
        if let fromHistograms { plan.read(fromHistograms, as: "--from-histograms file") }
        for item in items { plan.read(item.imagePath, as: "calibration image") }
        for m in methods { plan.write(tablePath(m), as: "table (\(m.description))") }
        if let saveHistograms { plan.write(saveHistograms, as: "--save-histograms file") }
        try plan.check()
        for m in methods { try AtomicFile.checkWritable(tablePath(m)) }
        if let saveHistograms { try AtomicFile.checkWritable(saveHistograms) }

        let model = try modelOptions.loadModel(size: sizeOptions.inputSize())
        let size = model.config.inputSize
        let config = model.config
        var upsampled = 0
        let calibrator: Calibrator
        if let fromHistograms {
            calibrator = try Calibrator.readHistograms(path: fromHistograms, graph: try model.graph(), modelSHA256: model.sha256)
        } else {
            // Input i is variant i % variants of image i / variants; variant 0 is the image itself.
            let variants = 1 + augment
            var progress = Progress("calibrate", total: items.count * variants)
            let lock = NSLock()
            let names = items.flatMap { item in (0..<variants).map { $0 == 0 ? item.name : "\(item.name)~camera\($0)" } }
            calibrator = try Calibrator.run(model: model, count: names.count, threads: modelOptions.threads, size: size,
                                            input: { i in
                var image = try ImageCodec.decodeRGB(path: items[i / variants].imagePath)
                if i % variants > 0 {
                    image = try CameraVariation(seed: CameraVariation.calibrationSeed, image: i / variants,
                                                variant: i % variants).apply(to: image)
                } else if image.width < size || image.height < size { lock.lock(); upsampled += 1; lock.unlock() }
                let resized = (image.width == size && image.height == size) ? image : Resize.bilinear(image, width: size, height: size)
                return ModelInput.planar(resized, bgr: config.channelOrderBGR, scale: config.scale)
            }, names: names, progress: { done in progress.update(done) })
        }
        if let saveHistograms { try calibrator.writeHistograms(to: saveHistograms, modelSHA256: model.sha256) }
        let firstInputs = try items.prefix(refineImages).map { item -> [Float] in
            let image = try ImageCodec.decodeRGB(path: item.imagePath)
            return ModelInput.planar(Resize.bilinear(image, width: size, height: size), bgr: config.channelOrderBGR, scale: config.scale)
        }
        if upsampled > 0 {
            printError("warning: \(upsampled) images are smaller than the model input \(size)x\(size) and were upsampled")
        }
        let listName = list.map { URL(fileURLWithPath: $0).lastPathComponent } ?? ""
        // Histograms recorded by an --augment run name their variants "<image>~cameraK": the table made from them
        // names the plain images and records the augment count, as the run that recorded them would have.
        let plainNames = fromHistograms == nil ? items.map(\.name) : calibrator.imageNames.filter { !$0.contains("~camera") }
        let variantNames = fromHistograms == nil ? 0 : calibrator.imageNames.count - plainNames.count
        let effectiveAugment = fromHistograms == nil ? augment : (plainNames.isEmpty ? 0 : variantNames / plainNames.count)
        for m in methods {
            var table = calibrator.table(method: m, policy: policy, model: model, listFile: listName, toolVersion: condsegVersion,
                                         weightBits: weightBits)
            if effectiveAugment > 0 {   // the header names the images; '# augment' says how many variants of each also ran
                table = CalibrationTable(toolVersion: table.toolVersion, modelSHA256: table.modelSHA256, method: table.method,
                                         imageNames: plainNames, listFile: table.listFile, date: table.date,
                                         entries: table.entries, notes: table.notes + [("augment", "\(effectiveAugment)")],
                                         weightBits: table.weightBits)
            }
            if refine || maxDiceDrop != nil {
                let (refined, errors) = try Refinement.refine(model: model, table: table, inputs: firstInputs,
                                                              size: size, threads: modelOptions.threads,
                                                              search: refine) { printError($0) }
                table = refined
                if let maxDiceDrop {
                    table = try Refinement.fallback(model: model, table: table, errors: errors, inputs: firstInputs,
                                                    size: size, threads: modelOptions.threads,
                                                    maxDrop: maxDiceDrop) { printError($0) }.0
                }
            }
            table.inputSize = size   // the ranges hold for inputs of this size
            let path = tablePath(m)
            try table.write(to: path)
            let int8Count = table.entries.filter { $0.precision == .int8 }.count
            print("wrote \(path): \(table.entries.count) tensors (\(int8Count) int8, \(table.entries.count - int8Count) float), method \(table.method), \(table.weightBits)-bit weights, \(plainNames.count) images\(effectiveAugment > 0 ? " and \(effectiveAugment) camera variant\(effectiveAugment == 1 ? "" : "s") of each" : "") at \(size)×\(size)")
        }
    }

    /// The table file of method `m`: --out with {method} replaced by the method's name.
    func tablePath(_ m: CalibrationMethod) -> String {
        out.replacingOccurrences(of: "{method}", with: m.description.split(separator: " ")[0].description)
    }
}
