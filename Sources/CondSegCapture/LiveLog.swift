// LiveLog.swift: log lines of a live run. Every line carries the runtime version, the model's SHA-256 and
// the calibration table's hash, so a line pasted from a device log identifies exactly what produced it.
import CondSegIO
import Foundation

/// What produced a run: passed in by the CLI (this module does not load models).
public struct RunIdentity: Sendable, Equatable {
    public var runtimeVersion: String
    public var modelSHA256: String
    /// Hash of the int8 calibration table, or "none" for the float path.
    public var calibrationHash: String
    public init(runtimeVersion: String, modelSHA256: String, calibrationHash: String = "none") {
        self.runtimeVersion = runtimeVersion
        self.modelSHA256 = modelSHA256
        self.calibrationHash = calibrationHash
    }
    /// The prefix every log line starts with.
    public var prefix: String { "[condseg \(runtimeVersion) model=\(modelSHA256) calib=\(calibrationHash)]" }
}

/// A thread-safe line logger (stderr by default; stdout may carry raw video).
public final class LiveLog: @unchecked Sendable {
    public let identity: RunIdentity
    private let lock = NSLock()
    private let writeLine: @Sendable (String) -> Void

    /// - Parameter writeLine: where finished lines go; defaults to standard error.
    public init(identity: RunIdentity, writeLine: (@Sendable (String) -> Void)? = nil) {
        self.identity = identity
        self.writeLine = writeLine ?? { line in
            writeStandardError(line + "\n")
        }
    }

    /// Writes one line: identity prefix, seconds since boot (CLOCK_MONOTONIC), level, message.
    public func log(_ level: String, _ message: String) {
        let seconds = Double(monotonicNanos()) / 1e9
        let line = "\(identity.prefix) \(String(format: "%.3f", seconds)) \(level) \(message)"
        lock.lock(); defer { lock.unlock() }
        writeLine(line)
    }

    public func info(_ message: String) { log("info", message) }
    public func warning(_ message: String) { log("warn", message) }
    public func error(_ message: String) { log("error", message) }
}
