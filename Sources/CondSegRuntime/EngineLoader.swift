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

    /// An int8 executor of this kind for a quantized model file.
    public func int8(quantizedFile file: SafeTensorsFile, threads: Int) throws -> any Int8GraphExecutor {
        switch self {
        case .reference: return try Int8ReferenceExecutor(quantizedFile: file, threads: threads)
        case .fast: return try FastInt8Executor(quantizedFile: file, threads: threads)
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

    /// The executor as the segmentation pipeline sees it.
    public var engine: InferenceEngine { executor }
    public var config: ModelConfig { executor.config }

    /// Loads the model at `modelPath`: a quantized model file runs int8 directly (`calibration` must be nil: its
    /// table is inside); a float model runs float32, or int8 with `calibration` (a table made for that model).
    public static func load(modelPath path: String, calibration: String?, kind: ExecutorKind,
                            threads: Int) throws -> LoadedEngine {
        let file = try SafeTensorsFile(path: path)
        if QuantizedModelFile.isQuantized(file) {
            if calibration != nil {
                throw EngineChoiceError(description: "\(path) is already quantized (its calibration is inside); drop --calibration")
            }
            return LoadedEngine(executor: try kind.int8(quantizedFile: file, threads: threads), modelPath: path,
                                modelSHA256: file.sha256, name: "int8-\(kind.rawValue)")
        }
        let model = try ConDSegModel(file: file)
        if let calibration {
            let table = try CalibrationTable.load(path: calibration)
            return LoadedEngine(executor: try kind.int8(model: model, table: table, tableFile: calibration, threads: threads),
                                modelPath: path, modelSHA256: model.sha256, name: "int8-\(kind.rawValue)",
                                configurationNote: model.configurationNote)
        }
        return LoadedEngine(executor: try kind.float(model: model, threads: threads), modelPath: path,
                            modelSHA256: model.sha256, name: "float32-\(kind.rawValue)",
                            configurationNote: model.configurationNote)
    }
}
