// TrainingNetwork.swift — differentiates the one network description (CondSegCore.Graph): a forward over
// `graph.nodes` in training mode (BatchNorm with batch statistics and running-statistics update) that keeps
// what the backward needs, then a backward over the nodes in reverse that accumulates parameter gradients
// into the ParameterStore. Batches are N×C×H×W with N ≥ 1. An evaluation-mode forward (running statistics)
// serves validation.

import CKernels
import COpenBLAS
import CondSegCore
import Foundation

/// A graph, its parameters and the activations of the last forward.
public final class TrainingNetwork: @unchecked Sendable {
    public let graph: Graph
    public let parameters: ParameterStore
    public let threads: Int
    /// BatchNorm momentum of the running-statistics update (PyTorch's 0.1) and epsilon.
    public var momentum: Float = 0.1
    public var epsilon: Float = 1e-5

    var values: [Tensor?] = []
    private var normalised: [Tensor?] = []
    var batchNormSaved: [TrainOps.BatchNormSaved?] = []
    private var trainedForward = false
    /// Per-thread convolution buffers, kept from step to step.
    private let convScratch: ConvScratch
    /// When true, `profile` accumulates seconds per op kind ("forward conv", "backward attention", …).
    public var profiling = false
    /// Seconds per op kind and direction while `profiling` was on.
    public private(set) var profile: [String: Double] = [:]

