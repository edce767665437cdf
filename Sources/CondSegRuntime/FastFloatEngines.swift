// FastFloatEngines.swift — what `condseg bench` needs from any float executor (timing profile, graph, planned
// memory), so the reference and the optimised executor can be measured side by side in one run.

import CondSegCore

/// An inference engine that can profile itself per node.
public protocol ProfiledEngine: InferenceEngine {
    /// The graph it runs (MACs per node, module groups).
    var graph: Graph { get }
    /// When true, `nodeSeconds` accumulates per-node wall time.
    var profiling: Bool { get set }
    /// Seconds per node id accumulated while `profiling` was on.
    var nodeSeconds: [Double] { get }
    /// Activation and scratch bytes planned for the last input size.
    var plannedBytes: Int { get }
    /// Convolutions that run in int8 (their time and MACs are reported against the int8 ceiling).
    var int8ConvolutionIDs: Set<ValueID> { get }
    /// Convolutions computed inside the add that reads them (their time is counted on the add's node).
    var fusedConvolutionIDs: Set<ValueID> { get }
}

extension ReferenceExecutor: ProfiledEngine {
    public var int8ConvolutionIDs: Set<ValueID> {
        Set((convolutionOverride as? Int8Convolutions)?.int8NodeIDs ?? [])
    }
    public var fusedConvolutionIDs: Set<ValueID> { [] }
}

extension FastFloatExecutor: ProfiledEngine {
    public var int8ConvolutionIDs: Set<ValueID> { [] }
    public var fusedConvolutionIDs: Set<ValueID> { fusedConvolutions }
}

extension Int8Executor {
    public var int8ConvolutionIDs: Set<ValueID> { Set(int8NodeIDs) }
    public var fusedConvolutionIDs: Set<ValueID> { fusedConvolutions }
}

/// Which float executor to run.
public enum FloatEngineKind: String, CaseIterable, Sendable {
    /// CondSegCore's float reference (the oracle).
    case reference
    /// The optimised float executor (`FastFloatExecutor`).
    case fast

    /// A new executor of this kind for `model`.
    public func make(model: ConDSegModel, threads: Int) throws -> ProfiledEngine {
        switch self {
        case .reference: return try ReferenceExecutor(model: model, threads: threads)
        case .fast: return try FastFloatExecutor(model: model, threads: threads)
        }
    }
}
