// LivePipeline.swift: the live job. Three threads joined by latest-wins hand-offs:
//   capture  — pulls frames from the source (drain-to-newest for devices), handles faults and reopening;
//   inference — converts the newest frame to the model input (fused pass) and runs the segmenter;
//   output   — turns masks into overlays and feeds the sinks; with display sinks it also passes every
//              captured frame on at once, overlaid with the latest mask (which may lag a frame).
// Faults: a device error clears the overlay at once (sinks get `videoLost`, masks computed before the
// fault are discarded by a generation counter), "no video" is logged, and the source is reopened with
// exponential back-off. A mask older than `maxMaskAgeMilliseconds` is not drawn: the overlay vanishes
// rather than freezes when inference stalls.
import CondSegIO
import CondSegImage
import Foundation

/// A segmentation model as the live pipeline sees it: square input, channel order, scale, and a call
/// from planar CHW input to H×W foreground probabilities. The CLI adapts the real model to it.
public protocol FrameSegmenter: AnyObject {
    /// Side of the square model input.
    var inputSize: Int { get }
    /// True when the model wants BGR planes (OpenCV order), false for RGB.
    var channelOrderBGR: Bool { get }
    /// Factor applied to 0…255 pixel values (1/255 for ConDSeg).
    var inputScale: Float { get }
    /// `planar`: 3×inputSize×inputSize floats; returns inputSize×inputSize probabilities in 0…1.
    func segment(planar: [Float]) throws -> [Float]
}

/// A model-free segmenter: foreground where the mean of the three input planes (in 0…255 units) exceeds
/// a threshold. Used by tests and by `condseg live --fake-segmenter` (e.g. in the vivid VM, where a real
/// network under software emulation would take seconds per frame).
public final class BrightnessSegmenter: FrameSegmenter {
    public let inputSize: Int
    public let channelOrderBGR: Bool
    public let inputScale: Float
    public let threshold: Float
    /// Optional artificial work per frame, in seconds (to mimic a model's inference time).
    public let delaySeconds: Double

    public init(inputSize: Int = 64, threshold: Float = 128, channelOrderBGR: Bool = true,
                inputScale: Float = 1.0 / 255, delaySeconds: Double = 0) {
        self.inputSize = inputSize
        self.threshold = threshold
        self.channelOrderBGR = channelOrderBGR
        self.inputScale = inputScale
        self.delaySeconds = delaySeconds
    }

    public func segment(planar: [Float]) throws -> [Float] {
        if delaySeconds > 0 { Thread.sleep(forTimeInterval: delaySeconds) }
        let plane = inputSize * inputSize
        return (0..<plane).map { index in
            let mean = (planar[index] + planar[plane + index] + planar[2 * plane + index]) / (3 * inputScale)
            return mean > threshold ? 1 : 0
        }
    }
}

/// One segmented frame as the output stage hands it to sinks.
public struct SegmentedResult {
    public let frame: Frame
    /// The frame as RGB24.
    public let rgb: Image8
    /// Model output: inputSize×inputSize probabilities.
    public let probabilities: [Float]
    public let probabilitySize: Int
    /// Foreground mask at the frame's size, 0 or 255, one byte per pixel.
    public let mask: Image8
    /// The frame with the mask drawn on it.
    public let overlay: Image8
    /// A file name stem: the replayed file's name, or frame-<sequence>.
    public var fileStem: String { frame.label ?? String(format: "frame-%06llu", frame.sequence) }
}

/// Where results go. Called on the output thread only.
public protocol LiveSink: AnyObject {
    /// True if the sink wants every captured frame (with the latest mask drawn), not only segmented ones.
    var wantsDisplayFrames: Bool { get }
    /// True if the sink wants `segmented` calls (default: true unless it wants display frames).
    var wantsSegmentedFrames: Bool { get }
    /// A frame was segmented.
    func segmented(_ result: SegmentedResult) throws
    /// A captured frame for the video path; `overlaid` tells whether a current mask was drawn on it.
    func display(_ image: Image8, sequence: UInt64, overlaid: Bool) throws
    /// A mask was produced for the frame `sequence` (every segmented frame, whatever the sink wants).
    func maskProduced(sequence: UInt64)
    /// The source failed: clear any overlay now.
    func videoLost()
    /// The run ended: flush and close.
    func finish() throws
}

