// Parameters.swift — the trainable state of a graph: every tensor `Graph.parameters` names (weights, biases,
// BatchNorm γ/β and running statistics), with a gradient buffer for each trainable one. Loaded from
// safetensors files (several may be layered: e.g. an encoder from stage 1 under a full ConDSeg file),
// freshly initialised where absent (PyTorch's default initialisations), and exported with `condseg.*` metadata.

import CondSegCore
import CondSegIO
import Foundation

/// Errors of the trainer: one line naming the file (or option) and the problem. A message that starts with an
/// option ("--batch …") is a usage error; the others are about input files (data, --init, --resume, a trace folder).
public struct TrainingError: StatusError {
    public let problem: String
    public init(_ problem: String) { self.problem = problem }
    public var description: String { problem }
    public var exitStatus: ExitStatus { problem.hasPrefix("--") ? .usage : .input }
}

/// Parameter values and gradients of one graph, keyed by the release's tensor names.
public final class ParameterStore: @unchecked Sendable {
    /// Shape of every tensor as the file stores it.
    public let shapes: [String: [Int]]
    /// Current values (flattened, as `shapes`).
    public private(set) var values: [String: Tensor] = [:]
    /// Gradients of the trainable tensors (all but BatchNorm running statistics).
    public private(set) var gradients: [String: Tensor] = [:]
    /// Names in a fixed order (sorted), the order the optimiser and checkpoints use.
    public let names: [String]

    /// Tensors of `graph` that receive gradients.
    public var trainableNames: [String] { names.filter { gradients[$0] != nil } }

    /// Tensors of the ResNet encoder (nodes with the role `.encoder`): the optimiser's encoder group.
    public let encoderNames: Set<String>

    /// Zero-valued store for `graph`; call `initialise` and/or `load` next.
    public init(graph: Graph) {
        shapes = graph.parameters
        encoderNames = graph.parameters(role: .encoder)
        names = graph.parameters.keys.sorted()
        for name in names {
            let count = shapes[name]!.reduce(1, *)
            values[name] = Tensor(n: count, c: 1, h: 1, w: 1)
            if !ParameterStore.isRunningStatistic(name) { gradients[name] = Tensor(n: count, c: 1, h: 1, w: 1) }
        }
    }

    /// True for BatchNorm running statistics (updated by the forward, not by the optimiser).
    public static func isRunningStatistic(_ name: String) -> Bool {
        name.hasSuffix(".running_mean") || name.hasSuffix(".running_var")
    }

    /// PyTorch's default initialisation: conv/linear weights kaiming-uniform(a=√5) = U(±1/√fan_in), biases
    /// U(±1/√fan_in), BatchNorm γ = 1, β = 0, running mean 0, running variance 1. Seeded.
    public func initialise(seed: UInt64, only: ((String) -> Bool)? = nil) {
        var rng = SplitMix64(seed: seed)
        for name in names where only?(name) ?? true {
            let t = values[name]!
            let shape = shapes[name]!
            if name.hasSuffix(".running_var") || (shape.count == 1 && isBatchNormName(name, suffix: ".weight")) {
                for i in 0..<t.count { t.data[i] = 1 }
            } else if name.hasSuffix(".running_mean") || (shape.count == 1 && isBatchNormName(name, suffix: ".bias")) {
                t.zero()
            } else if shape.count >= 2 {
                let fanIn = shape.dropFirst().reduce(1, *)
                let bound = Float(1 / Double(fanIn).squareRoot())
                for i in 0..<t.count { t.data[i] = Float(rng.uniform(-1, 1)) * bound }
            } else {
                // A conv/linear bias: fan-in of its weight.
                let weightName = String(name.dropLast("bias".count)) + "weight"
                let fanIn = shapes[weightName].map { $0.dropFirst().reduce(1, *) } ?? 1
                let bound = Float(1 / Double(fanIn).squareRoot())
                for i in 0..<t.count { t.data[i] = Float(rng.uniform(-1, 1)) * bound }
            }
        }
    }

    private func isBatchNormName(_ name: String, suffix: String) -> Bool {
        guard name.hasSuffix(suffix) else { return false }
        let prefix = String(name.dropLast(suffix.count))
        return shapes[prefix + ".running_mean"] != nil
    }

    /// Copies every tensor of `file` this store has (shapes must agree); returns the names loaded.
    @discardableResult
    public func load(_ file: SafeTensorsFile, only: ((String) -> Bool)? = nil) throws -> Set<String> {
        var loaded = Set<String>()
        for name in names where file.entries[name] != nil && (only?(name) ?? true) {
            let entry = file.entries[name]!
            guard entry.shape.reduce(1, *) == shapes[name]!.reduce(1, *) else {
                throw TrainingError("\(file.name): tensor '\(name)' has shape \(entry.shape), the configuration needs \(shapes[name]!)")
            }
            let floats = try file.floats(name)
            let t = values[name]!
            floats.withUnsafeBufferPointer { t.data.update(from: $0.baseAddress!, count: t.count) }
            loaded.insert(name)
        }
        return loaded
    }

    /// Sets every gradient to zero.
    public func zeroGradients() { for g in gradients.values { g.zero() } }

    /// Pointer to a parameter's values.
    public func value(_ name: String) -> UnsafeMutablePointer<Float> {
        guard let t = values[name] else { preconditionFailure("unknown parameter \(name)") }
        return t.data
    }

    /// Pointer to a parameter's gradient.
    public func gradient(_ name: String) -> UnsafeMutablePointer<Float> {
        guard let t = gradients[name] else { preconditionFailure("no gradient for \(name)") }
        return t.data
    }

    /// Every tensor as (name, values, shape), e.g. for export.
    public func snapshot() -> [(String, [Float], [Int])] {
        names.map { ($0, values[$0]!.array, shapes[$0]!) }
    }

    /// Overwrites the values from a snapshot-like dictionary (same names and counts).
    public func restore(_ tensors: [String: [Float]]) throws {
        for name in names {
            guard let v = tensors[name] else { throw TrainingError("checkpoint lacks tensor '\(name)'") }
            let t = values[name]!
            guard v.count == t.count else { throw TrainingError("checkpoint tensor '\(name)' has \(v.count) values, expected \(t.count)") }
            v.withUnsafeBufferPointer { t.data.update(from: $0.baseAddress!, count: t.count) }
        }
    }

    /// Writes the parameters as safetensors with `metadata` (atomically: temp file, then rename). BatchNorm
    /// layers also get `num_batches_tracked` (int64) so the file loads with PyTorch's `load_state_dict`.
    public func export(to path: String, metadata: [String: String], batchesTracked: Int64 = 0,
                       extra: [(String, [Float], [Int])] = []) throws {
        var writer = SafeTensorsWriter(metadata: metadata)
        for (name, values, shape) in snapshot() {
            try writer.add(name, floats: values, shape: shape)
            if name.hasSuffix(".running_mean") {
                try writer.add(String(name.dropLast("running_mean".count)) + "num_batches_tracked",
                               int64s: [batchesTracked], shape: [])
            }
        }
        for (name, values, shape) in extra { try writer.add(name, floats: values, shape: shape) }
        try writer.write(to: path)
    }
}
