// ReferenceExecutor.swift — the float32 reference: walks the graph in order and runs each node with
// ReferenceOps, BatchNorm folded at load, activations in one arena laid out by an ActivationPlan made once
// per input size. This is the oracle every other path (int8, fast float, the trainer's forward) is checked
// against; `--engine reference` runs it (the tools run the fast executors by default).

import COpenBLAS
import Foundation

/// Runs a ConDSeg graph in float32, batch 1 per call (batches loop over the same plan).
public final class ReferenceExecutor: FloatGraphExecutor, @unchecked Sendable {
    public let setup: ExecutorSetup
    let folded: [FoldedConv?]
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

    public init(graph: Graph, folded: [FoldedConv?], config: ModelConfig, threads: Int, keepTaps: Bool = false) throws {
        setup = ExecutorSetup(graph: graph, config: config, threads: threads, keepTaps: keepTaps)
        self.folded = folded
        openblas_set_num_threads(Int32(setup.threads))
    }

    public var plannedSize: (height: Int, width: Int)? { plan.map { ($0.height, $0.width) } }

    public func execute(input: UnsafePointer<Float>) {
        let plan = self.plan!
        arena.withUnsafeMutableBufferPointer { arenaBuffer in
            scratch.withUnsafeMutableBufferPointer { scratchBuffer in
                execute(plan: plan, arena: arenaBuffer.baseAddress!, scratch: scratchBuffer.baseAddress!, input: input)
            }
        }
    }

    /// Peak activation and scratch memory of the current plan, in bytes.
    public var plannedBytes: Int { (arena.count + scratch.count) * MemoryLayout<Float>.size }

    /// Convolutions the override computes in int8 (none without one).
    public var int8ConvolutionIDs: Set<ValueID> { Set(convolutionOverride?.convolutionIDs ?? []) }

    public func value(_ id: ValueID) -> [Float] {
        guard let plan, let shape = plan.shapes[id], let offset = plan.offsets[id] else { return [] }
        return Array(arena[offset..<(offset + shape.count)])
    }

    public func shape(_ id: ValueID) -> ValueShape? { plan?.shapes[id] }

    /// Makes the activation plan and allocates the arena and scratch for one input size.
    public func prepare(height: Int, width: Int) {
        let plan = ActivationPlan(graph: graph, batch: 1, height: height, width: width, targets: setup.targets, pinned: setup.pinned)
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
    /// Ids of the convolutions it computes (for profiles).
    var convolutionIDs: [ValueID] { get }
}
