// QuantizedModelSummary.swift — what `condseg inspect` says about an int8 file written by `condseg quantize`:
// its configuration, the float model it came from, the calibration table it carries and how many convolutions
// run in int8. Making the summary rebuilds the file's network exactly as the int8 engines load it, so a file
// that summarises also runs.

import CondSegCore

/// The facts of a quantized model file.
public struct QuantizedModelSummary: Sendable {
    /// The network configuration (from the file's `condseg.*` metadata).
    public let config: ModelConfig
    /// The input size the float model was trained for (`config.inputSize` is the size the table was calibrated at).
    public let trainedInputSize: Int
    /// SHA-256 of the float model the file was quantized from.
    public let sourceSHA256: String
    /// SHA-256 of the calibration table's text, as stored in the file.
    public let calibrationSHA256: String
    /// The calibration table the file carries.
    public let table: CalibrationTable
    /// Convolutions whose weights are stored as int8 (the rest stay float).
    public let int8Convolutions: Int
    /// Convolutions of the inference graph in all.
    public let convolutions: Int
}

extension QuantizedModelFile {
    /// Reads and checks a quantized model file (every tensor, the embedded table against the source model)
    /// and summarises it. Throws the error loading it would throw.
    public static func summary(of file: SafeTensorsFile) throws -> QuantizedModelSummary {
        let (config, graph, _, table, weights) = try contents(file)
        var convolutions = Set<String>()
        for node in graph.nodes { if case .conv(let spec) = node.kind { convolutions.insert(spec.weight) } }
        return QuantizedModelSummary(config: config,
                                     trainedInputSize: trainedInputSize(of: file, config: config),
                                     sourceSHA256: file.metadata["condseg.source_sha256"] ?? "",
                                     calibrationSHA256: file.metadata["condseg.calibration_sha256"] ?? "",
                                     table: table, int8Convolutions: weights.count, convolutions: convolutions.count)
    }
}