extension LiveSink {
    public var wantsDisplayFrames: Bool { false }
    public var wantsSegmentedFrames: Bool { !wantsDisplayFrames }
    public func segmented(_ result: SegmentedResult) throws {}
    public func display(_ image: Image8, sequence: UInt64, overlaid: Bool) throws {}
    public func maskProduced(sequence: UInt64) {}
    public func videoLost() {}
    public func finish() throws {}
}

/// How a live run behaves.
public struct LiveOptions {
    /// Probability above which a pixel is foreground (the paper's protocol: prediction > 0.5, as `condseg segment`).
    public var maskThreshold: Float = 0.5
    public var overlayStyle: OverlayStyle = .default
    /// Poll timeout for one frame; a timeout is counted and logged.
    public var frameTimeoutMilliseconds = 1000
    /// Masks older than this (capture time of the displayed frame minus that of the masked one) are not drawn.
    public var maxMaskAgeMilliseconds = 500.0
    /// Stop after this many segmented frames.
    public var frameLimit: Int?
    /// Stop after this many seconds.
    public var durationLimitSeconds: Double?
    /// Keep retrying when the device is missing at start (otherwise fail at once).
    public var waitForDevice = false
    /// First and longest delay between reopen attempts.
    public var reconnectInitialDelaySeconds = 0.1
    public var reconnectMaxDelaySeconds = 2.0
    /// When true, the waits between reopen attempts advance a simulated clock instead of sleeping: for a simulated
    /// device, whose absence lasts a number of failed opens rather than seconds. The back-off sequence, its log
    /// lines and the give-up deadline (real time plus the simulated waits) run as they would with a camera.
    public var simulatedBackOff = false
    /// End the run (outcome `.deviceGone`) if the device stays away this long; nil waits for ever.
    public var giveUpAfterSeconds: Double?
    /// Never drop: the source waits for the pipeline (unpaced replays segment every frame); the next frame is read
    /// only once the previous one is out, so a `frameLimit` run reads exactly that many frames.
    public var waitForConsumer = false
    /// Log the statistics line every this many seconds (nil: only at the end).
    public var statsIntervalSeconds: Double?
    /// Move each mask by the camera motion estimated from its frame to the displayed one before drawing it
    /// (display frames only); when the motion cannot be estimated reliably the overlay is hidden on that frame.
    public var motionCompensation = false
    /// A live source whose every frame is unusable (reported corrupt, or failing conversion to the model input) for
    /// this long is treated as a device fault: overlay cleared, "no video", reopened with back-off (a camera stuck
    /// sending garbage recovers, or the run ends as `.deviceGone` when it does not come back). nil: never. Replays
    /// only skip such frames.
    public var unusableVideoFaultSeconds: Double? = 5
    public init() {}
}

/// Why a run ended.
public enum LiveEnding: String, Sendable {
    case endOfStream = "end of stream"
    case stopped = "stopped"
    case frameLimit = "frame limit reached"
    case durationLimit = "duration limit reached"
    case deviceGone = "device gone"
    case failed = "failed"
}

/// A frame travelling to the inference or output stage, tagged with the video generation it belongs to.
struct TaggedFrame {
    var frame: Frame
    var generation: Int
}

/// A model result travelling to the output stage.
struct TaggedMask {
    var frame: Frame
    var probabilities: [Float]
    var generation: Int
}

/// What the output thread picks up at once: the newest display frame, the newest mask, and whether
/// the video was lost since the last pick-up.
final class OutputMailbox: @unchecked Sendable {
    private let condition = NSCondition()
    private var display: TaggedFrame?
    private var mask: TaggedMask?
    private var lost = false
    private var closed = false

    /// Returns the item replaced (dropped), if any.
    func putDisplay(_ frame: TaggedFrame) -> Bool {
        condition.lock(); defer { condition.unlock() }
        let replaced = display != nil
        display = frame
        condition.broadcast()
        return replaced
    }

    func putMask(_ newMask: TaggedMask) -> Bool {
        condition.lock(); defer { condition.unlock() }
        let replaced = mask != nil
        mask = newMask
        condition.broadcast()
        return replaced
    }

