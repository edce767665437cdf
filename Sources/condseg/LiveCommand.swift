// LiveCommand.swift — `condseg live`: segment live video (a V4L2 device) or a replay (folder of images,
// .y4m file) through the CondSegCapture pipeline, with overlays/masks/raw video/V4L2 output, statistics,
// fault recovery and clean stop on SIGINT/SIGTERM. This file only parses options and wires the pieces.

import ArgumentParser
import CKernels
import COpenBLAS
import CondSegCapture
import CondSegCore
import CondSegIO
import CondSegImage
import CondSegRuntime
import Foundation

/// Adapts an inference engine (any of the four executors) to the pipeline's protocol.
final class EngineFrameSegmenter: FrameSegmenter {
    let engine: InferenceEngine
    init(engine: InferenceEngine) { self.engine = engine }
    var inputSize: Int { engine.config.inputSize }
    var channelOrderBGR: Bool { engine.config.channelOrderBGR }
    var inputScale: Float { engine.config.scale }
    func segment(planar: [Float]) throws -> [Float] {
        try engine.predict(input: planar, height: inputSize, width: inputSize)
    }
}

/// Parses "WxH" (e.g. 1280x720): a usage error naming `option` for anything else, a side below 1 or a size beyond
/// the frame and image limits.
func parseFrameSize(_ text: String, option: String) throws -> (width: Int, height: Int) {
    // Each side is digits, or a minus and digits (which gets the range message below): not "+640", not " 640".
    let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
    func side(_ part: Substring) -> Int? {
        let digits = part.hasPrefix("-") ? part.dropFirst() : part
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(part)
    }
    guard parts.count == 2, let width = side(parts[0]), let height = side(parts[1]) else {
        throw ValidationError("\(option) must look like 1280x720 (two whole numbers, no sign), not \"\(text)\"")
    }
    guard width > 0, height > 0 else {
        throw ValidationError("\(option) \(text): width and height must be at least 1 pixel")
    }
    guard width <= 16384, height <= 16384 else {
        throw ValidationError("\(option) \(text) is too large: at most 16384 pixels a side")
    }
    guard width * height <= ImageCodec.maximumPixelCount else {
        throw ValidationError("\(option) \(text) is too large: at most \(ImageCodec.maximumPixelCount / (1 << 20)) Mpixel (\(ImageCodec.maximumPixelCount) pixels), the image limit")
    }
    return (width, height)
}

/// Parses a device pixel format name.
func parsePixelFormat(_ text: String?) throws -> PixelFormat? {
    guard let text else { return nil }
    guard let format = PixelFormat(rawValue: text.lowercased()), format.fourcc != nil else {
        throw ValidationError("--format must be one of yuyv, uyvy, nv12, mjpeg, rgb24 (got \"\(text)\")")
    }
    return format
}

/// Parses "R,G,B".
func parseColour(_ text: String, option: String) throws -> (UInt8, UInt8, UInt8) {
    let parts = text.split(separator: ",").compactMap { UInt8($0.trimmingCharacters(in: .whitespaces)) }
    guard parts.count == 3 else { throw ValidationError("\(option) must be R,G,B with values 0-255 (got \"\(text)\")") }
    return (parts[0], parts[1], parts[2])
}

