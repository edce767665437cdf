// ErrorStatus.swift — the exit status of CondSegRuntime's errors (the contract is in CondSegIO).

import CondSegIO

extension CalibrationTableError: StatusError {
    /// A table that cannot be read, does not parse or was made for another model is an invalid input.
    public var exitStatus: ExitStatus { .input }
}
