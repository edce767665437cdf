// Int8Engine.swift — the int8 inference engine (`--calibration TABLE`, or a quantized model file): the float
// reference executor with the int8 convolutions plugged in. Also the quantized model file: int8 weights,
// per-channel scales, folded biases, the calibration table and `condseg.*` metadata in one safetensors that
// `--model` accepts directly.

import CondSegCore
import Foundation

/// Runs the network with the int8 convolutions of a calibration table (every other op in float32).
public final class Int8Engine: InferenceEngine {
    /// The float reference that runs the graph; its convolution override is `convolutions`.
    public let executor: ReferenceExecutor
    public let convolutions: Int8Convolutions
    public let table: CalibrationTable
    public var config: ModelConfig { executor.config }

    /// An engine for `model` with `table` (checked: made for this model's SHA-256, covering its graph).
    public convenience init(model: ConDSegModel, table: CalibrationTable, tableFile: String, threads: Int) throws {
        try table.check(modelSHA256: model.sha256, model: model.path, file: tableFile)
        try self.init(model: model, table: table, tableFile: tableFile, threads: threads, weights: [:])
    }

    init(model: ConDSegModel, table: CalibrationTable, tableFile: String, threads: Int,
         weights: [String: Int8ConvWeights]) throws {
        let graph = try model.graph()
        try table.check(graph: graph, file: tableFile)
        let folded = try model.foldedConvolutions(of: graph)
        executor = try ReferenceExecutor(graph: graph, folded: folded, config: model.config, threads: threads)
        convolutions = try Int8Convolutions(graph: graph, folded: folded, table: table, threads: threads,
                                            weights: weights, file: tableFile)
        self.table = table
        executor.convolutionOverride = convolutions
    }

    public func predict(input: [Float], height: Int, width: Int) throws -> [Float] {
        try executor.predict(input: input, height: height, width: width)
    }
}

/// The deployable int8 model file (`condseg quantize`).
///
/// Tensors: for every int8 convolution `<weight>` as I8 (OIHW), `<weight>.scale` (F32, per output channel) and
/// `<weight>.folded_bias` (F32); float-fallback convolutions keep their original float tensors (and BatchNorm).
/// Metadata: the source model's `condseg.*` configuration, `condseg.quantized` = "int8",
/// `condseg.source_sha256`, `condseg.calibration_sha256` and the table itself in `condseg.calibration`.
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
        writer.metadata[marker] = "int8"
        writer.metadata["condseg.source_sha256"] = model.sha256
        writer.metadata["condseg.calibration_sha256"] = SHA256.hex(Array(table.text.utf8))
        writer.metadata["condseg.calibration"] = table.text
        var int8Weights = Set<String>()
        for node in graph.nodes {
            guard case .conv(let spec) = node.kind, precisionOf[names[node.inputs[0]]] == .int8 else { continue }
            int8Weights.insert(spec.weight)
        }
        var done = Set<String>()
        for node in graph.nodes {
            guard case .conv(let spec) = node.kind, done.insert(spec.weight).inserted else { continue }
            if int8Weights.contains(spec.weight) {
                let w = Int8ConvWeights(folded: folded[node.id]!)
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

    /// An int8 engine for a quantized model file: the float model is rebuilt in memory (int8 weights
    /// dequantized, BatchNorm as identity with the folded bias) for the ops that stay float, and the int8
    /// convolutions use the file's int8 weights exactly.
    public static func engine(file: SafeTensorsFile, threads: Int) throws -> Int8Engine {
        let (model, table, weights) = try contents(file)
        return try Int8Engine(model: model, table: table, tableFile: file.name + " (embedded calibration)",
                              threads: threads, weights: weights)
    }

    /// The fast int8 executor (NHWC, uint8 between int8 layers) for a quantized model file, with the file's int8
    /// weights exactly.
    public static func fastEngine(file: SafeTensorsFile, threads: Int) throws -> Int8Executor {
        let (model, table, weights) = try contents(file)
        let graph = try model.graph()
        return try Int8Executor(graph: graph, folded: model.foldedConvolutions(of: graph), config: model.config,
                                table: table, tableFile: file.name + " (embedded calibration)", threads: threads,
                                weights: weights)
    }

    /// The float model rebuilt from a quantized file, its calibration table and its int8 weights.
    static func contents(_ file: SafeTensorsFile) throws -> (ConDSegModel, CalibrationTable, [String: Int8ConvWeights]) {
        guard isQuantized(file) else {
            throw WeightsError(file: file.name, tensor: nil, problem: "not a quantized model (no condseg.quantized = int8)")
        }
        guard let text = file.metadata["condseg.calibration"], let source = file.metadata["condseg.source_sha256"] else {
            throw WeightsError(file: file.name, tensor: nil, problem: "quantized model without condseg.calibration / condseg.source_sha256 metadata")
        }
        let table = try CalibrationTable.parse(text, file: file.name + " (embedded calibration)")
        try table.check(modelSHA256: source, model: file.name + " (source model)", file: file.name + " (embedded calibration)")
        let config = try ModelConfig(metadata: file.metadata, file: file.name)
        let graph = Graph.conDSeg(config)
        var floatWriter = SafeTensorsWriter(metadata: config.metadata)
        var weights: [String: Int8ConvWeights] = [:]
        var done = Set<String>()
        for node in graph.nodes {
            guard case .conv(let spec) = node.kind, done.insert(spec.weight).inserted else { continue }
            if let entry = file.entries[spec.weight], entry.dtype == .i8 {
                guard entry.shape == spec.weightShape else {
                    throw WeightsError(file: file.name, tensor: spec.weight, problem: "shape \(entry.shape), expected \(spec.weightShape)")
                }
                let w = Int8ConvWeights(values: try file.int8s(spec.weight),
                                        scales: try file.floats(spec.weight + ".scale", shape: [spec.outChannels]),
                                        bias: try file.floats(spec.weight + ".folded_bias", shape: [spec.outChannels]))
                weights[spec.weight] = w
                try floatWriter.add(spec.weight, floats: w.dequantized, shape: spec.weightShape)
                let ones = [Float](repeating: 1, count: spec.outChannels)
                let zeros = [Float](repeating: 0, count: spec.outChannels)
                if let b = spec.bias { try floatWriter.add(b, floats: w.bias, shape: [spec.outChannels]) }
                if let bn = spec.batchNorm {
                    // Identity BatchNorm (var + eps = 1) whose shift is the folded bias.
                    try floatWriter.add("\(bn).weight", floats: ones, shape: [spec.outChannels])
                    try floatWriter.add("\(bn).bias", floats: w.bias, shape: [spec.outChannels])
                    try floatWriter.add("\(bn).running_mean", floats: zeros, shape: [spec.outChannels])
                    try floatWriter.add("\(bn).running_var", floats: [Float](repeating: Float(1 - batchNormEpsilon), count: spec.outChannels),
                                        shape: [spec.outChannels])
                }
            } else {
                var tensors = [spec.weight]
                if let b = spec.bias { tensors.append(b) }
                if let bn = spec.batchNorm { tensors += ["weight", "bias", "running_mean", "running_var"].map { "\(bn).\($0)" } }
                for name in tensors {
                    let entry = try file.entry(name)
                    try floatWriter.add(name, floats: try file.floats(name), shape: entry.shape)
                }
            }
        }
        let rebuilt = try SafeTensorsFile(bytes: floatWriter.serialize(), name: file.name)
        return (try ConDSegModel(file: rebuilt), table, weights)
    }
}