    /// Drops whatever is pending and flags the loss for the output thread; returns true if a mask was dropped.
    @discardableResult
    func videoLost() -> Bool {
        condition.lock(); defer { condition.unlock() }
        let droppedMask = mask != nil
        display = nil
        mask = nil
        lost = true
        condition.broadcast()
        return droppedMask
    }

    func waitUntilEmpty(stopped: () -> Bool) {
        condition.lock(); defer { condition.unlock() }
        while (display != nil || mask != nil) && !closed && !stopped() {
            _ = condition.wait(until: Date(timeIntervalSinceNow: 0.05))
        }
    }

    /// Waits for work; nil once closed and drained.
    func take() -> (lost: Bool, mask: TaggedMask?, display: TaggedFrame?)? {
        condition.lock(); defer { condition.unlock() }
        while display == nil && mask == nil && !lost && !closed { condition.wait() }
        if display == nil && mask == nil && !lost { return nil }
        let work = (lost, mask, display)
        lost = false; mask = nil; display = nil
        condition.broadcast()
        return work
    }

    func close() {
        condition.lock(); defer { condition.unlock() }
        closed = true
        condition.broadcast()
    }
}

/// The live pipeline: construct, then `run()` (blocks until the run ends); `requestStop()` from any
/// thread (e.g. a signal handler's queue) ends it cleanly.
public final class LivePipeline: @unchecked Sendable {
    public let source: FrameSource
    public let segmenter: FrameSegmenter
    public let sinks: [LiveSink]
    public let options: LiveOptions
    public let log: LiveLog

    private let stopFlag = StopFlag()
    private let stats = Locked(LiveStatistics())
    private let generation = Locked(0)
    private let ending = Locked<LiveEnding?>(nil)
    private let failure = Locked<LiveRunError?>(nil)
    private let inferenceSlot = LatestSlot<TaggedFrame>()
    private let mailbox = OutputMailbox()
    /// When `run()` started (0 before): read by `statistics` from other threads (the preview's /stats).
    private let startTime = Locked<UInt64>(0)
    /// Unusable frames since the last usable one, and when the first of them came (monotonic ns).
    private let unusable = Locked<(count: Int, since: UInt64)>((0, 0))

    public init(source: FrameSource, segmenter: FrameSegmenter, sinks: [LiveSink], options: LiveOptions, log: LiveLog) {
        self.source = source
        self.segmenter = segmenter
        self.sinks = sinks
        self.options = options
        self.log = log
    }

    /// Asks the run to end; safe from any thread, any number of times.
    public func requestStop() {
        end(.stopped)
    }

    /// A snapshot of the counters and timings so far.
    public var statistics: LiveStatistics {
        var snapshot = stats.mutate { $0.unshared() }
        snapshot.reconnectWaitSimulated = options.simulatedBackOff
        let startNanos = startTime.read()
        if startNanos > 0 { snapshot.elapsedSeconds = Double(monotonicNanos() - startNanos) / 1e9 }
        return snapshot
    }

    private func end(_ reason: LiveEnding) {
        ending.mutate { if $0 == nil { $0 = reason } }
        stopFlag.set()
    }

    private var wantsDisplay: Bool { sinks.contains { $0.wantsDisplayFrames } }
    /// Whether any sink takes segmented frames (display-only sinks such as raw video do not): without one,
    /// the output stage does not build full-size masks and overlays for segmented frames.
    private var wantsSegmentedImages: Bool { sinks.contains { $0.wantsSegmentedFrames } }

    /// Runs until the source ends, the frame/duration limit is reached, a stop is requested, or the device
    /// stays away longer than `giveUpAfterSeconds`. Returns how it ended and the final statistics.
    /// Throws only when the source cannot be started (and `waitForDevice` is off) or a sink/model fails.
    public func run() throws -> (ending: LiveEnding, statistics: LiveStatistics) {
        let startNanos = monotonicNanos()
        startTime.mutate { $0 = startNanos }
        var format: FrameFormat
        do {
            format = try openSource(firstTime: true)
        } catch let error as CaptureError {
            source.stop()
            if stopFlag.isSet { return (ending.read() ?? .stopped, statistics) }
            throw error
        }
        log.info("streaming \(source.name): \(format)")

        let inferenceDone = DispatchSemaphore(value: 0)
        let outputDone = DispatchSemaphore(value: 0)
        let inferenceThread = Thread { [self] in inferenceLoop(); inferenceDone.signal() }
        inferenceThread.name = "condseg-inference"
        let outputThread = Thread { [self] in outputLoop(); outputDone.signal() }
        outputThread.name = "condseg-output"
        inferenceThread.start()
        outputThread.start()

        captureLoop(format: &format)

        source.stop()
        inferenceSlot.close()
        inferenceDone.wait()
        mailbox.close()
        outputDone.wait()
        let final = statistics
        // A failure is thrown, not logged: the caller reports it once (condseg prints its "error:" line).
        if let error = failure.read() { throw error }
        let reason = ending.read() ?? .stopped
        log.info("run ended (\(reason.rawValue)): \(final.summary)")
        return (reason, final)
    }

