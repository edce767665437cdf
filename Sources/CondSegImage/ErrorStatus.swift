// ErrorStatus.swift — the exit status of CondSegImage's errors (the contract is in CondSegIO).

import CondSegIO

extension ImageError: StatusError {
    /// An image that cannot be read or decoded is an invalid input (writing failures are `OutputError`s).
    public var exitStatus: ExitStatus { .input }
}

extension DatasetError: StatusError {
    /// A data-set folder or list that is missing or inconsistent is an invalid input.
    public var exitStatus: ExitStatus { .input }
}
