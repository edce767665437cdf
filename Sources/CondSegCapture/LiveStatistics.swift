// LiveStatistics.swift: the run's counters and timing distributions. Latencies go into a fixed histogram
// with 1 % wide logarithmic bins (10 µs … 100 s), so memory stays constant over runs of any length and the
// median and p99 are exact to within 1 %. Snapshots handed to other threads own their bins (`unshared()`), so no
// array buffer is ever shared between the thread that records and the one that reads.
import Foundation

/// A fixed-size log-binned histogram of durations in milliseconds.
public struct DurationHistogram: Sendable {
    static let lowestMilliseconds = 0.01
    static let binGrowth = 1.01
    static let binCount = Int((log(1e7) / log(1.01)).rounded(.up)) + 2
    private var bins = [UInt32](repeating: 0, count: DurationHistogram.binCount)
    public private(set) var count = 0
    public private(set) var sum = 0.0
    public private(set) var maximum = 0.0

    public init() {}

    public mutating func record(milliseconds: Double) {
        let value = max(milliseconds, 0)
        count += 1
        sum += value
        maximum = max(maximum, value)
        let index: Int
        if value <= Self.lowestMilliseconds { index = 0 } else {
            index = min(Self.binCount - 1, 1 + Int(log(value / Self.lowestMilliseconds) / log(Self.binGrowth)))
        }
        bins[index] &+= 1
    }

    /// The q-quantile (0…1) in milliseconds (the geometric middle of its bin), or nil when empty.
    public func quantile(_ q: Double) -> Double? {
        guard count > 0 else { return nil }
        let rank = max(1, Int((q * Double(count)).rounded(.up)))
        var seen = 0
        for (index, binCount) in bins.enumerated() {
            seen += Int(binCount)
            if seen >= rank {
                if index == 0 { return Self.lowestMilliseconds }
                let lower = Self.lowestMilliseconds * pow(Self.binGrowth, Double(index - 1))
                return min(lower * sqrt(Self.binGrowth), maximum)
            }
        }
        return maximum
    }

    public var mean: Double? { count > 0 ? sum / Double(count) : nil }

    /// A copy whose bins live in storage of its own, not shared with this histogram's. Taken under the lock that
    /// guards the histogram, it lets another thread read the copy while this one keeps recording: a plain copy
    /// would share the array buffer, and the next `record` would then decide between copying and writing in place
    /// by the buffer's reference count, which the other thread changes when it lets its copy go.
    public func unshared() -> DurationHistogram {
        var copy = DurationHistogram()
        copy.bins = bins.withUnsafeBufferPointer { [UInt32]($0) }
        copy.count = count
        copy.sum = sum
        copy.maximum = maximum
        return copy
    }

    /// Adds the samples of another histogram.
    public mutating func merge(_ other: DurationHistogram) {
        for index in bins.indices { bins[index] &+= other.bins[index] }
        count += other.count
        sum += other.sum
        maximum = max(maximum, other.maximum)
    }
}

/// Counters and timings of a live run. `captured` counts every frame the source produced (including the
/// ones the drain skipped); `dropped` those never segmented because a newer frame replaced them; `discarded`
/// those thrown away without a mask: made stale by a device fault or a format change, or failing conversion
/// (those are also counted `corrupt`, with the buffers the capture refused). Every captured frame ends segmented,
/// dropped or discarded: captured = segmented + dropped + discarded + inFlight; `inFlight` are those on their way.
public struct LiveStatistics: Sendable {
    public var captured = 0
    public var segmented = 0
    public var dropped = 0
    /// Captured frames (or their masks) thrown away without a mask: a fault or a format change came after them,
    /// or the frame failed conversion (a broken MJPEG frame, a row stride that does not fit; also `corrupt`).
    public var discarded = 0
    /// Captured frames between the capture and the end of the output stage now (waiting in a hand-off, being
    /// converted and segmented, or their mask being drawn); 0 once a run has ended.
    public var inFlight = 0
    /// The largest `inFlight` seen during the run: the depth of the frame queue between the stages. The
    /// latest-wins hand-offs bound it by 4 (one frame waiting for inference, one being segmented, one mask
    /// waiting for the output stage, one being drawn).
    public var inFlightMaximum = 0
    public var corrupt = 0
    public var timeouts = 0
    public var deviceFaults = 0
    public var reconnects = 0
    public var displayed = 0
    public var formatChanges = 0
    /// Seconds of back-off between reopen attempts (slept, or only counted on a simulated clock).
    public var reconnectWaitSeconds = 0.0
    /// True when that back-off ran on a simulated clock (`LiveOptions.simulatedBackOff`): counted, not slept, so it
    /// is not part of `elapsedSeconds` and may exceed it.
    public var reconnectWaitSimulated = false
    /// Display frames drawn with a mask moved by the estimated camera motion.
    public var motionCompensated = 0
    /// Display frames whose overlay was hidden because the motion could not be estimated reliably.
    public var motionHidden = 0
    /// Motion tracking per display frame: luma pyramid, frame-to-frame step, key alignment, mask warp.
    public var motion = DurationHistogram()
    /// Capture timestamp → mask ready at the output stage (overlay composed, before sinks write files).
    public var latency = DurationHistogram()
    /// Model call only.
    public var inference = DurationHistogram()
    /// Fused conversion of a frame to the model input.
    public var conversion = DurationHistogram()
    public var elapsedSeconds = 0.0

