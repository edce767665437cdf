// Int8GraphExecutor.swift — what the two int8 executors (the int8 reference and the fast int8 executor) share:
// both are made from a graph, its folded convolutions and a calibration table (optionally with a quantized model
// file's own int8 weights), so a calibrated float model and a quantized model file load the same way for both.

import CondSegCore

/// An executor that runs the int8 convolutions of a calibration table.
public protocol Int8GraphExecutor: GraphExecutor {
    /// The calibration table it runs with.
    var table: CalibrationTable { get }
    /// An executor over `graph` with `table` (checked: it covers the graph). `weights` gives already-quantized int8
    /// weights by weight-tensor name (a quantized model file); the other int8 convolutions are quantized from
    /// `folded`. `keepTaps` keeps every module output of `graph.taps` readable after a run.
    init(graph: Graph, folded: [FoldedConv?], config: ModelConfig, table: CalibrationTable, tableFile: String,
         threads: Int, weights: [String: Int8ConvWeights], keepTaps: Bool) throws
}

extension Int8GraphExecutor {
    /// An executor for `model` with `table` (checked: made for this model's SHA-256, covering its graph).
    public init(model: ConDSegModel, table: CalibrationTable, tableFile: String, threads: Int,
                keepTaps: Bool = false) throws {
        try table.check(modelSHA256: model.sha256, model: model.path, file: tableFile)
        let graph = try model.graph()
        try self.init(graph: graph, folded: model.foldedConvolutions(of: graph), config: model.config, table: table,
                      tableFile: tableFile, threads: threads, weights: [:], keepTaps: keepTaps)
    }

    /// An executor for a quantized model file (`condseg quantize`): its embedded calibration table, its int8
    /// weights exactly, and its float tensors for the convolutions that stay float. `inputSize`, when given, is the
    /// square size to run at instead of the one the file records.
    public init(quantizedFile file: SafeTensorsFile, threads: Int, inputSize: Int? = nil, keepTaps: Bool = false) throws {
        let contents = try QuantizedModelFile.contents(file, inputSize: inputSize)
        try self.init(graph: contents.graph, folded: contents.folded, config: contents.config, table: contents.table,
                      tableFile: file.name + " (embedded calibration)", threads: threads, weights: contents.weights,
                      keepTaps: keepTaps)
    }
}