    /// Starts the source, retrying with back-off when allowed. Throws when not retrying.
    private func openSource(firstTime: Bool) throws -> FrameFormat {
        var delay = options.reconnectInitialDelaySeconds
        let began = monotonicNanos()
        var simulatedWaits = 0.0
        var attempts = 0
        while true {
            do {
                return try source.start()
            } catch let error as CaptureError {
                attempts += 1
                let retry: Bool
                switch error {
                case .deviceMissing, .deviceLost: retry = source.isLive && (!firstTime || options.waitForDevice)
                // While recovering, a device that is back but not yet usable (EBUSY, a half-initialised driver)
                // is retried too; at start such an error is a configuration problem and reported at once.
                case .unsupported: retry = source.isLive && !firstTime
                case .badSource: retry = false
                }
                guard retry else { throw error }
                if let limit = options.giveUpAfterSeconds, Double(monotonicNanos() - began) / 1e9 + simulatedWaits >= limit {
                    throw error
                }
                if attempts == 1 || attempts % 10 == 0 {
                    log.warning("no video: \(error); retrying (attempt \(attempts), next in \(String(format: "%.1f", delay)) s)")
                }
                if options.simulatedBackOff {
                    if stopFlag.isSet { throw error }
                    simulatedWaits += delay
                } else if stopFlag.sleep(seconds: delay) {
                    throw error
                }
                stats.mutate { [delay] in $0.reconnectWaitSeconds += delay }
                delay = min(delay * 2, options.reconnectMaxDelaySeconds)
            }
        }
    }

