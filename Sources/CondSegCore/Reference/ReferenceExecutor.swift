// ReferenceExecutor.swift — the float32 reference: walks the graph in order and runs each node with
// ReferenceOps, BatchNorm folded at load, activations in one arena laid out by an ActivationPlan made once
// per input size. This is the oracle every other path (int8, optimised float, the trainer's forward) is
// checked against, and the path `segment`/`eval` use without a calibration table.

import COpenBLAS
import Foundation

/// Errors of an executor run: wrong input size or count.
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

/// Runs a ConDSeg graph in float32, batch 1 per call (batches loop over the same plan).
public final class ReferenceExecutor: @unchecked Sendable {
    public let graph: Graph
    public let config: ModelConfig
    public let threads: Int
    let folded: [FoldedConv?]
    let targets: [ValueID]
    let pinned: Set<ValueID>
    private var plan: ActivationPlan?
    private var arena: [Float] = []
    private var scratch: [Float] = []
    /// When true, `nodeSeconds` accumulates the wall time of every node across runs (for `bench --profile`).
    public var profiling = false
    /// Seconds spent in each node (indexed by value id) while `profiling` was on.
    public private(set) var nodeSeconds: [Double] = []
    /// Called after every node with its output (calibration collects activation statistics through this).
    public var observer: ((Node, UnsafePointer<Float>, ValueShape) -> Void)?
    /// Runs chosen convolutions another way (the int8 path); the float reference runs the rest.
    public var convolutionOverride: ConvolutionOverride?

    /// Loads and folds the weights of `model`. `threads` is used by OpenBLAS and by the operators;
    /// `keepTaps` keeps every module output of `graph.taps` readable after a run (for layer-by-layer checks).
    public convenience init(model: ConDSegModel, threads: Int = 2, auxiliaryHead: Bool = false,
                            keepTaps: Bool = false) throws {
        let graph = try model.graph(auxiliaryHead: auxiliaryHead)
        try self.init(graph: graph, folded: model.foldedConvolutions(of: graph), config: model.config,
                      threads: threads, keepTaps: keepTaps)
    }

    public init(graph: Graph, folded: [FoldedConv?], config: ModelConfig, threads: Int, keepTaps: Bool = false) throws {
        self.graph = graph
        self.folded = folded
        self.config = config
        self.threads = max(1, threads)
        targets = graph.outputs.keys.sorted().map { graph.outputs[$0]! }
        pinned = keepTaps ? Set(graph.taps.values) : []
        openblas_set_num_threads(Int32(self.threads))
    }

    /// Probabilities (sigmoid of the mask logits), H×W, for one planar input (3×H×W, already scaled and in the
    /// model's channel order). H and W must be multiples of 16.
    public func predict(input: [Float], height: Int, width: Int) throws -> [Float] {
        try run(input: input, height: height, width: width)
        return output("mask")
    }

    /// Runs the graph on one planar input; read results with `output(_:)` and `value(_:)`.
    public func run(input: [Float], height: Int, width: Int) throws {
        try ExecutionError.checkInput(count: input.count, height: height, width: width)
        if plan == nil || plan!.height != height || plan!.width != width { prepare(height: height, width: width) }
        let plan = self.plan!
        arena.withUnsafeMutableBufferPointer { arenaBuffer in
            scratch.withUnsafeMutableBufferPointer { scratchBuffer in
                input.withUnsafeBufferPointer { inputBuffer in
                    execute(plan: plan, arena: arenaBuffer.baseAddress!, scratch: scratchBuffer.baseAddress!,
                            input: inputBuffer.baseAddress!)
                }
            }
        }
    }

    /// Peak activation and scratch memory of the current plan, in bytes.
    public var plannedBytes: Int { (arena.count + scratch.count) * MemoryLayout<Float>.size }

    /// The named output of the last run ("mask", "mask_fg", …), flattened NCHW.
    public func output(_ name: String) -> [Float] { value(graph.outputs[name]!) }

    /// A value of the last run (a tap or an output; others may have been overwritten by later values).
    public func value(_ id: ValueID) -> [Float] {
        guard let plan, let shape = plan.shapes[id], let offset = plan.offsets[id] else { return [] }
        return Array(arena[offset..<(offset + shape.count)])
    }

    /// Shape of a value in the current plan.
    public func shape(_ id: ValueID) -> ValueShape? { plan?.shapes[id] }

