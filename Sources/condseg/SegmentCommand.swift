// SegmentCommand.swift — `condseg segment`: masks (and optionally overlays and probability maps) for image
// files or folders of images.

import ArgumentParser
import CondSegCore
import CondSegIO
import CondSegImage
import CondSegRuntime
import Foundation

struct Segment: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Segment images: write a mask PNG for each (plus overlays and probabilities on request).",
        discussion: """
        For each input image NAME.jpg/.png (files, or folders of them) writes into --out:
          NAME.png          the mask, 0/255, at the image's own size
          NAME-overlay.png  with --overlay: the image with the mask tinted and outlined
          NAME.npy          with --probabilities: float32 probabilities at model resolution (NumPy)
        A folder holding an images/ folder (a data set such as samples/) is read from there.
        An image that cannot be read or segmented is reported (error: FILE: problem) and skipped: the others are \
        still written, and the exit status is then that of the first failure (4 for a bad image).
        The --out folder is checked before any work and created when the first file is written.
        Example: condseg segment --overlay --out results/ samples/
        """)

    @OptionGroup var modelOptions: ModelOptions

    @OptionGroup var engineOptions: EngineOptions

    @OptionGroup var sizeOptions: SizeOptions

    @Option(name: .long, help: calibrationOptionHelp)
    var calibration: String?

    @Flag(name: .long, help: "Also write NAME-overlay.png (mask contour and tint over the image).")
    var overlay = false

    @Flag(name: .long, help: "Also write NAME.npy (float32 probabilities at model resolution).")
    var probabilities = false

    @Option(name: .long, help: "Output folder (created if missing).", transform: nonEmptyPath)
    var out: String

    @Flag(name: .long, help: "Print a machine-readable summary (JSON) on stdout.")
    var json = false

    @Argument(help: "Image files (PNG/JPEG) or folders of images.", transform: nonEmptyPath)
    var inputs: [String]

    mutating func run() throws {
        let files = try Segment.expand(inputs)
        let folder = Segment.trimmedFolder(out)
        // Every output is known before any work: none may replace an input or another output.
        var plan = OutputPlan()
        for file in files { plan.read(file, as: "input image") }
        if modelOptions.model != nil { plan.read(try modelOptions.modelPath(), as: "--model") }
        let calibration = try self.calibration.map(BundledFiles.calibration)
        if let calibration { plan.read(calibration, as: "--calibration table") }
        let outputs = files.map { Segment.outputs(for: $0, folder: folder) }
        for (file, paths) in zip(files, outputs) {
            plan.write(paths.mask, as: "mask of \(file)")
            if overlay { plan.write(paths.overlay, as: "overlay of \(file)") }
            if probabilities { plan.write(paths.probabilities, as: "probabilities of \(file)") }
        }
        try plan.check()
        // The folder must take files now; it is made only when the first file is written, so a run that writes
        // nothing (a bad model, table or image) leaves no empty folder behind.
        try AtomicFile.checkFolderUsable(folder)
        var folderMade = false

        let loaded = try modelOptions.loadEngine(calibration: calibration, engine: engineOptions.engine,
                                                 size: sizeOptions.inputSize())
        let engine = loaded.engine
        let segmenter = Segmenter(engine: engine)
        var progress = Progress("segment", total: files.count)
        var inferenceMs: [Double] = []
        var failures: [String] = []
        var failureStatus: ExitStatus?
        var written: [[String: Any]] = []
        let started = Date()
        for (index, file) in files.enumerated() {
            let paths = outputs[index]
            do {
                let image = try ImageCodec.decodeRGB(path: file)
                let input = segmenter.modelInput(image)
                var probs: [Float] = []
                let milliseconds = try Benchmark.milliseconds {
                    probs = try engine.predict(input: input, height: segmenter.size, width: segmenter.size)
                }
                let mask = Segmenter.mask(probs, size: segmenter.size, width: image.width, height: image.height)
                if !folderMade { try AtomicFile.makeFolder(folder); folderMade = true }
                try ImageCodec.writePNG(Image8(width: image.width, height: image.height, channels: 1, pixels: mask), to: paths.mask)
                var entry: [String: Any] = ["input": file, "mask": paths.mask,
                                            "foreground_fraction": Double(mask.filter { $0 != 0 }.count) / Double(mask.count)]
                if overlay {
                    try ImageCodec.writePNG(Overlay.draw(on: image, mask: mask, style: .default), to: paths.overlay)
                    entry["overlay"] = paths.overlay
                }
                if probabilities {
                    try NPY.write(probs, shape: [segmenter.size, segmenter.size], to: paths.probabilities)
                    entry["probabilities"] = paths.probabilities
                }
                inferenceMs.append(milliseconds)
                written.append(entry)
            } catch {
                let (status, lines) = ErrorReport.report(error)
                failureStatus = failureStatus ?? status
                failures += lines.map { String($0.dropFirst("error: ".count)) }
                for line in lines { printError(line) }
            }
            progress.update(index + 1, detail: URL(fileURLWithPath: file).lastPathComponent)
        }
        let total = Date().timeIntervalSince(started)
        if json {
            var object: [String: Any] = ["model": loaded.modelPath, "model_sha256": loaded.modelSHA256, "images": written,
                                         "failed": failures, "total_s": total,
                                         "engine": loaded.name, "threads": modelOptions.threads,
                                         "input_size": loaded.config.inputSize, "trained_input_size": loaded.trainedInputSize]
            if !inferenceMs.isEmpty { object["inference_ms_median"] = TimingSummary(milliseconds: inferenceMs).median }
            try printJSON(object)
        } else {
            print("model: \(loaded.modelPath) (sha256 \(loaded.modelSHA256.prefix(16))…, \(loaded.config))")
            if written.isEmpty {
                print("segmented 0 of \(files.count) images: nothing written")
            } else {
                let timing = TimingSummary(milliseconds: inferenceMs)
                print("segmented \(written.count) of \(files.count) images in \(fixed(total, 2)) s: "
                      + "inference median \(fixed(timing.median, 1)) ms/image (\(loaded.name), \(threadsText(modelOptions.threads)))")
                print("masks\(overlay ? ", overlays" : "")\(probabilities ? ", probabilities" : "") written to \(folder)/")
                if overlay, let first = written.first?["overlay"] as? String { print("first overlay: \(first)") }
            }
        }
        if let failureStatus { throw ExitCode(failureStatus.rawValue) }
    }

    /// The files one input image writes into `folder`.
    static func outputs(for file: String, folder: String) -> (mask: String, overlay: String, probabilities: String) {
        let name = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        return ("\(folder)/\(name).png", "\(folder)/\(name)-overlay.png", "\(folder)/\(name).npy")
    }

    /// `folder` without trailing slashes ("/" stays "/").
    static func trimmedFolder(_ folder: String) -> String {
        var trimmed = folder
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        return trimmed
    }

    /// Files named on the command line, folders expanded to their PNG/JPEG images (sorted); a folder without
    /// images of its own but with an images/ subfolder (the data-set layout, e.g. samples/) uses that.
    static func expand(_ inputs: [String]) throws -> [String] {
        var files: [String] = []
        for input in inputs {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: input, isDirectory: &isDir) else {
                throw InputError(path: input, problem: "no such file or folder")
            }
            if isDir.boolValue {
                let found = try ImageFiles.listInputFolder(input)
                if found.isEmpty { throw InputError(path: input, problem: "no PNG or JPEG images in this folder (nor in an images/ folder inside it)") }
                files += found
            } else {
                files.append(input)
            }
        }
        return files
    }
}