    public init() {}

    /// A copy for another thread: the same figures, with histograms of its own (see `DurationHistogram.unshared`).
    public func unshared() -> LiveStatistics {
        var copy = self
        copy.motion = motion.unshared()
        copy.latency = latency.unshared()
        copy.inference = inference.unshared()
        copy.conversion = conversion.unshared()
        return copy
    }

    /// Segmented frames per second over the run.
    public var segmentedPerSecond: Double { elapsedSeconds > 0 ? Double(segmented) / elapsedSeconds : 0 }
    public var capturedPerSecond: Double { elapsedSeconds > 0 ? Double(captured) / elapsedSeconds : 0 }

    private static func format(_ value: Double?) -> String {
        guard let value else { return "n/a" }
        return String(format: "%.2f", value)
    }

    /// One human line, e.g. for `--stats`.
    public var summary: String {
        "captured \(captured) segmented \(segmented) dropped \(dropped) discarded \(discarded) in flight \(inFlight) "
            + "(max \(inFlightMaximum)) corrupt \(corrupt) displayed \(displayed) "
            + "timeouts \(timeouts) format changes \(formatChanges) "
            + "faults \(deviceFaults) reconnects \(reconnects) (back-off \(Self.format(reconnectWaitSeconds)) s"
            + (reconnectWaitSimulated ? ", simulated" : "") + ") | latency ms median \(Self.format(latency.quantile(0.5))) "
            + "p99 \(Self.format(latency.quantile(0.99))) | inference ms median \(Self.format(inference.quantile(0.5))) "
            + "mean \(Self.format(inference.mean)) | \(Self.format(segmentedPerSecond)) segmented/s "
            + "\(Self.format(capturedPerSecond)) captured/s over \(Self.format(elapsedSeconds)) s"
            + (motion.count > 0 ? " | motion: moved \(motionCompensated) hidden \(motionHidden), ms median "
                + "\(Self.format(motion.quantile(0.5))) p99 \(Self.format(motion.quantile(0.99)))" : "")
    }

    /// The statistics as a JSON-ready dictionary (times in milliseconds; absent values are null). The keys are the
    /// fields above in snake case; `reconnect_wait_s` is the back-off, with `reconnect_wait_simulated` saying whether
    /// it was only counted (a simulated device) rather than slept.
    public func jsonObject(identity: RunIdentity) -> [String: Any] {
        func value(_ number: Double?) -> Any { number.map { ($0 * 1000).rounded() / 1000 } ?? NSNull() }
        return [
            "runtime_version": identity.runtimeVersion,
            "model_sha256": identity.modelSHA256,
            "calibration_hash": identity.calibrationHash,
            "captured": captured, "segmented": segmented, "dropped": dropped, "corrupt": corrupt,
            "timeouts": timeouts, "device_faults": deviceFaults, "reconnects": reconnects,
            "displayed": displayed, "format_changes": formatChanges, "discarded": discarded,
            "in_flight": inFlight, "in_flight_max": inFlightMaximum, "reconnect_wait_s": value(reconnectWaitSeconds),
            "reconnect_wait_simulated": reconnectWaitSimulated,
            "latency_ms": ["median": value(latency.quantile(0.5)), "p99": value(latency.quantile(0.99)),
                           "max": value(latency.count > 0 ? latency.maximum : nil)],
            "inference_ms": ["median": value(inference.quantile(0.5)), "p99": value(inference.quantile(0.99)),
                             "mean": value(inference.mean)],
            "conversion_ms": ["median": value(conversion.quantile(0.5)), "mean": value(conversion.mean)],
            "motion_compensated": motionCompensated, "motion_hidden": motionHidden,
            "motion_ms": ["median": value(motion.quantile(0.5)), "p99": value(motion.quantile(0.99)), "mean": value(motion.mean)],
            "elapsed_s": value(elapsedSeconds),
            "segmented_per_s": value(segmentedPerSecond),
            "captured_per_s": value(capturedPerSecond),
        ]
    }

    /// The statistics as one JSON document (sorted keys).
    public func json(identity: RunIdentity) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: jsonObject(identity: identity), options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