    private func captureLoop(format: inout FrameFormat) {
        var lastStatsLog = monotonicNanos()
        var consecutiveTimeouts = 0
        while !stopFlag.isSet {
            if let limit = options.durationLimitSeconds, Double(monotonicNanos() - startTime.read()) / 1e9 >= limit {
                end(.durationLimit)
                break
            }
            if let interval = options.statsIntervalSeconds, Double(monotonicNanos() - lastStatsLog) / 1e9 >= interval {
                lastStatsLog = monotonicNanos()
                log.info("stats: \(statistics.summary)")
            }
            if options.waitForConsumer {
                // Unpaced replay: fetch (and timestamp) the next frame only once the previous one is done,
                // so every frame is segmented and the latency measures processing, not waiting.
                inferenceSlot.waitUntilIdle { stopFlag.isSet }
                mailbox.waitUntilEmpty { stopFlag.isSet }
                // ...and until the output stage has finished with it (nothing in flight), so that a --frames limit
                // it reached ends the run here: reading one more frame would capture it only to drop it.
                while stats.mutate({ $0.inFlight }) > 0 && !stopFlag.isSet { stopFlag.sleep(seconds: 0.001) }
                if let limit = options.frameLimit, stats.mutate({ $0.segmented }) >= limit { break }
            }
            if source.isLive, let limit = options.unusableVideoFaultSeconds {
                let (count, since) = unusable.read()
                if count > 0, Double(monotonicNanos() - since) / 1e9 >= limit {
                    unusable.mutate { $0 = (0, 0) }
                    let error = CaptureError.deviceLost(path: source.name, reason: "every frame for \(String(format: "%g", limit)) s was unusable (\(count) corrupt or not convertible, none segmented)")
                    if !recoverFromFault(error, format: &format) { break }
                    continue
                }
            }
            let event: SourceEvent
            do {
                event = try source.next(timeoutMilliseconds: options.frameTimeoutMilliseconds)
            } catch let error as CaptureError {
                guard source.isLive else {
                    failure.mutate { $0 = LiveRunError(message: "\(error)", cause: error) }
                    end(.failed)
                    break
                }
                if !recoverFromFault(error, format: &format) { break }
                continue
            } catch {
                failure.mutate { $0 = LiveRunError(message: "\(source.name): \(error)", cause: error) }
                end(.failed)
                break
            }
            switch event {
            case .frame(let frame, let skipped):
                consecutiveTimeouts = 0
                // Counted in flight before it is handed on, so the stages downstream never count it out first; the
                // maximum is taken once the hand-off has settled (the frame it replaced, if any, counted out).
                stats.mutate { $0.captured += 1 + skipped; $0.dropped += skipped; $0.inFlight += 1 }
                let tagged = TaggedFrame(frame: frame, generation: generation.read())
                let replaced = inferenceSlot.put(tagged) != nil
                stats.mutate {
                    if replaced { $0.dropped += 1; $0.inFlight -= 1 }
                    $0.inFlightMaximum = max($0.inFlightMaximum, $0.inFlight)
                }
                if wantsDisplay { _ = mailbox.putDisplay(tagged) }
            case .timeout:
                consecutiveTimeouts += 1
                stats.mutate { $0.timeouts += 1 }
                if consecutiveTimeouts == 1 || consecutiveTimeouts % 10 == 0 {
                    log.warning("no frame from \(source.name) within \(options.frameTimeoutMilliseconds) ms (\(consecutiveTimeouts) in a row)")
                }
            case .corrupt(let reason):
                let count = stats.mutate { stats -> Int in stats.corrupt += 1; return stats.corrupt }
                noteUnusableFrame()
                if LivePipeline.shouldLog(occurrence: count) { log.warning("dropped corrupt frame (\(count) so far): \(reason)") }
            case .formatChanged(let newFormat):
                // A new picture geometry is a discontinuity: masks of the old one must not be drawn on it.
                generation.mutate { $0 += 1 }
                discardStaleFrames()
                stats.mutate { $0.formatChanges += 1 }
                log.info("source format changed: \(format) -> \(newFormat); overlay cleared")
                format = newFormat
            case .endOfStream:
                // Not a stop: the frames already handed on are still segmented and written.
                ending.mutate { if $0 == nil { $0 = .endOfStream } }
                return
            }
        }
    }

    /// Counts a frame that could not be segmented (see `LiveOptions.unusableVideoFaultSeconds`).
    private func noteUnusableFrame() {
        let now = monotonicNanos()
        unusable.mutate { $0 = ($0.count + 1, $0.count == 0 ? now : $0.since) }
    }

    /// After a new video generation began: drops the frame waiting for inference and the mask waiting for the
    /// output stage, and tells the output stage to clear the overlay.
    private func discardStaleFrames() {
        let stale = (inferenceSlot.clear() != nil ? 1 : 0) + (mailbox.videoLost() ? 1 : 0)
        if stale > 0 { stats.mutate { $0.discarded += stale; $0.inFlight -= stale } }
    }

    /// Clears the overlay, reports "no video" and reopens the device with back-off.
    /// Returns false when the run should end.
    private func recoverFromFault(_ error: CaptureError, format: inout FrameFormat) -> Bool {
        generation.mutate { $0 += 1 }
        stats.mutate { $0.deviceFaults += 1 }
        discardStaleFrames()
        log.warning("no video: \(error); overlay cleared, reopening")
        source.stop()
        do {
            format = try openSource(firstTime: false)
        } catch {
            if stopFlag.isSet { return false }
            if let limit = options.giveUpAfterSeconds {
                log.error("no video: \(source.name) did not come back within \(limit) s: \(error)")
            } else {
                log.error("no video: \(source.name) cannot be reopened: \(error)")
            }
            end(.deviceGone)
            return false
        }
        stats.mutate { $0.reconnects += 1 }
        log.info("video back on \(source.name): \(format)")
        return true
    }

