// Model.swift — a ConDSeg weight file opened and checked against the graph its configuration describes:
// every tensor the graph needs present with the right shape, unexpected tensors listed, the file's SHA-256
// (the model's identity in calibration tables, logs and reports).

/// A loaded ConDSeg model: weights, configuration and identity.
public final class ConDSegModel: @unchecked Sendable {
    /// The weight file (validated safetensors).
    public let file: SafeTensorsFile
    /// The configuration it runs with: the file's, with the input size replaced when it was opened at another.
    public let config: ModelConfig
    /// The input size the file records (`condseg.input_size`, the size it was trained for); `config.inputSize`
    /// differs when the model was opened to run at another size.
    public let trainedInputSize: Int
    /// Whether the file carries the auxiliary head (training only; shipped models do not).
    public let hasAuxiliaryHead: Bool
    /// Tensors in the file that no part of ConDSeg (auxiliary head included) reads.
    public let unexpectedTensors: [String]

    /// Lowercase hex SHA-256 of the whole weight file.
    public var sha256: String { file.sha256 }
    /// Path (or name) the model was loaded from.
    public var path: String { file.name }
    /// When the file has no `condseg.*` metadata: what was inferred from its tensor shapes and what was assumed.
    public var configurationNote: String? {
        ModelConfig.hasConfigurationMetadata(file.metadata) ? nil : config.inferenceNote(file: file.name)
    }

    /// Opens `path`, validates it as safetensors, reads the configuration from its metadata (inferred
    /// from the tensor shapes when there is none) and checks every tensor the inference graph needs.
    /// `inputSize`, when given, is the square size to run at instead of the recorded one (the caller checks it with
    /// `ModelConfig.inputSizeProblem`).
    public static func load(path: String, inputSize: Int? = nil) throws -> ConDSegModel {
        try ConDSegModel(file: SafeTensorsFile(path: path), inputSize: inputSize)
    }

    /// The model of `file`, to run at `inputSize`×`inputSize` when given (else at the size the file records).
    public init(file: SafeTensorsFile, inputSize: Int? = nil) throws {
        self.file = file
        var config = try ModelConfig(file: file)
        trainedInputSize = config.inputSize
        if let inputSize { config.inputSize = inputSize }
        self.config = config
        let full = Graph.conDSeg(config, auxiliaryHead: true)
        let auxNames = full.parameters(role: .auxiliaryHead)
        hasAuxiliaryHead = !auxNames.isEmpty && auxNames.allSatisfy { file.entries[$0] != nil }
        unexpectedTensors = file.names.filter { name in
            full.parameters[name] == nil && !name.hasSuffix(".num_batches_tracked")
        }
        try check(graph: Graph.conDSeg(config, auxiliaryHead: false))
    }

    /// The inference graph (or the training graph with the auxiliary head).
    public func graph(auxiliaryHead: Bool = false) throws -> Graph {
        let g = Graph.conDSeg(config, auxiliaryHead: auxiliaryHead)
        if auxiliaryHead { try check(graph: g) }
        return g
    }

    /// Throws a `WeightsError` naming the first tensor `graph` needs that is missing or has the wrong shape
    /// (with a count of the others), so one message tells the user what is wrong with the file.
    public func check(graph: Graph) throws {
        let problems = ConDSegModel.audit(file: file, config: config, graph: graph).problems
        if let (name, problem) = problems.first {
            let more = problems.count > 1 ? " (and \(problems.count - 1) more tensor problems)" : ""
            throw WeightsError(file: file.name, tensor: name, problem: problem + more)
        }
    }

    /// The tensors `graph` needs that `file` lacks or holds with the wrong shape or dtype, as (name, problem),
    /// sorted by name. Does not throw: `condseg inspect` lists them all.
    public static func audit(file: SafeTensorsFile, config: ModelConfig, graph: Graph) -> TensorAudit {
        var audit = TensorAudit()
        for (name, shape) in graph.parameters.sorted(by: { $0.key < $1.key }) {
            guard let entry = file.entries[name] else {
                audit.missing.append(name)
                audit.problems.append((name, "missing (the \(config.encoder.rawValue) W\(config.width) M\(config.mid) configuration needs it)"))
                continue
            }
            if entry.shape != shape {
                audit.problems.append((name, "shape \(entry.shape) but the configuration (\(config)) needs \(shape)"))
            } else if ![.f32, .f16, .bf16].contains(entry.dtype) {
                audit.problems.append((name, "dtype \(entry.dtype.rawValue) but a float weight is needed"))
            }
        }
        return audit
    }

    /// A float tensor of the file.
    public func floats(_ name: String) throws -> [Float] { try file.floats(name) }

    /// Number of parameters the graph reads (BatchNorm running statistics excluded, shared weights once).
    public static func parameterCount(_ graph: Graph) -> Int {
        graph.parameters.filter { !$0.key.hasSuffix("running_mean") && !$0.key.hasSuffix("running_var") }
            .values.reduce(0) { $0 + $1.reduce(1, *) }
    }
}

/// What a weight file lacks for a graph.
public struct TensorAudit: Sendable {
    /// Names of tensors that are absent.
    public var missing: [String] = []
    /// Every problem (absent, wrong shape, wrong dtype) as (tensor, description).
    public var problems: [(String, String)] = []
}
