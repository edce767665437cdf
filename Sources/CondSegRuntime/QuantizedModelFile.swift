// QuantizedModelFile.swift — the deployable int8 model file (`condseg quantize`): int8 weights, per-channel scales,
// folded biases, the calibration table and `condseg.*` metadata in one safetensors that `--model` accepts directly.
// Reading one gives what an int8 executor is made from (Int8GraphExecutor.init(quantizedFile:threads:)): the
// graph, the folded convolutions (the int8 ones dequantized, for the record) and the int8 weights exactly.

import CondSegCore

/// The deployable int8 model file (`condseg quantize`).
///
/// Tensors: for every int8 convolution `<weight>` as I8 (OIHW), `<weight>.scale` (F32, per output channel) and
/// `<weight>.folded_bias` (F32); float-fallback convolutions keep their original float tensors (and BatchNorm).
/// Metadata: the source model's `condseg.*` configuration, `condseg.quantized` = "int8",
/// `condseg.source_sha256`, `condseg.calibration_sha256`, the table itself in `condseg.calibration` and
/// `condseg.weight_bits` (8, 7 or 6, as the table says; files without it have 8-bit weights). `condseg.input_size` is
/// the size the table was calibrated at (the size the file runs at by default); when that differs from the size
/// the float model records, `condseg.trained_input_size` keeps the latter.
public enum QuantizedModelFile {
    public static let marker = "condseg.quantized"

    /// Whether `file` is a quantized model file.
    public static func isQuantized(_ file: SafeTensorsFile) -> Bool { file.metadata[marker] == "int8" }

    /// The bytes of a quantized model for `model` and `table` (checked against the model).
    public static func serialize(model: ConDSegModel, table: CalibrationTable, tableFile: String) throws -> [UInt8] {
        try table.check(modelSHA256: model.sha256, model: model.path, file: tableFile)
        let graph = try model.graph()
        try table.check(graph: graph, file: tableFile)
        let folded = try model.foldedConvolutions(of: graph)
        let names = graph.valueNames
        var precisionOf: [String: TensorPrecision] = [:]
        for e in table.entries { precisionOf[e.name] = e.precision }
        var writer = SafeTensorsWriter(metadata: model.config.metadata)
        let calibrated = table.inputSize ?? model.trainedInputSize
        writer.metadata["condseg.input_size"] = String(calibrated)
        if calibrated != model.trainedInputSize {
            writer.metadata["condseg.trained_input_size"] = String(model.trainedInputSize)
        }
        writer.metadata[marker] = "int8"
        writer.metadata["condseg.source_sha256"] = model.sha256
        writer.metadata["condseg.calibration_sha256"] = SHA256.hex(Array(table.text.utf8))
        writer.metadata["condseg.calibration"] = table.text
        writer.metadata["condseg.weight_bits"] = String(table.weightBits)
        var int8Weights = Set<String>()
        for node in graph.nodes {
            guard case .conv(let spec) = node.kind, precisionOf[names[node.inputs[0]]] == .int8 else { continue }
            int8Weights.insert(spec.weight)
        }
        var done = Set<String>()
        for node in graph.nodes {
            guard case .conv(let spec) = node.kind, done.insert(spec.weight).inserted else { continue }
            if int8Weights.contains(spec.weight) {
                let w = Int8ConvWeights(folded: folded[node.id]!, bits: table.weightBits)
                try writer.add(spec.weight, int8s: w.values, shape: spec.weightShape)
                try writer.add(spec.weight + ".scale", floats: w.scales, shape: [spec.outChannels])
                try writer.add(spec.weight + ".folded_bias", floats: w.bias, shape: [spec.outChannels])
            } else {
                var tensors = [spec.weight]
                if let b = spec.bias { tensors.append(b) }
                if let bn = spec.batchNorm { tensors += ["weight", "bias", "running_mean", "running_var"].map { "\(bn).\($0)" } }
                for name in tensors {
                    let entry = try model.file.entry(name)
                    try writer.add(name, floats: try model.floats(name), shape: entry.shape)
                }
            }
        }
        return writer.serialize()
    }

    /// What an int8 executor needs from a quantized model file: configuration and graph, the folded float
    /// convolutions (int8 ones as their dequantized weights and folded bias), the embedded calibration table and
    /// the int8 weights by weight-tensor name. `inputSize`, when given, replaces the configuration's input size
    /// (running at another size than the file's).
    static func contents(_ file: SafeTensorsFile, inputSize: Int? = nil) throws
        -> (config: ModelConfig, graph: Graph, folded: [FoldedConv?], table: CalibrationTable, weights: [String: Int8ConvWeights]) {
        guard isQuantized(file) else {
            throw WeightsError(file: file.name, tensor: nil, problem: "not a quantized model (no condseg.quantized = int8)")
        }
        guard let text = file.metadata["condseg.calibration"], let source = file.metadata["condseg.source_sha256"] else {
            throw WeightsError(file: file.name, tensor: nil, problem: "quantized model without condseg.calibration / condseg.source_sha256 metadata")
        }
        let table = try CalibrationTable.parse(text, file: file.name + " (embedded calibration)")
        try table.check(modelSHA256: source, model: file.name + " (source model)", file: file.name + " (embedded calibration)")
        if let bits = file.metadata["condseg.weight_bits"], bits != String(table.weightBits) {
            throw WeightsError(file: file.name, tensor: nil, problem: "condseg.weight_bits is '\(bits)' but its calibration table says \(table.weightBits)")
        }
        let limit = Int8ConvWeights.limit(bits: table.weightBits)
        var config = try ModelConfig(metadata: file.metadata, file: file.name)
        if let inputSize { config.inputSize = inputSize }
        let graph = Graph.conDSeg(config)
        var weights: [String: Int8ConvWeights] = [:]
        for node in graph.nodes {
            guard case .conv(let spec) = node.kind, weights[spec.weight] == nil,
                  let entry = file.entries[spec.weight], entry.dtype == .i8 else { continue }
            guard entry.shape == spec.weightShape else {
                throw WeightsError(file: file.name, tensor: spec.weight, problem: "shape \(entry.shape), expected \(spec.weightShape)")
            }
            let w = Int8ConvWeights(values: try file.int8s(spec.weight),
                                    scales: try file.floats(spec.weight + ".scale", shape: [spec.outChannels]),
                                    bias: try file.floats(spec.weight + ".folded_bias", shape: [spec.outChannels]))
            guard table.weightBits == 8 || w.maxAbsValue <= limit else {
                throw WeightsError(file: file.name, tensor: spec.weight, problem: "holds \(w.maxAbsValue), outside the \(table.weightBits)-bit range ±\(limit) of its calibration table")
            }
            weights[spec.weight] = w
        }
        let folded = try FoldedConv.folding(graph, from: file) { spec in
            weights[spec.weight].map { FoldedConv(spec: spec, weights: $0.dequantized, bias: $0.bias) }
        }
        return (config, graph, folded, table, weights)
    }
}

extension QuantizedModelFile {
    /// The input size the float model of a quantized file was trained for: `condseg.trained_input_size` when
    /// quantize recorded it (a table calibrated at another size), else the file's `condseg.input_size`.
    public static func trainedInputSize(of file: SafeTensorsFile, config: ModelConfig) -> Int {
        file.metadata["condseg.trained_input_size"].flatMap { Int($0) } ?? config.inputSize
    }
}