    private func inferenceLoop() {
        while let item = inferenceSlot.take() {
            guard item.generation == generation.read() else {
                stats.mutate { $0.discarded += 1; $0.inFlight -= 1 }
                continue
            }
            let started = monotonicNanos()
            let planar: [Float]
            do {
                planar = try FrameConversion.modelInput(item.frame, size: segmenter.inputSize,
                                                        bgr: segmenter.channelOrderBGR, scale: segmenter.inputScale)
            } catch {
                // Counted corrupt (what went wrong) and discarded (how the frame ended: no mask), so that every
                // captured frame still ends segmented, dropped or discarded.
                let count = stats.mutate { stats -> Int in
                    stats.corrupt += 1; stats.discarded += 1; stats.inFlight -= 1; return stats.corrupt
                }
                noteUnusableFrame()
                if LivePipeline.shouldLog(occurrence: count) {
                    log.warning("discarded corrupt frame \(item.frame.sequence) (\(count) so far): \(error)")
                }
                continue
            }
            let converted = monotonicNanos()
            unusable.mutate { $0 = (0, 0) }
            let probabilities: [Float]
            do {
                probabilities = try segmenter.segment(planar: planar)
            } catch {
                failure.mutate { $0 = LiveRunError(message: "segmentation failed: \(error)", cause: error) }
                end(.failed)
                break
            }
            let finished = monotonicNanos()
            stats.mutate {
                $0.conversion.record(milliseconds: Double(converted - started) / 1e6)
                $0.inference.record(milliseconds: Double(finished - converted) / 1e6)
            }
            if options.waitForConsumer { mailbox.waitUntilEmpty { stopFlag.isSet } }
            if mailbox.putMask(TaggedMask(frame: item.frame, probabilities: probabilities, generation: item.generation)) {
                stats.mutate { $0.dropped += 1; $0.inFlight -= 1 }
            }
            inferenceSlot.finishedItem()
        }
    }

    /// Repeated warnings are logged the first 10 times, then every 100th, so a broken stream cannot flood the log.
    static func shouldLog(occurrence: Int) -> Bool { occurrence <= 10 || occurrence % 100 == 0 }

    /// The mask at the frame's size: bilinear upsampling of the probabilities, then the threshold.
    static func frameMask(_ probabilities: [Float], size: Int, width: Int, height: Int, threshold: Float) -> Image8 {
        let upsampled = (size == width && size == height) ? probabilities
            : Resize.bilinear(plane: probabilities, width: size, height: size, toWidth: width, toHeight: height)
        return Image8(width: width, height: height, channels: 1, pixels: upsampled.map { $0 > threshold ? 255 : 0 })
    }

