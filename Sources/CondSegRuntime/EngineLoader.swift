// EngineLoader.swift — which executor an inference command runs, decided in one place: a quantized model file
// runs int8 with its own calibration; a float model runs float32, or int8 with a calibration table made for it;
// `ExecutorKind` picks the fast executor (the default) or the reference it is checked against. The four
// executors pair up by name: ReferenceExecutor (float reference), FastFloatExecutor, Int8ReferenceExecutor,
// FastInt8Executor.

import CondSegCore

/// The fast executor or the reference it is checked against, in either precision (`--engine fast|reference`).
public enum ExecutorKind: String, CaseIterable, Sendable {
    /// The reference: the float reference (the oracle), or it with the exact int8 convolutions plugged in.
    case reference
    /// The optimised executor: FastFloatExecutor, or FastInt8Executor for the int8 path.
    case fast

    /// A float32 executor of this kind for `model`.
    public func float(model: ConDSegModel, threads: Int) throws -> any GraphExecutor {
        switch self {
        case .reference: return try ReferenceExecutor(model: model, threads: threads)
        case .fast: return try FastFloatExecutor(model: model, threads: threads)
        }
    }

    /// An int8 executor of this kind for `model` with `table` (checked against the model).
    public func int8(model: ConDSegModel, table: CalibrationTable, tableFile: String,
                     threads: Int) throws -> any Int8GraphExecutor {
        switch self {
        case .reference: return try Int8ReferenceExecutor(model: model, table: table, tableFile: tableFile, threads: threads)
        case .fast: return try FastInt8Executor(model: model, table: table, tableFile: tableFile, threads: threads)
        }
    }

    /// An int8 executor of this kind for a quantized model file (run at `inputSize` when given).
    public func int8(quantizedFile file: SafeTensorsFile, threads: Int, inputSize: Int? = nil) throws -> any Int8GraphExecutor {
        switch self {
        case .reference: return try Int8ReferenceExecutor(quantizedFile: file, threads: threads, inputSize: inputSize)
        case .fast: return try FastInt8Executor(quantizedFile: file, threads: threads, inputSize: inputSize)
        }
    }
}

/// A wrong combination of model and options (the caller reports it as a usage error).
public struct EngineChoiceError: Error, CustomStringConvertible {
    public let description: String
}

/// The executor an inference command runs, with the identity of the model it runs.
public struct LoadedEngine {
    /// The executor (profiling, graph, planned memory).
    public let executor: any GraphExecutor
    public let modelPath: String
    /// SHA-256 of the file given as the model (the quantized file itself for a quantized model).
    public let modelSHA256: String
    /// "float32-fast", "float32-reference", "int8-fast" or "int8-reference".
    public let name: String
    /// When a float model file has no `condseg.*` metadata: what was inferred from its tensor shapes.
    public var configurationNote: String? = nil
    /// The input size the model file records (the size it was trained for); `config.inputSize` is the run size.
    public var trainedInputSize: Int = 0
    /// For the int8 path: the size its calibration table was made at (the table's `input_size`, else the size the
    /// model file records); nil for float.
    public var calibratedInputSize: Int? = nil
    /// A warning line when the int8 path runs at another size than its table was calibrated at.
    public var sizeWarning: String? = nil

    /// The executor as the segmentation pipeline sees it.
    public var engine: InferenceEngine { executor }
    public var config: ModelConfig { executor.config }

    /// Loads the model at `modelPath`: a quantized model file runs int8 directly (`calibration` must be nil: its
    /// table is inside); a float model runs float32, or int8 with `calibration` (a table made for that model).
    /// `inputSize`, when given, is the square size to run at instead of the one the file records (checked by the
    /// caller with `ModelConfig.inputSizeProblem`).
    public static func load(modelPath path: String, calibration: String?, kind: ExecutorKind,
                            threads: Int, inputSize: Int? = nil) throws -> LoadedEngine {
        let file = try SafeTensorsFile(path: path)
        if QuantizedModelFile.isQuantized(file) {
            if calibration != nil {
                throw EngineChoiceError(description: "\(path) is already quantized (its calibration is inside); drop --calibration")
            }
            let executor = try kind.int8(quantizedFile: file, threads: threads, inputSize: inputSize)
            let recorded = try ModelConfig(metadata: file.metadata, file: file.name)
            var loaded = LoadedEngine(executor: executor, modelPath: path, modelSHA256: file.sha256, name: "int8-\(kind.rawValue)")
            loaded.trainedInputSize = QuantizedModelFile.trainedInputSize(of: file, config: recorded)
            loaded.calibratedInputSize = executor.table.inputSize ?? recorded.inputSize
            loaded.sizeWarning = executor.table.sizeWarning(runSize: executor.config.inputSize, modelSize: recorded.inputSize,
                                                            file: path + " (embedded calibration)", embedded: true)
            return loaded
        }
        let model = try ConDSegModel(file: file, inputSize: inputSize)
        if let calibration {
            let table = try CalibrationTable.load(path: calibration)
            var loaded = LoadedEngine(executor: try kind.int8(model: model, table: table, tableFile: calibration, threads: threads),
                                      modelPath: path, modelSHA256: model.sha256, name: "int8-\(kind.rawValue)",
                                      configurationNote: model.configurationNote)
            loaded.trainedInputSize = model.trainedInputSize
            loaded.calibratedInputSize = table.inputSize ?? model.trainedInputSize
            loaded.sizeWarning = table.sizeWarning(runSize: model.config.inputSize, modelSize: model.trainedInputSize,
                                                   file: calibration)
            return loaded
        }
        var loaded = LoadedEngine(executor: try kind.float(model: model, threads: threads), modelPath: path,
                                  modelSHA256: model.sha256, name: "float32-\(kind.rawValue)",
                                  configurationNote: model.configurationNote)
        loaded.trainedInputSize = model.trainedInputSize
        return loaded
    }
}
