// ErrorStatus.swift — the exit status of CondSegCapture's errors (the contract is in CondSegIO).

import CondSegIO

extension CaptureError: StatusError {
    /// A device that is missing, fails or cannot capture is the video device status; a replay file or folder
    /// that cannot be read is an invalid input.
    public var exitStatus: ExitStatus {
        switch self {
        case .deviceMissing, .deviceLost, .unsupported: return .device
        case .badSource: return .input
        }
    }
}

extension LiveRunError: StatusError {}