struct Live: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Segment live video from a V4L2 device, or a replayed folder/.y4m file, with low latency.",
        discussion: """
        The segmentation always works on the newest frame: frames that arrive while the model is busy are \
        dropped (counted), never queued. Capture, inference and output run on their own threads.

        Sources (one of):
          --device /dev/videoN      a V4L2 capture device (--format, --capture-size; default: its best format,
                                    current size)
          --device simulated:WxH    a camera simulated in memory (YUYV, as fast as it is read; --simulate-faults N
                                    injects faults), for soak tests of the recovery without hardware
          --source DIR|FILE.y4m     replay images (in name order, at --fps) or a YUV4MPEG2 file (at its rate);
                                    --no-pace replays as fast as the model goes and segments every frame
        Outputs (any combination):
          --overlay-out DIR         PNG overlay snapshots every --every segmented frames
          --masks-out DIR           a 0/255 mask PNG for every segmented frame
          --output -                raw RGB24 frames with the overlay on stdout (every captured frame), e.g.
                                    condseg live --device /dev/video0 --output - | ffplay -f rawvideo -pixel_format rgb24 -video_size 1280x720 -
          --v4l2-out /dev/videoM    the overlaid stream on a V4L2 output device (e.g. v4l2loopback)
          --http [ADDRESS:]PORT     a browser preview: page, /stream.mjpg, /snapshot.jpg, /stats, /health
        Motion compensation (display outputs, on unless --no-motion-compensation): the camera motion from the \
        segmented frame to each displayed frame is estimated from downscaled luma and the mask is moved with it; \
        when the motion cannot be estimated reliably (a cut, a blank or flat frame) the overlay is hidden on that \
        frame (--stats counts moved and hidden frames).
        Faults: a device error or unplug clears the overlay at once, logs "no video" and reopens the device \
        with back-off (--give-up-after ends the run with exit code 3); so does a device whose every frame for 5 s \
        is unusable (corrupt, or failing conversion). --wait waits for a missing device.
        Every log line of a run (stderr) starts with [condseg VERSION model=SHA256 calib=HASH]; a refusal \
        before the run starts (a bad option, a missing file or device) is a plain "error: ..." line.
        Statistics (--stats on stderr, --json on stdout, /stats with --http): every frame the source delivered is \
        counted in captured and ends in one of: segmented (its mask went out); dropped (never segmented: a newer \
        frame replaced it while the model was busy, or the device had already overwritten it, or --frames was \
        reached); or discarded (made stale by a device fault or a format change before it was segmented, or its \
        conversion to the model input failed). corrupt (counted besides) is the frames whose conversion failed plus \
        damaged buffers that were never captured. \
        in_flight are frames still between capture and output (0 at the end), in_flight_max the most at once (at \
        most 4). timeouts, device_faults, reconnects and format_changes count events; displayed counts frames drawn \
        on a display output (motion_compensated and motion_hidden of them). reconnect_wait_s is the back-off spent \
        between reopen attempts; with --device simulated:WxH it runs on a simulated clock, not slept \
        (reconnect_wait_simulated is true), so it can exceed elapsed_s.
        Examples:
          condseg live --source samples --no-pace --overlay-out overlays --every 1 --stats
          condseg live --device /dev/video0 --capture-size 1280x720 --format yuyv --output - --stats
          condseg live --model condseg-r18w64-kvasir --size 224 --device /dev/video0 --http 8080
        --size N runs the model at N×N (as in segment, eval, bench, calibrate, compare); the camera's frame size is --capture-size WxH.
        """)

    @OptionGroup var modelOptions: ModelOptions

    @OptionGroup var engineOptions: EngineOptions

    @OptionGroup var sizeOptions: SizeOptions

    @Option(name: .long, help: "V4L2 capture device, e.g. /dev/video0.", transform: nonEmptyDevice)
    var device: String?

    @Option(name: .long, help: "Replay source: a folder of PNG/JPEG images or a .y4m file.", transform: nonEmptyPath)
    var source: String?

    @Option(name: .long, help: "Capture format: yuyv, uyvy, nv12, mjpeg or rgb24 (default: the best offered).")
    var format: String?

    @Option(name: .customLong("capture-size"), parsing: .unconditional, help: ArgumentHelp("Capture size WxH of the device (default: its current size).", valueName: "WxH"))
    var captureSize: String?

    @Option(name: .long, parsing: .unconditional, help: "Replay rate for a folder of images, frames per second.")
    var fps: Double = 30

    @Flag(name: .customLong("no-pace"), help: "Replay as fast as the pipeline takes frames (every frame segmented).")
    var noPace = false

    @Flag(name: .long, help: "Replay the source again from the start when it ends.")
    var loop = false

    @Option(name: .customLong("overlay-out"), help: "Folder for PNG overlay snapshots.", transform: nonEmptyPath)
    var overlayOut: String?

    @Option(name: .long, parsing: .unconditional, help: "Write an overlay snapshot every N segmented frames.")
    var every: Int = 30

    @Option(name: .customLong("masks-out"), help: "Folder for mask PNGs (every segmented frame).", transform: nonEmptyPath)
    var masksOut: String?

    @Option(name: .long, help: "\"-\": raw RGB24 frames with the overlay on stdout.")
    var output: String?

    @Option(name: .customLong("v4l2-out"), help: "V4L2 output device for the overlaid stream.", transform: nonEmptyDevice)
    var v4l2Out: String?

    @Option(name: .long, help: "Serve a browser preview on [ADDRESS:]PORT (loopback unless an address is given): the page, /stream.mjpg, /snapshot.jpg, /stats, /health.")
    var http: String?

    @Option(name: .long, parsing: .unconditional, help: "Stop after this many segmented frames.")
    var frames: Int?

    @Option(name: .long, parsing: .unconditional, help: "Stop after this many seconds.")
    var duration: Double?

    @Flag(name: .long, help: "If the device is missing at start, keep retrying with back-off.")
    var wait = false

    @Option(name: .customLong("give-up-after"), parsing: .unconditional, help: "End the run (exit code 3) when the device stays away this many seconds; 0 gives up at the first failed (re)open, without retrying (default: keep retrying).")
    var giveUpAfter: Double?

    @Option(name: .customLong("timeout-ms"), parsing: .unconditional, help: "Frame timeout in milliseconds, at least 10 (timeouts are counted and logged).")
    var timeoutMs: Int = 1000

    @Option(name: .customLong("max-mask-age-ms"), parsing: .unconditional,
            help: "Do not draw masks older than this on displayed frames (default 1500 with motion compensation, which moves the mask onto the frame shown; 500 with --no-motion-compensation).")
    var maxMaskAgeMs: Double?

    @Option(name: .long, parsing: .unconditional, help: "Probability threshold of the mask.")
    var threshold: Float = 0.5

    @Option(name: .long, help: "Overlay tint R,G,B.")
    var tint: String = "0,255,0"

    @Option(name: .long, parsing: .unconditional, help: "Overlay tint opacity, 0-1.")
    var opacity: Float = 0.35

    @Flag(name: .customLong("no-contour"), help: "Do not draw the mask contour.")
    var noContour = false

    @Option(name: .customLong("contour-color"), help: "Contour colour R,G,B.")
    var contourColor: String = "255,255,0"

    @Option(name: .customLong("contour-thickness"), parsing: .unconditional, help: "Contour thickness in pixels, 0-64 (0 draws none, as --no-contour).")
    var contourThickness: Int = 2

    @Flag(name: .customLong("no-motion-compensation"), help: "Draw each mask where it was computed, not moved by the camera motion since (display outputs).")
    var noMotionCompensation = false

    @Flag(name: .long, help: "Print the run's statistics (stderr) at the end.")
    var stats = false

    @Option(name: .customLong("stats-interval"), parsing: .unconditional, help: "Also log the statistics every this many seconds (at least 0.1).")
    var statsInterval: Double?

    @Flag(name: .long, help: "Print the run's statistics as JSON on stdout at the end.")
    var json = false

    @Option(name: .long, help: calibrationOptionHelp)
    var calibration: String?

    @Flag(name: .customLong("fake-segmenter"), help: "Test mode: no model; foreground where the frame is bright (used by the vivid VM tests).")
    var fakeSegmenter = false

    @Option(name: .customLong("fake-input-size"), parsing: .unconditional, help: ArgumentHelp(
        "Input size N of the --fake-segmenter (default 64; --size overrides it): like a model's, a positive multiple of the network's stride (\(Graph.conDSegInputStride)), at most \(ModelConfig.maximumInputSize).",
        valueName: "N"))
    var fakeInputSize: String?

    /// The --fake-segmenter's input size: --size, else --fake-input-size, else 64; each checked by the size rule
    /// of the models it stands in for.
    func fakeSegmenterInputSize() throws -> Int {
        let own = try fakeInputSize.map { try parseInputSize($0, option: "--fake-input-size", meaning: "the fake segmenter runs at N×N") }
        return try sizeOptions.inputSize() ?? own ?? 64
    }

    @Option(name: .customLong("simulate-faults"), parsing: .unconditional,
            help: "Test mode for --device simulated:WxH (a camera simulated in memory): on average one fault every N polls (timeouts, partial and flagged buffers, poll and dequeue errors, resolution changes, unplug and return); 0 for none.")
    var simulateFaults: Int = 0

    @Option(name: .customLong("simulate-seed"), parsing: .unconditional, help: "Seed of the simulated camera's fault schedule.")
    var simulateSeed: UInt64 = 1

    func validate() throws {
        guard (device == nil) != (source == nil) else { throw ValidationError("give exactly one of --device or --source") }
        if let output, output != "-" { throw ValidationError("--output takes only \"-\" (stdout); use --v4l2-out for a device") }
        if output == "-" && json { throw ValidationError("--json and --output - both want stdout; use --stats (stderr) instead") }
        guard every >= 1 else { throw ValidationError("--every must be at least 1") }
        guard fps > 0 && fps <= 1000 else { throw ValidationError("--fps must be in (0, 1000]") }
        guard timeoutMs >= 10 else { throw ValidationError("--timeout-ms must be at least 10 (got \(timeoutMs))") }
        guard (0...64).contains(contourThickness) else {
            throw ValidationError("--contour-thickness must be 0-64 pixels (got \(contourThickness))")
        }
        guard (0...1).contains(opacity) else { throw ValidationError("--opacity must be within 0...1") }
        if let frames, frames < 1 { throw ValidationError("--frames must be at least 1") }
        guard threshold >= 0 && threshold < 1 else {
            throw ValidationError("--threshold must be a probability in [0, 1) (got \(threshold))")
        }
        if let statsInterval, !(statsInterval >= 0.1 && statsInterval.isFinite) {
            throw ValidationError("--stats-interval must be a finite number of seconds, at least 0.1 (got \(statsInterval))")
        }
        if let duration, !(duration > 0 && duration.isFinite) {
            throw ValidationError("--duration must be a positive, finite number of seconds (got \(duration))")
        }
        if let giveUpAfter, !(giveUpAfter >= 0 && giveUpAfter.isFinite) {
            throw ValidationError("--give-up-after must be a number of seconds, 0 or more (got \(giveUpAfter))")
        }
        if let maxMaskAgeMs, !(maxMaskAgeMs > 0 && maxMaskAgeMs.isFinite) {
            throw ValidationError("--max-mask-age-ms must be a positive number of milliseconds (got \(maxMaskAgeMs))")
        }
        if source != nil && (format != nil || captureSize != nil) { throw ValidationError("--format/--capture-size apply to --device only") }
        if let captureSize { _ = try parseFrameSize(captureSize, option: "--capture-size") }
        if calibration != nil && fakeSegmenter { throw ValidationError("--calibration needs a model, not --fake-segmenter") }
        if fakeInputSize != nil && !fakeSegmenter { throw ValidationError("--fake-input-size applies to --fake-segmenter only (a model runs at --size N)") }
        _ = try fakeSegmenterInputSize()
        guard simulateFaults >= 0 else { throw ValidationError("--simulate-faults must be 0 or more") }
        if let device, device.hasPrefix("simulated:") {
            let (width, _) = try parseFrameSize(String(device.dropFirst("simulated:".count)), option: "--device simulated:WxH")
            // YUYV carries two pixels in four bytes: an odd width has no whole last pair, and every frame would
            // fail conversion.
            guard width % 2 == 0 else {
                throw ValidationError("--device \(device): the simulated camera delivers YUYV, whose width must be even (got \(width))")
            }
            if format != nil || captureSize != nil { throw ValidationError("--format/--capture-size do not apply to a simulated device (it delivers YUYV at its WxH)") }
        } else if simulateFaults > 0 {
            throw ValidationError("--simulate-faults needs --device simulated:WxH")
        }
        if let http { _ = try parseListenAddress(http) }
    }

    mutating func run() throws {
        // SIGPIPE is ignored by `main` for every command: a live display does not die because whatever reads its
        // log or its stdout went away (logged lines are dropped, an output failure ends the run with status 5).
        // Both sinks name their files frame-NNNNNN.png: their folders must differ, and differ from a --source folder.
        var plan = OutputPlan()
        if let source { plan.read(source, as: "--source") }
        if let overlayOut { plan.write(overlayOut, as: "--overlay-out folder") }
        if let masksOut { plan.write(masksOut, as: "--masks-out folder") }
        try plan.check()
        // The output folders must take files, and a --source must be a folder or a .y4m file, before the model loads.
        if let overlayOut { try AtomicFile.checkFolderUsable(overlayOut) }
        if let masksOut { try AtomicFile.checkFolderUsable(masksOut) }
        if let source, !source.lowercased().hasSuffix(".y4m") {
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: source, isDirectory: &isFolder), !isFolder.boolValue {
                throw InputError(path: source, problem: "not a folder or a .y4m file (--source takes a folder of images or a YUV4MPEG2 file)")
            }
        }
        let segmenter: FrameSegmenter
        let identity: RunIdentity
        let engineDescription = TextBox("fake-brightness-segmenter")
        if fakeSegmenter {
            segmenter = BrightnessSegmenter(inputSize: try fakeSegmenterInputSize())
            identity = RunIdentity(runtimeVersion: condsegVersion, modelSHA256: "fake-brightness-segmenter")
        } else {
            let loaded = try modelOptions.loadEngine(calibration: calibration, engine: engineOptions.engine,
                                                     size: sizeOptions.inputSize())
            segmenter = EngineFrameSegmenter(engine: loaded.engine)
            // The calibration hash: SHA-256 of the table file; a quantized model file carries its table, so its
            // own SHA-256 (the model= field) identifies both.
            var calibrationHash = loaded.name.hasPrefix("int8") ? "in-model" : "none"
            if let calibration {
                calibrationHash = SHA256.hex(try InputFile.read(try BundledFiles.calibration(calibration), what: "the calibration table"))
            }
            identity = RunIdentity(runtimeVersion: condsegVersion, modelSHA256: loaded.modelSHA256,
                                   calibrationHash: calibrationHash)
            printError("\(identity.prefix) engine \(loaded.name), input \(segmenter.inputSize)x\(segmenter.inputSize)")
            engineDescription.value = loaded.name
        }

        let frameSource: FrameSource
        var simulatedDevice: SimulatedVideoDevice?
        if let device, device.hasPrefix("simulated:") {
            let (width, height) = try parseFrameSize(String(device.dropFirst("simulated:".count)), option: "--device")
            let simulated = SimulatedVideoDevice.soak(width: width, height: height, faultEvery: simulateFaults, seed: simulateSeed)
            simulatedDevice = simulated
            frameSource = V4L2Capture(device: simulated)
        } else if let device {
            frameSource = V4L2Capture(device: LibV4L2Device(path: device), format: try parsePixelFormat(format),
                                      size: try captureSize.map { try parseFrameSize($0, option: "--capture-size") })
        } else if let source, source.lowercased().hasSuffix(".y4m") {
            frameSource = Y4MSource(path: source, paced: !noPace, loop: loop)
        } else {
            frameSource = ImageFolderSource(folder: source!, framesPerSecond: fps, paced: !noPace, loop: loop)
        }

        var sinks: [LiveSink] = []
        if let overlayOut { sinks.append(try OverlaySnapshotSink(folder: overlayOut, every: every)) }
        if let masksOut { sinks.append(try MaskFolderSink(folder: masksOut)) }
        if output == "-" { sinks.append(RawVideoSink(descriptor: 1, name: "stdout")) }
        if let v4l2Out { sinks.append(try V4L2OutputSink(path: v4l2Out)) }
        // The browser preview: its /stats reads the pipeline's figures once the pipeline exists.
        let pipelineBox = PipelineBox()
        var preview: PreviewServer?
        if let http {
            let (address, port) = try parseListenAddress(http)
            var settings = PreviewServer.Settings()
            settings.address = address
            settings.port = port
            let engineName = engineDescription
            let server = PreviewServer(settings: settings) { [identity] in
                var object = pipelineBox.pipeline?.statistics.jsonObject(identity: identity) ?? [:]
                object["kernels"] = activeKernels
                object["engine"] = engineName.value
                return object
            }
            try server.start()
            printError("\(identity.prefix) preview on http://\(address):\(server.port)/")
            sinks.append(server.sink)
            preview = server
        }
        defer { preview?.stop() }
        // Started by systemd as a notify service: report readiness and feed its watchdog.
        if let notifier = SystemdNotifier() { sinks.append(SystemdWatchdogSink(notifier: notifier)) }

        var options = LiveOptions()
        options.maskThreshold = threshold
        options.overlayStyle = OverlayStyle(tint: try parseColour(tint, option: "--tint"), opacity: opacity,
                                            contour: !noContour, contourColor: try parseColour(contourColor, option: "--contour-color"),
                                            contourThickness: contourThickness)
        options.frameTimeoutMilliseconds = timeoutMs
        // A compensated mask is moved onto the frame it is drawn on (and hidden when the motion is unreliable), so
        // it may be older: at 2 masks/s every mask is 0.5-1 s old when drawn.
        options.maxMaskAgeMilliseconds = maxMaskAgeMs ?? (noMotionCompensation ? 500 : 1500)
        options.frameLimit = frames
        options.durationLimitSeconds = duration
        options.waitForDevice = wait
        options.giveUpAfterSeconds = giveUpAfter
        options.waitForConsumer = noPace && device == nil
        options.statsIntervalSeconds = statsInterval
        options.motionCompensation = !noMotionCompensation
        // The simulated camera is away for a number of failed opens, not for a time: the back-off between them
        // runs on a simulated clock instead of sleeping.
        options.simulatedBackOff = simulatedDevice != nil

        let log = LiveLog(identity: identity)
        let pipeline = LivePipeline(source: frameSource, segmenter: segmenter, sinks: sinks, options: options, log: log)
        pipelineBox.pipeline = pipeline
        let signals = StopSignals { number in
            log.info("signal \(number): stopping")
            pipeline.requestStop()
        }
        defer { signals.cancel() }
        let (ending, statistics) = try pipeline.run()
        // The same line as the periodic ones of --stats-interval (prefix, time, level), so one pattern finds both.
        if stats { log.info("stats: \(statistics.summary)") }
        if json {
            // A simulated device adds what it injected, so a soak can compare it with what the pipeline counted.
            var object = statistics.jsonObject(identity: identity)
            if let simulatedDevice { object["simulated_device"] = simulatedDevice.report }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
        if ending == .deviceGone {
            let after = giveUpAfter.map { " for longer than \(fixed($0, 1)) s (--give-up-after)" } ?? ""
            throw ProblemList(.device, problems: ["\(device ?? source ?? "source"): no video\(after); gave up"])
        }
    }
}

/// Parses "PORT" (loopback) or "ADDRESS:PORT" for --http.
func parseListenAddress(_ text: String) throws -> (address: String, port: Int) {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false)
    let address = parts.count == 2 ? String(parts[0]) : "127.0.0.1"
    guard parts.count <= 2, let port = Int(parts.last ?? ""), (0...65535).contains(port) else {
        throw ValidationError("--http takes PORT or ADDRESS:PORT (e.g. 8080 or 0.0.0.0:8080), not \"\(text)\"")
    }
    // An empty address (":8080") is loopback like a bare port: exposing the video takes an explicit 0.0.0.0.
    let bound = address.isEmpty ? "127.0.0.1" : address
    var probe = in_addr()
    guard inet_pton(AF_INET, bound, &probe) == 1 else {
        throw ValidationError("--http: \"\(address)\" is not an IPv4 address (e.g. 127.0.0.1 or 0.0.0.0)")
    }
    return (bound, port)
}

/// The live pipeline, once made (read by the preview's /stats from its client threads).
final class PipelineBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: LivePipeline?
    var pipeline: LivePipeline? {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}

/// A string shared with a closure.
final class TextBox: @unchecked Sendable {
    var value: String
    init(_ value: String) { self.value = value }
}