    /// Makes the activation plan and allocates the arena and scratch for one input size.
    public func prepare(height: Int, width: Int) {
        let plan = ActivationPlan(graph: graph, batch: 1, height: height, width: width, targets: targets, pinned: pinned)
        var scratchCount = 0
        for id in plan.schedule {
            let node = graph.nodes[id]
            let out = plan.shapes[id]!
            switch node.kind {
            case .conv(let spec):
                scratchCount = max(scratchCount, ReferenceOps.convScratch(spec, outH: out.h, outW: out.w))
            case .windowAttention(_, let k):
                scratchCount = max(scratchCount, k * k * k * k * out.plane)
            default: break
            }
        }
        self.plan = plan
        arena = [Float](repeating: 0, count: plan.arenaCount)
        scratch = [Float](repeating: 0, count: max(scratchCount, 1))
    }

    private func execute(plan: ActivationPlan, arena: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                         input: UnsafePointer<Float>) {
        func ptr(_ id: ValueID) -> UnsafeMutablePointer<Float> { arena + plan.offsets[id]! }
        if profiling && nodeSeconds.count != graph.nodes.count {
            nodeSeconds = [Double](repeating: 0, count: graph.nodes.count)
        }
        for id in plan.schedule {
            let started = profiling ? DispatchTime.now().uptimeNanoseconds : 0
            defer {
                if profiling { nodeSeconds[id] += Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9 }
            }
            let node = graph.nodes[id]
            let out = plan.shapes[id]!
            let y = ptr(id)
            let ins = node.inputs.map { plan.shapes[$0]! }
            switch node.kind {
            case .input:
                y.update(from: input, count: out.count)
            case .conv(let spec):
                if let override = convolutionOverride,
                   override.convolve(node: node, input: ptr(node.inputs[0]), inputShape: ins[0], output: y, outputShape: out) {
                    break
                }
                let f = folded[id]!
                f.weights.withUnsafeBufferPointer { w in
                    f.bias.withUnsafeBufferPointer { b in
                        ReferenceOps.conv(spec, weights: w.baseAddress!, bias: b.baseAddress!, input: ptr(node.inputs[0]),
                                          inH: ins[0].h, inW: ins[0].w, output: y, outH: out.h, outW: out.w,
                                          scratch: scratch, threads: threads)
                    }
                }
            case .maxPool(let k, let s, let p):
                ReferenceOps.maxPool(kernel: k, stride: s, padding: p, channels: out.c, input: ptr(node.inputs[0]),
                                     inH: ins[0].h, inW: ins[0].w, output: y, outH: out.h, outW: out.w, threads: threads)
            case .add(let relu):
                ReferenceOps.add(node.inputs.map { UnsafePointer(ptr($0)) }, count: out.count, relu: relu, output: y)
            case .mul:
                ReferenceOps.mul(ptr(node.inputs[0]), channels: out.c, plane: out.plane, gate: ptr(node.inputs[1]),
                                 gateChannels: ins[1].c, gatePlane: ins[1].plane, output: y)
            case .concat:
                ReferenceOps.concat(node.inputs.indices.map { (UnsafePointer(ptr(node.inputs[$0])), ins[$0].count) },
                                    output: y)
            case .upsample:
                ReferenceOps.upsampleAlignCorners(channels: out.c, input: ptr(node.inputs[0]), inH: ins[0].h, inW: ins[0].w,
                                                  output: y, outH: out.h, outW: out.w, threads: threads)
            case .globalAvgPool:
                ReferenceOps.globalPool(max: false, channels: out.c, input: ptr(node.inputs[0]), plane: ins[0].plane, output: y)
            case .globalMaxPool:
                ReferenceOps.globalPool(max: true, channels: out.c, input: ptr(node.inputs[0]), plane: ins[0].plane, output: y)
            case .channelMeanMax:
                ReferenceOps.channelMeanMax(channels: ins[0].c, input: ptr(node.inputs[0]), plane: ins[0].plane, output: y)
            case .sigmoid:
                ReferenceOps.sigmoid(ptr(node.inputs[0]), y, count: out.count)
            case .windowAttention(let heads, let k):
                ReferenceOps.windowAttention(heads: heads, window: k, channels: out.c, height: out.h, width: out.w,
                                             values: ptr(node.inputs[0]), logits: ptr(node.inputs[1]), output: y,
                                             weights: scratch, threads: threads)
            }
            observer?(node, y, out)
        }
    }
}

/// Another implementation of some convolutions (e.g. int8), plugged into the reference executor so that every
/// other op, the plan and the schedule stay the reference's own.
public protocol ConvolutionOverride: AnyObject {
    /// Computes `node` (a `.conv`) from `input` into `output` (NCHW, batch 1) and returns true, or returns false
    /// to let the float reference compute it.
    func convolve(node: Node, input: UnsafePointer<Float>, inputShape: ValueShape,
                  output: UnsafeMutablePointer<Float>, outputShape: ValueShape) -> Bool
}