    private func outputLoop() {
        var currentMask: TaggedMask?
        // Motion compensation: the tracker follows the displayed frames; the key is the current mask's frame.
        let tracker = options.motionCompensation && wantsDisplay ? MotionTracker() : nil
        var keyPyramid: LumaPyramid?
        var cachedMask: (sequence: UInt64, width: Int, height: Int, mask: Image8)?
        func mask(for tagged: TaggedMask, width: Int, height: Int) -> Image8 {
            if let cached = cachedMask, cached.sequence == tagged.frame.sequence, cached.width == width, cached.height == height {
                return cached.mask
            }
            let made = LivePipeline.frameMask(tagged.probabilities, size: segmenter.inputSize, width: width, height: height,
                                              threshold: options.maskThreshold)
            cachedMask = (tagged.frame.sequence, width, height, made)
            return made
        }
        var failed = false
        // Once --frames masks have gone out, masks still in flight are dropped: neither handed on nor segmented.
        var limitReached = false
        while let work = mailbox.take() {
            if failed { continue }
            if work.lost {
                currentMask = nil
                cachedMask = nil
                keyPyramid = nil
                tracker?.reset()
                for sink in sinks { sink.videoLost() }
            }
            do {
                if work.mask != nil && limitReached { stats.mutate { $0.dropped += 1; $0.inFlight -= 1 } }
                let currentGeneration = generation.read()
                if let tagged = work.mask, !limitReached, tagged.generation != currentGeneration {
                    stats.mutate { $0.discarded += 1; $0.inFlight -= 1 }
                }
                if let tagged = work.mask, tagged.generation == currentGeneration, !limitReached {
                    currentMask = tagged
                    var result: SegmentedResult?
                    var keyRGB: Image8?
                    if wantsSegmentedImages {
                        let rgb = try FrameConversion.rgb(tagged.frame)
                        keyRGB = rgb
                        let frameMask = mask(for: tagged, width: rgb.width, height: rgb.height)
                        let overlay = Overlay.draw(on: rgb, mask: frameMask.pixels, style: options.overlayStyle)
                        result = SegmentedResult(frame: tagged.frame, rgb: rgb, probabilities: tagged.probabilities,
                                                 probabilitySize: segmenter.inputSize, mask: frameMask, overlay: overlay)
                    }
                    if tracker != nil { keyPyramid = LumaPyramid(rgb: try keyRGB ?? FrameConversion.rgb(tagged.frame)) }
                    // Capture → mask ready (overlay composed), before sinks spend time writing files.
                    let latency = Double(monotonicNanos() &- tagged.frame.captureTimeNanos) / 1e6
                    if let result { for sink in sinks { try sink.segmented(result) } }
                    for sink in sinks { sink.maskProduced(sequence: tagged.frame.sequence) }
                    let count = stats.mutate { stats -> Int in
                        stats.segmented += 1
                        stats.inFlight -= 1
                        stats.latency.record(milliseconds: latency)
                        return stats.segmented
                    }
                    if let limit = options.frameLimit, count >= limit {
                        limitReached = true
                        end(.frameLimit)
                    }
                }
                if let tagged = work.display, tagged.generation == generation.read() {
                    var image = try FrameConversion.rgb(tagged.frame)
                    var overlaid = false
                    var pyramid: LumaPyramid?
                    var trackingNanos: UInt64 = 0
                    if let tracker {
                        let started = monotonicNanos()
                        pyramid = tracker.add(sequence: tagged.frame.sequence, pyramid: LumaPyramid(rgb: image))
                        trackingNanos = monotonicNanos() - started
                    }
                    if let current = currentMask, current.generation == tagged.generation {
                        let age = Double(Int64(bitPattern: tagged.frame.captureTimeNanos &- current.frame.captureTimeNanos)) / 1e6
                        if age <= options.maxMaskAgeMilliseconds {
                            var drawn: Image8? = mask(for: current, width: image.width, height: image.height)
                            if let tracker, let pyramid, current.frame.sequence != tagged.frame.sequence {
                                let started = monotonicNanos()
                                if let keyPyramid {
                                    let motion = tracker.motion(keySequence: current.frame.sequence, key: keyPyramid, current: pyramid)
                                    drawn = motion.reliable
                                        ? MaskWarp.warp(drawn!, currentToKey: motion.currentToKey, width: image.width, height: image.height)
                                        : nil
                                } else {
                                    drawn = nil
                                }
                                trackingNanos += monotonicNanos() - started
                                stats.mutate { if drawn == nil { $0.motionHidden += 1 } else { $0.motionCompensated += 1 } }
                            }
                            if let drawn {
                                image = Overlay.draw(on: image, mask: drawn.pixels, style: options.overlayStyle)
                                overlaid = true
                            }
                        }
                    }
                    if tracker != nil { stats.mutate { $0.motion.record(milliseconds: Double(trackingNanos) / 1e6) } }
                    for sink in sinks where sink.wantsDisplayFrames {
                        try sink.display(image, sequence: tagged.frame.sequence, overlaid: overlaid)
                    }
                    stats.mutate { $0.displayed += 1 }
                }
            } catch {
                // Whatever the sink's error type says, the run ended because an output could not be written.
                failure.mutate { $0 = LiveRunError(message: "output failed: \(error)", exitStatus: .output) }
                end(.failed)
                failed = true
            }
        }
        for sink in sinks {
            do { try sink.finish() } catch { failure.mutate { $0 = $0 ?? LiveRunError(message: "output failed: \(error)", exitStatus: .output) } }
        }
    }
}

/// A live run that ended in error (a sink or the model failed); the message names what failed.
public struct LiveRunError: Error, CustomStringConvertible {
    public let message: String
    /// The exit status of the failure that ended the run (an output that cannot be written, a bad replay file…).
    public let exitStatus: ExitStatus
    public var description: String { message }

    /// A failure described by `message`, with the exit status of the error that caused it.
    public init(message: String, cause: Error) {
        self.message = message
        self.exitStatus = ErrorReport.status(for: cause)
    }

    /// A failure described by `message` with a given exit status.
    public init(message: String, exitStatus: ExitStatus) {
        self.message = message
        self.exitStatus = exitStatus
    }
}
