// EvalLiveCommand.swift — `condseg eval-live`: how well the live overlay follows moving tissue when the model is
// slower than the camera. Moving sequences are made from the data set's stills and masks (CondSegCapture's
// MotionSequences), the schedule is simulated, and the overlay is scored per displayed frame (LiveOverlayEvaluation).

import ArgumentParser
import CondSegCapture
import CondSegCore
import CondSegImage
import CondSegRuntime
import Foundation

struct EvalLive: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-live",
        abstract: "Score the live overlay on moving sequences: the model's ceiling, the lagging overlay, the motion-compensated overlay.",
        discussion: """
        Each image of DIR (with its mask) becomes a moving sequence of --seconds at --camera-fps: a smooth, seeded \
        random camera path (translation, rotation, zoom; speeds below) views the still, and frame and mask are \
        warped together. The model runs back to back at --model-fps (default: the rate measured here on the stills), \
        so its result for frame t is shown from frame t + camera/model on. Every displayed frame from the first \
        result on is scored by the IoU of the overlay with that frame's true mask:
          ceiling         the model's own mask for every frame
          uncompensated   the newest finished mask, drawn as it is (what a lagging overlay shows)
          compensated     that mask moved by the motion estimated from the frames (hidden when unreliable)
        The model runs once per still: its mask for a moved frame is its output on the still moved with the frame \
        (the model is not exactly equivariant to rotation and zoom; the ceiling is therefore the still's accuracy \
        seen through the path). With --model-fps the figures do not depend on the machine.
        Example: condseg eval-live --data kvasir-seg --list kvasir-seg/val.txt --camera-fps 30 --model-fps 2 --json
        """)

    @OptionGroup var modelOptions: ModelOptions

    @OptionGroup var engineOptions: EngineOptions

    @Option(name: .long, help: "Data set folder with images/ and masks/.", transform: nonEmptyPath)
    var data: String

    @Option(name: .long, help: "File listing the image names to use, one per line (default: every image).", transform: nonEmptyPath)
    var list: String?

    @Option(name: .long, help: calibrationOptionHelp)
    var calibration: String?

    @Option(name: .customLong("camera-fps"), parsing: .unconditional, help: "Camera frame rate.")
    var cameraFPS: Double = 30

    @Option(name: .customLong("model-fps"), parsing: .unconditional, help: "Model results per second (default: measured on the stills on this machine).")
    var modelFPS: Double?

    @Option(name: .long, parsing: .unconditional, help: "Length of each sequence in seconds.")
    var seconds: Double = 3

    @Option(name: .long, parsing: .unconditional, help: "Seed of the camera paths.")
    var seed: UInt64 = 1

    @Option(name: .customLong("translation-speed"), parsing: .unconditional, help: "RMS translation speed, frame widths per second.")
    var translationSpeed: Double = 0.15

    @Option(name: .customLong("rotation-speed"), parsing: .unconditional, help: "RMS rotation speed, degrees per second.")
    var rotationSpeed: Double = 10

    @Option(name: .customLong("zoom-speed"), parsing: .unconditional, help: "RMS zoom rate, relative scale change per second.")
    var zoomSpeed: Double = 0.10

    @Option(name: .customLong("frame-size"), parsing: .unconditional, help: "Resize every still (and mask) to WxH first, e.g. 640x480 (default: each still's own size).")
    var frameSize: String?

    @Flag(name: .long, help: "Print the results as JSON on stdout.")
    var json = false

    func validate() throws {
        guard cameraFPS > 0 && cameraFPS <= 1000 else { throw ValidationError("--camera-fps must be in (0, 1000]") }
        if let modelFPS { guard modelFPS > 0 && modelFPS <= 1000 else { throw ValidationError("--model-fps must be in (0, 1000]") } }
        guard seconds > 0 && seconds <= 600 else { throw ValidationError("--seconds must be in (0, 600]") }
        if let frameSize { _ = try parseFrameSize(frameSize, option: "--frame-size") }
        guard translationSpeed >= 0, rotationSpeed >= 0, zoomSpeed >= 0 else {
            throw ValidationError("--translation-speed, --rotation-speed and --zoom-speed must not be negative")
        }
        // Before the model loads: with --model-fps the schedule is known; without it, a sequence too short even
        // for a model as fast as the camera is refused here, and one too short for the measured rate after it.
        if let problem = Self.unscoredProblem(seconds: seconds, cameraFPS: cameraFPS, modelFPS: modelFPS ?? cameraFPS,
                                              rateText: modelFPS == nil ? "even at the camera's rate" : nil) {
            throw ValidationError(problem)
        }
    }

    /// Why a sequence of `seconds` at `cameraFPS` would have no scored frame with the model at `modelFPS`, or nil
    /// when it has one: frames are scored from the first model result on. `rateText` describes the rate (nil:
    /// the rate itself, as given or measured).
    static func unscoredProblem(seconds: Double, cameraFPS: Double, modelFPS: Double, rateText: String?, measured: Bool = false) -> String? {
        let schedule = LiveSchedule(cameraFPS: cameraFPS, modelFPS: modelFPS)
        let frameCount = max(1, Int((seconds * cameraFPS).rounded()))
        let firstScored = schedule.modelFrame(1)
        guard frameCount <= firstScored else { return nil }
        let needed = Double(firstScored + 1) / cameraFPS
        let rate = rateText ?? "at \(fixed(modelFPS, 2)) results/s\(measured ? ", measured" : "")"
        return "no frame would be scored: a sequence of --seconds \(fixed(seconds, 2)) at --camera-fps \(fixed(cameraFPS, 1)) has \(frameCount) frame\(frameCount == 1 ? "" : "s"), "
            + "and the first model result (\(rate)) is shown from frame \(firstScored + 1) on; "
            + "give --seconds \(fixed((needed * 100).rounded(.up) / 100, 2)) or more\(rateText == nil ? ", or a higher --model-fps" : "")"
    }

    mutating func run() throws {
        let items = try Dataset.items(directory: data, list: list, requireMasks: true)
        let loaded = try modelOptions.loadEngine(calibration: calibration, engine: engineOptions.engine)
        let segmenter = Segmenter(engine: loaded.engine)
        let size = segmenter.size

        // The model once per still (its output is moved with the frames), timed for the default model rate.
        var probabilities: [[Float]] = []
        var inference = DurationHistogram()
        var progress = Progress("eval-live: model", total: items.count)
        for (index, item) in items.enumerated() {
            let rgb = try ImageCodec.decodeRGB(path: item.imagePath)
            let started = Date()
            probabilities.append(try segmenter.probabilities(rgb))
            inference.record(milliseconds: Date().timeIntervalSince(started) * 1000)
            progress.update(index + 1)
        }
        let medianInference = inference.quantile(0.5) ?? 0
        let modelRate = modelFPS ?? (medianInference > 0 ? 1000 / medianInference : cameraFPS)
        let schedule = LiveSchedule(cameraFPS: cameraFPS, modelFPS: modelRate)
        var motion = CameraMotionSettings()
        motion.translationSpeed = translationSpeed
        motion.rotationSpeedDegrees = rotationSpeed
        motion.zoomSpeed = zoomSpeed
        let frameCount = max(1, Int((seconds * cameraFPS).rounded()))
        // Frames are scored from the first model result on: a sequence that ends before it scores nothing (with
        // --model-fps validate() has refused it already; a measured rate is known only now).
        if let problem = Self.unscoredProblem(seconds: seconds, cameraFPS: cameraFPS, modelFPS: modelRate, rateText: nil,
                                              measured: modelFPS == nil) {
            throw ValidationError(problem)
        }
        let resize = try frameSize.map { try parseFrameSize($0, option: "--frame-size") }

        // Sequences are independent: one per core, each with its own seed derived from --seed and its index.
        let results = SequenceResults(count: items.count)
        let baseSeed = seed
        let itemsCopy = items, probabilitiesCopy = probabilities
        var sequenceProgress = Progress("eval-live: sequences", total: items.count)
        let progressLock = NSLock()
        DispatchQueue.concurrentPerform(iterations: items.count) { index in
            do {
                let item = itemsCopy[index]
                var rgb = try ImageCodec.decodeRGB(path: item.imagePath)
                if let resize { rgb = Resize.bilinear(rgb, width: resize.width, height: resize.height) }
                var mask = try ImageCodec.decodeGray(path: item.maskPath!)
                if mask.width != rgb.width || mask.height != rgb.height {
                    mask = Resize.bilinear(mask, width: rgb.width, height: rgb.height)
                }
                let scene = StillScene(rgb: rgb, mask: mask, probabilities: probabilitiesCopy[index], probabilitySize: size)
                let path = CameraPath(width: rgb.width, height: rgb.height, settings: motion,
                                      seed: baseSeed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index))
                let report = LiveOverlayEvaluation.evaluate(scene: scene, path: path, frameCount: frameCount, schedule: schedule)
                results.set(index, .success(report))
            } catch {
                results.set(index, .failure(error))
            }
            progressLock.lock()
            results.finished += 1
            sequenceProgress.update(results.finished)
            progressLock.unlock()
        }
        var report = LiveOverlayReport()
        for result in results.all() {
            switch result {
            case .success(let one): report.merge(one)
            case .failure(let error): throw error
            case nil: break
            }
        }

        guard !report.ceiling.values.isEmpty else {
            throw ValidationError("no frame was scored (\(report.sequences) sequences of \(frameCount) frames); give a longer --seconds")
        }
        let recovered = report.recoveredFraction
        if json {
            func rounded(_ value: Double, _ scale: Double = 1e6) -> Double { (value * scale).rounded() / scale }
            try printJSON([
                "ceiling": report.ceiling.jsonObject(),
                "uncompensated": report.uncompensated.jsonObject(),
                "compensated": report.compensated.jsonObject(),
                "recovered_fraction": recovered.map { rounded($0) } ?? NSNull(),
                "compensated_hidden_frames": report.hiddenFrames,
                "camera_fps": cameraFPS, "model_fps": rounded(modelRate, 1e4),
                "model_fps_source": modelFPS == nil ? "measured" : "given",
                "frames_per_result": rounded(schedule.framesPerResult, 1e4),
                "inference_ms_median": rounded(medianInference, 1e3),
                "sequences": report.sequences, "seconds": seconds, "frames_rendered": report.renderedFrames,
                "seed": Int(truncatingIfNeeded: seed),
                "camera_motion": ["translation_widths_per_s": translationSpeed, "rotation_deg_per_s": rotationSpeed,
                                  "zoom_per_s": zoomSpeed, "base_zoom": motion.baseZoom],
                "motion_ms": ["median": rounded(report.motionTime.quantile(0.5) ?? 0, 1e3),
                              "p99": rounded(report.motionTime.quantile(0.99) ?? 0, 1e3),
                              "mean": rounded(report.motionTime.mean ?? 0, 1e3)],
                "motion_cpu_ms": ["median": rounded(report.motionCPUTime.quantile(0.5) ?? 0, 1e3),
                                  "p99": rounded(report.motionCPUTime.quantile(0.99) ?? 0, 1e3),
                                  "mean": rounded(report.motionCPUTime.mean ?? 0, 1e3)],
                "frame_size": resize.map { "\($0.width)x\($0.height)" } ?? "each still's own",
                "model_sha256": loaded.modelSHA256, "engine": loaded.name,
                "model_output": "model run once per still; its output moved with each frame",
            ])
        } else {
            print("model: \(loaded.modelPath) (sha256 \(loaded.modelSHA256.prefix(16))…, \(loaded.name))")
            print("\(report.sequences) sequences × \(frameCount) frames at \(fixed(cameraFPS, 1)) fps; model \(fixed(modelRate, 2)) results/s "
                  + "(\(modelFPS == nil ? "measured: median \(fixed(medianInference, 1)) ms" : "given")), a result shown "
                  + "\(fixed(schedule.framesPerResult, 2)) frames after its frame")
            for (name, scores) in [("ceiling", report.ceiling), ("uncompensated", report.uncompensated), ("compensated", report.compensated)] {
                let percentiles = OverlayScores.reportedPercentiles.map { "p\(Int($0)) \(fixed(scores.percentile($0), 3))" }
                print("\(name.padding(toLength: 14, withPad: " ", startingAt: 0)) mean IoU \(fixed(scores.mean, 4))  "
                      + percentiles.joined(separator: "  ") + "  (\(scores.values.count) frames)")
            }
            print("compensation recovers \(recovered.map { fixed($0 * 100, 1) + " %" } ?? "n/a") of the gap; overlay hidden on "
                  + "\(report.hiddenFrames) frames (unreliable motion); tracking per frame: median \(fixed(report.motionTime.quantile(0.5) ?? 0, 2)) ms "
                  + "(thread CPU \(fixed(report.motionCPUTime.quantile(0.5) ?? 0, 2)) ms)")
        }
    }
}

/// Results of the parallel sequences, by index.
private final class SequenceResults: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<LiveOverlayReport, Error>?]
    var finished = 0
    init(count: Int) { results = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ result: Result<LiveOverlayReport, Error>) {
        lock.lock(); defer { lock.unlock() }
        results[index] = result
    }
    func all() -> [Result<LiveOverlayReport, Error>?] {
        lock.lock(); defer { lock.unlock() }
        return results
    }
}