    private func record(_ direction: String, _ node: Node, since start: UInt64) {
        let kind: String
        switch node.kind {
        case .conv(let spec): kind = spec.batchNorm != nil ? "conv+bn" : "conv"
        case .windowAttention: kind = "window attention"
        case .upsample: kind = "upsample"
        default: kind = "other"
        }
        profile[direction + " " + kind, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
    }

    public init(graph: Graph, parameters: ParameterStore, threads: Int = 2) {
        self.graph = graph
        self.parameters = parameters
        self.threads = max(1, threads)
        convScratch = ConvScratch(threads: self.threads)
        openblas_set_num_threads(Int32(self.threads))
        Self.keepFreedMemory()
    }

    /// A training step allocates and frees every activation and gradient (tens of megabytes each at 256×256,
    /// batch 8). Above glibc's mmap threshold (at most 32 MB by default) each one is a fresh mmap whose pages the
    /// kernel zeroes on first touch and unmaps on free: about a tenth of a step's CPU time went to page faults.
    /// Serving them from the heap and not trimming it lets the next step reuse the same memory.
    private static func keepFreedMemory() { _ = ck_keep_freed_memory() }

    /// Spatial size of a node's output for the input height/width.
    private func outputShape(_ node: Node, batch: Int, height: Int, width: Int) -> (Int, Int, Int, Int) {
        if node.stride == 0 { return (batch, node.channels, 1, 1) }
        return (batch, node.channels, height / node.stride, width / node.stride)
    }

    /// Runs the graph on `input` (N×3×H×W, H and W multiples of 16). `training`: batch statistics, running
    /// statistics updated, activations kept for `backward`; otherwise running statistics (evaluation mode).
    /// Returns the named outputs.
    @discardableResult
    public func forward(_ input: Tensor, training: Bool) -> [String: Tensor] {
        let nodes = graph.nodes
        values = [Tensor?](repeating: nil, count: nodes.count)
        normalised = [Tensor?](repeating: nil, count: nodes.count)
        batchNormSaved = [TrainOps.BatchNormSaved?](repeating: nil, count: nodes.count)
        trainedForward = training
        let live = graph.liveNodes(for: Array(graph.outputs.values))
        // In evaluation mode, free values after their last use.
        var remainingUses = [Int](repeating: 0, count: nodes.count)
        for node in nodes where live.contains(node.id) { for i in node.inputs { remainingUses[i] += 1 } }
        for id in graph.outputs.values { remainingUses[id] += 1 }
        for node in nodes where live.contains(node.id) {
            let (n, c, h, w) = outputShape(node, batch: input.n, height: input.h, width: input.w)
            let started = profiling ? DispatchTime.now().uptimeNanoseconds : 0
            defer { if profiling { record("forward", node, since: started) } }
            let ins = node.inputs.map { values[$0]! }
            var y: Tensor
            switch node.kind {
            case .input:
                y = input
            case .conv(let spec):
                let z = Tensor(n: n, c: c, h: h, w: w)
                TrainOps.convForward(spec, weight: parameters.value(spec.weight),
                                     bias: spec.bias.map { parameters.value($0) }, x: ins[0], y: z, threads: threads,
                                     scratch: convScratch)
                if let bn = spec.batchNorm {
                    let gamma = parameters.value(bn + ".weight"), beta = parameters.value(bn + ".bias")
                    let mean = parameters.value(bn + ".running_mean"), variance = parameters.value(bn + ".running_var")
                    if training {
                        y = Tensor(n: n, c: c, h: h, w: w)
                        batchNormSaved[node.id] = TrainOps.batchNormForward(
                            z: z, gamma: gamma, beta: beta, runningMean: mean, runningVar: variance, momentum: momentum,
                            eps: epsilon, relu: spec.relu, y: y, threads: threads)
                        normalised[node.id] = z
                    } else {
                        for ch in 0..<c {
                            let scale = gamma[ch] / (variance[ch] + epsilon).squareRoot()
                            let shift = beta[ch] - mean[ch] * scale
                            for image in 0..<n {
                                let p = z.data + image * z.itemCount + ch * z.plane
                                for i in 0..<z.plane {
                                    let v = p[i] * scale + shift
                                    p[i] = spec.relu ? max(v, 0) : v
                                }
                            }
                        }
                        y = z
                    }
                } else {
                    if spec.relu { for i in 0..<z.count { z.data[i] = max(z.data[i], 0) } }
                    y = z
                }
            case .maxPool(let k, let s, let p):
                y = Tensor(n: n, c: c, h: h, w: w)
                TrainOps.maxPoolForward(kernel: k, stride: s, padding: p, x: ins[0], y: y, threads: threads)
            case .add(let relu):
                y = Tensor(n: n, c: c, h: h, w: w)
                ReferenceOps.add(ins.map { UnsafePointer($0.data) }, count: y.count, relu: relu, output: y.data)
            case .mul:
                y = Tensor(n: n, c: c, h: h, w: w)
                TrainOps.mulForward(x: ins[0], gate: ins[1], y: y)
            case .concat:
                y = Tensor(n: n, c: c, h: h, w: w)
                for image in 0..<n {
                    ReferenceOps.concat(ins.map { (UnsafePointer($0.data + image * $0.itemCount), $0.itemCount) },
                                        output: y.data + image * y.itemCount)
                }
            case .upsample:
                y = Tensor(n: n, c: c, h: h, w: w)
                TrainOps.upsampleForward(x: ins[0], y: y, threads: threads)
            case .globalAvgPool, .globalMaxPool:
                y = Tensor(n: n, c: c, h: 1, w: 1)
                TrainOps.globalPoolForward(max: node.kind == .globalMaxPool, x: ins[0], y: y)
            case .channelMeanMax:
                y = Tensor(n: n, c: 2, h: h, w: w)
                TrainOps.channelMeanMaxForward(x: ins[0], y: y)
            case .sigmoid:
                y = Tensor(n: n, c: c, h: h, w: w)
                ReferenceOps.sigmoid(ins[0].data, y.data, count: y.count)
            case .windowAttention(let heads, let k):
                y = Tensor(n: n, c: c, h: h, w: w)
                TrainOps.windowAttentionForward(heads: heads, window: k, values: ins[0], logits: ins[1], y: y,
                                                threads: threads)
            }
            values[node.id] = y
            if !training {
                for i in node.inputs {
                    remainingUses[i] -= 1
                    if remainingUses[i] == 0 { values[i] = nil }
                }
            }
        }
        var outputs: [String: Tensor] = [:]
        for (name, id) in graph.outputs { outputs[name] = values[id] }
        return outputs
    }

    /// A value of the last forward (training mode keeps them all), e.g. a tap for layer-by-layer checks.
    public func value(_ id: ValueID) -> Tensor? { id < values.count ? values[id] : nil }

    /// Backpropagates `outputGradients` (dL/d output, same shapes as the outputs) through the last training
    /// forward, accumulating into `parameters.gradients`. Releases the activations as it goes.
    public func backward(_ outputGradients: [String: Tensor]) {
        precondition(trainedForward, "backward needs a training-mode forward")
        let nodes = graph.nodes
        var grads = [Tensor?](repeating: nil, count: nodes.count)
        for (name, g) in outputGradients {
            guard let id = graph.outputs[name] else { preconditionFailure("unknown output \(name)") }
            if let existing = grads[id] { existing.add(g) } else { grads[id] = g.copy() }
        }
        func gradient(of id: ValueID) -> Tensor? {
            if case .input = nodes[id].kind { return nil }
            if let g = grads[id] { return g }
            let v = values[id]!
            let g = Tensor(n: v.n, c: v.c, h: v.h, w: v.w)
            grads[id] = g
            return g
        }
        for node in nodes.reversed() {
            guard let dy = grads[node.id], let y = values[node.id] else { continue }
            let started = profiling ? DispatchTime.now().uptimeNanoseconds : 0
            defer { if profiling { record("backward", node, since: started) } }
            let ins = node.inputs.map { values[$0]! }
            switch node.kind {
            case .input:
                break
            case .conv(let spec):
                var dz = dy
                if let bn = spec.batchNorm {
                    dz = Tensor(n: y.n, c: y.c, h: y.h, w: y.w)
                    TrainOps.batchNormBackward(xhat: normalised[node.id]!, y: y, dy: dy, relu: spec.relu,
                                               gamma: parameters.value(bn + ".weight"), saved: batchNormSaved[node.id]!,
                                               dGamma: parameters.gradient(bn + ".weight"),
                                               dBeta: parameters.gradient(bn + ".bias"), dz: dz, threads: threads)
                } else if spec.relu {
                    dz = Tensor(n: y.n, c: y.c, h: y.h, w: y.w)
                    TrainOps.reluBackward(y: y, dy: dy, dx: dz)
                }
                TrainOps.convBackward(spec, weight: parameters.value(spec.weight), x: ins[0], dy: dz,
                                      dWeight: parameters.gradient(spec.weight),
                                      dBias: spec.bias.map { parameters.gradient($0) },
                                      dx: gradient(of: node.inputs[0]), threads: threads, scratch: convScratch)
            case .maxPool(let k, let s, let p):
                if let dx = gradient(of: node.inputs[0]) {
                    TrainOps.maxPoolBackward(kernel: k, stride: s, padding: p, x: ins[0], dy: dy, dx: dx, threads: threads)
                }
            case .add(let relu):
                for input in node.inputs {
                    guard let dx = gradient(of: input) else { continue }
                    if relu { TrainOps.reluBackward(y: y, dy: dy, dx: dx) } else { dx.add(dy) }
                }
            case .mul:
                TrainOps.mulBackward(x: ins[0], gate: ins[1], dy: dy, dx: gradient(of: node.inputs[0]),
                                     dGate: gradient(of: node.inputs[1]))
            case .concat:
                for image in 0..<y.n {
                    var offset = image * y.itemCount
                    for (k, input) in node.inputs.enumerated() {
                        let size = ins[k].itemCount
                        if let dx = gradient(of: input) {
                            let d = dx.data + image * size, g = dy.data + offset
                            for i in 0..<size { d[i] += g[i] }
                        }
                        offset += size
                    }
                }
            case .upsample:
                if let dx = gradient(of: node.inputs[0]) { TrainOps.upsampleBackward(dy: dy, dx: dx, threads: threads) }
            case .globalAvgPool, .globalMaxPool:
                if let dx = gradient(of: node.inputs[0]) {
                    TrainOps.globalPoolBackward(max: node.kind == .globalMaxPool, x: ins[0], dy: dy, dx: dx)
                }
            case .channelMeanMax:
                if let dx = gradient(of: node.inputs[0]) { TrainOps.channelMeanMaxBackward(x: ins[0], dy: dy, dx: dx) }
            case .sigmoid:
                if let dx = gradient(of: node.inputs[0]) { TrainOps.sigmoidBackward(y: y, dy: dy, dx: dx) }
            case .windowAttention(let heads, let k):
                TrainOps.windowAttentionBackward(heads: heads, window: k, values: ins[0], logits: ins[1], dy: dy,
                                                 dValues: gradient(of: node.inputs[0]),
                                                 dLogits: gradient(of: node.inputs[1]), threads: threads)
            }
            grads[node.id] = nil
            values[node.id] = nil
            normalised[node.id] = nil
        }
        values = []
        normalised = []
        batchNormSaved = []
        trainedForward = false
    }
}
