// GraphExecutor.swift — what every executor of the graph shares: the `GraphExecutor` protocol (run one planar
// input, read outputs and kept values, plan once per input size) with the code written once in its extension
// (input checks, re-planning when the size changes, predict/output), the profiling every executor offers
// (`ProfiledEngine`), `InferenceEngine` (what the segmentation pipeline needs) and `ExecutionError`.
// The four executors: the float reference (ReferenceExecutor, the oracle), the fast float executor, the int8
// reference and the fast int8 executor (CondSegRuntime); the fast ones are what the tools run by default.

/// Errors of an executor run: wrong input size or count, or weights an executor cannot run.
public struct ExecutionError: Error, CustomStringConvertible {
    public let problem: String
    public init(_ problem: String) { self.problem = problem }
    public var description: String { problem }

    /// Checks one planar network input (3×height×width values, sides positive multiples of 16), as every executor
    /// requires.
    public static func checkInput(count: Int, height: Int, width: Int) throws {
        guard height > 0, width > 0, height % 16 == 0, width % 16 == 0 else {
            throw ExecutionError("input size \(width)×\(height) is not a positive multiple of 16")
        }
        guard count == 3 * height * width else {
            throw ExecutionError("input has \(count) values, expected 3×\(height)×\(width) = \(3 * height * width)")
        }
    }
}

/// Something that runs the network: planar model input in, H×W probabilities out.
public protocol InferenceEngine: AnyObject {
    /// The configuration of the model being run (input size, channel order, scale).
    var config: ModelConfig { get }
    /// Probabilities (H×W) for one planar input (3×H×W, model channel order and scale).
    func predict(input: [Float], height: Int, width: Int) throws -> [Float]
}

/// An inference engine that can time itself per node (`condseg bench --profile`).
public protocol ProfiledEngine: InferenceEngine {
    /// The graph it runs (MACs per node, module groups).
    var graph: Graph { get }
    /// When true, `nodeSeconds` accumulates per-node wall time across runs.
    var profiling: Bool { get set }
    /// Seconds per node id accumulated while `profiling` was on (a fused convolution's time is on its add).
    var nodeSeconds: [Double] { get }
    /// Activation and scratch bytes planned for the last input size.
    var plannedBytes: Int { get }
    /// Convolutions that run in int8 (their time and MACs are reported against the int8 ceiling).
    var int8ConvolutionIDs: Set<ValueID> { get }
    /// Convolutions computed inside the add that reads them (their time is counted on the add's node).
    var fusedConvolutionIDs: Set<ValueID> { get }
}

/// An executor of a ConDSeg graph, batch 1 per call: plans its memory once per input size, runs planar inputs,
/// and keeps the named outputs (and, when made with `keepTaps`, every module output in `graph.taps`) readable
/// after a run.
public protocol GraphExecutor: ProfiledEngine {
    /// The graph, configuration, threads and kept values it was made with.
    var setup: ExecutorSetup { get }
    /// Input height and width the current plan was made for; nil before the first run.
    var plannedSize: (height: Int, width: Int)? { get }
    /// Makes the plan and allocates arena and scratch for one input size (`run` does this when the size changes).
    func prepare(height: Int, width: Int)
    /// Runs the current plan on a planar input of the planned size. Call `run`, which checks the input and plans.
    func execute(input: UnsafePointer<Float>)
    /// A value of the last run as NCHW floats (a tap or an output; others may have been overwritten), or [] when
    /// the current plan has no buffer for it.
    func value(_ id: ValueID) -> [Float]
    /// Shape of a value in the current plan.
    func shape(_ id: ValueID) -> ValueShape?
}

extension GraphExecutor {
    public var graph: Graph { setup.graph }
    public var config: ModelConfig { setup.config }
    /// Threads the executor's operators (and OpenBLAS) use.
    public var threads: Int { setup.threads }

    /// Runs the graph on one planar input (3×H×W, already scaled and in the model's channel order; H and W
    /// multiples of 16); read results with `output(_:)` and `value(_:)`.
    public func run(input: [Float], height: Int, width: Int) throws {
        try ExecutionError.checkInput(count: input.count, height: height, width: width)
        if let size = plannedSize, size.height == height, size.width == width {} else {
            prepare(height: height, width: width)
        }
        input.withUnsafeBufferPointer { execute(input: $0.baseAddress!) }
    }

    /// Probabilities (sigmoid of the mask logits), H×W, for one planar input.
    public func predict(input: [Float], height: Int, width: Int) throws -> [Float] {
        try run(input: input, height: height, width: width)
        return output("mask")
    }

    /// The named output of the last run ("mask", "mask_fg", …), flattened NCHW.
    public func output(_ name: String) -> [Float] { value(graph.outputs[name]!) }

    public var int8ConvolutionIDs: Set<ValueID> { [] }
    public var fusedConvolutionIDs: Set<ValueID> { [] }
}

/// A float32 executor: made from a graph and its BatchNorm-folded convolutions.
public protocol FloatGraphExecutor: GraphExecutor {
    /// An executor over `graph` with BatchNorm-folded convolutions `folded` (indexed by node id). `keepTaps` keeps
    /// every module output of `graph.taps` readable after a run (for layer-by-layer checks).
    init(graph: Graph, folded: [FoldedConv?], config: ModelConfig, threads: Int, keepTaps: Bool) throws
}

extension FloatGraphExecutor {
    /// Loads and folds the weights of `model`. `threads` is used by OpenBLAS and by the operators;
    /// `keepTaps` keeps every module output of `graph.taps` readable after a run (for layer-by-layer checks).
    public init(model: ConDSegModel, threads: Int = 2, auxiliaryHead: Bool = false, keepTaps: Bool = false) throws {
        let graph = try model.graph(auxiliaryHead: auxiliaryHead)
        try self.init(graph: graph, folded: model.foldedConvolutions(of: graph), config: model.config,
                      threads: threads, keepTaps: keepTaps)
    }
}

/// What every executor is made with: the graph, the model's configuration, the thread count and the values it
/// keeps readable after a run.
public struct ExecutorSetup: Sendable {
    public let graph: Graph
    public let config: ModelConfig
    /// Threads for the operators and OpenBLAS (at least 1).
    public let threads: Int
    /// The named outputs (sorted by name): always computed and kept.
    public let targets: [ValueID]
    /// Values also kept readable (with `keepTaps`, every module output of `graph.taps`).
    public let pinned: Set<ValueID>

    public init(graph: Graph, config: ModelConfig, threads: Int, keepTaps: Bool) {
        self.graph = graph
        self.config = config
        self.threads = max(1, threads)
        (targets, pinned) = graph.kept(keepTaps: keepTaps)
    }
}

extension Graph {
    /// What an executor keeps readable after a run: the named outputs (sorted by name) as `targets`, and with
    /// `keepTaps` every tap as `pinned`.
    public func kept(keepTaps: Bool) -> (targets: [ValueID], pinned: Set<ValueID>) {
        (outputs.keys.sorted().map { outputs[$0]! }, keepTaps ? Set(taps.values) : [])
    }
}
