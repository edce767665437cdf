// SegmentCommand.swift — `condseg segment`: masks (and optionally overlays and probability maps) for image
// files or folders of images.

import ArgumentParser
import CondSegCore
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
        Example: condseg segment --overlay --out results/ samples/
        """)

    @OptionGroup var modelOptions: ModelOptions

    @OptionGroup var engineOptions: EngineOptions

    @Option(name: .long, help: "Calibration table: run the int8 path (a quantized --model needs none).")
    var calibration: String?

    @Flag(name: .long, help: "Also write NAME-overlay.png (mask contour and tint over the image).")
    var overlay = false

    @Flag(name: .long, help: "Also write NAME.npy (float32 probabilities at model resolution).")
    var probabilities = false

    @Option(name: .long, help: "Output folder (created if missing).")
    var out: String

    @Flag(name: .long, help: "Print a machine-readable summary (JSON) on stdout.")
    var json = false

    @Argument(help: "Image files (PNG/JPEG) or folders of images.")
    var inputs: [String]

    mutating func run() throws {
        let files = try Segment.expand(inputs)
        let loaded = try modelOptions.loadEngine(calibration: calibration, engine: engineOptions.engine)
        let engine = loaded.engine
        let segmenter = Segmenter(engine: engine)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)

        var progress = Progress("segment", total: files.count)
        var inferenceMs: [Double] = []
        var failures: [String] = []
        var written: [[String: Any]] = []
        let started = Date()
        for (index, file) in files.enumerated() {
            let name = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
            do {
                let image = try ImageCodec.decodeRGB(path: file)
                let input = segmenter.modelInput(image)
                var probs: [Float] = []
                inferenceMs.append(try Benchmark.milliseconds {
                    probs = try engine.predict(input: input, height: segmenter.size, width: segmenter.size)
                })
                let mask = Segmenter.mask(probs, size: segmenter.size, width: image.width, height: image.height)
                let maskPath = "\(out)/\(name).png"
                try ImageCodec.writePNG(Image8(width: image.width, height: image.height, channels: 1, pixels: mask), to: maskPath)
                var entry: [String: Any] = ["input": file, "mask": maskPath,
                                            "foreground_fraction": Double(mask.filter { $0 != 0 }.count) / Double(mask.count)]
                if overlay {
                    let path = "\(out)/\(name)-overlay.png"
                    try ImageCodec.writePNG(Overlay.draw(on: image, mask: mask, style: .default), to: path)
                    entry["overlay"] = path
                }
                if probabilities {
                    let path = "\(out)/\(name).npy"
                    try NPY.write(probs, shape: [segmenter.size, segmenter.size], to: path)
                    entry["probabilities"] = path
                }
                written.append(entry)
            } catch {
                failures.append("\(error)")
                printError("error: \(error)")
            }
            progress.update(index + 1, detail: name)
        }
        let total = Date().timeIntervalSince(started)
        let timing = TimingSummary(milliseconds: inferenceMs)
        if json {
            try printJSON(["model": loaded.modelPath, "model_sha256": loaded.modelSHA256, "images": written,
                           "failed": failures, "inference_ms_median": timing.median, "total_s": total,
                           "engine": loaded.name, "threads": modelOptions.threads])
        } else {
            print("model: \(loaded.modelPath) (sha256 \(loaded.modelSHA256.prefix(16))…, \(loaded.config))")
            print("segmented \(written.count) of \(files.count) images in \(fixed(total, 2)) s: "
                  + "inference median \(fixed(timing.median, 1)) ms/image (\(loaded.name), \(modelOptions.threads) threads)")
            print("masks\(overlay ? ", overlays" : "")\(probabilities ? ", probabilities" : "") written to \(out)/")
            if overlay, let first = written.first?["overlay"] as? String { print("first overlay: \(first)") }
        }
        if !failures.isEmpty { throw ExitCode(1) }
    }

    /// Files named on the command line, folders expanded to their PNG/JPEG images (sorted). Duplicate output
    /// names are an error (they would overwrite each other).
    static func expand(_ inputs: [String]) throws -> [String] {
        var files: [String] = []
        for input in inputs {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: input, isDirectory: &isDir) else {
                throw ValidationError("\(input): no such file or folder")
            }
            if isDir.boolValue {
                let found = ImageFiles.list(folder: input)
                if found.isEmpty { throw ValidationError("\(input): no PNG or JPEG images in this folder") }
                files += found
            } else {
                files.append(input)
            }
        }
        var seen: [String: String] = [:]
        for file in files {
            let name = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
            if let other = seen[name] {
                throw ValidationError("\(file) and \(other) would both write \(name).png; segment them into different --out folders")
            }
            seen[name] = file
        }
        return files
    }
}
