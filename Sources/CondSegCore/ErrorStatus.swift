// ErrorStatus.swift — the exit status each CondSegCore error stands for (the contract is in CondSegIO).

import CondSegIO

extension WeightsError: StatusError {
    /// A weight file that cannot be read or does not fit the network is an invalid input.
    public var exitStatus: ExitStatus { .input }
}

extension ConfigError: StatusError {
    /// Bad `condseg.*` metadata, or shapes no configuration explains, make the model file an invalid input.
    public var exitStatus: ExitStatus { .input }
}
