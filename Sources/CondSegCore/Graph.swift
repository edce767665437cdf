// Graph.swift — the one description of the network: a list of typed ops over values, each op naming the
// weights it reads. Built once from a ModelConfig (ConDSegGraph.swift); executed by the float reference
// (Reference/), the optimised and int8 executors, the quantizer and the trainer. No executor has its own copy
// of the forward pass: they all walk `Graph.nodes` in order.
//
// Values are 4-D feature maps N×C×H×W. A node's output has `channels` channels at 1/`stride` of the input's
// spatial size (the input size is a multiple of 16, so every stride divides it exactly).

/// Index of a value (a node's output) in `Graph.nodes`.
public typealias ValueID = Int

/// A 2-D convolution, optionally followed by BatchNorm (eval: folded at load; train: batch statistics) and ReLU.
/// Also used for per-pixel Linear layers (`isLinear`: weight stored as [out, in]) and 1×1 convolutions with bias.
public struct ConvSpec: Sendable, Equatable {
    /// Weight tensor name: [outChannels, inChannels, kernel, kernel] (or [out, in] when `isLinear`).
    public var weight: String
    /// Bias tensor name, or nil for a convolution without bias.
    public var bias: String?
    /// Prefix of the BatchNorm that follows (`<prefix>.weight/.bias/.running_mean/.running_var`), or nil.
    public var batchNorm: String?
    public var inChannels: Int
    public var outChannels: Int
    public var kernel: Int
    public var stride: Int
    public var padding: Int
    public var dilation: Int
    public var relu: Bool
    public var isLinear: Bool

    public init(weight: String, bias: String? = nil, batchNorm: String? = nil, inChannels: Int, outChannels: Int,
                kernel: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1, relu: Bool = false,
                isLinear: Bool = false) {
        self.weight = weight; self.bias = bias; self.batchNorm = batchNorm
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding; self.dilation = dilation
        self.relu = relu; self.isLinear = isLinear
    }

    /// Shape the weight tensor must have in the file.
    public var weightShape: [Int] {
        isLinear ? [outChannels, inChannels] : [outChannels, inChannels, kernel, kernel]
    }

    /// A 1×1 convolution with stride 1 and no padding: a plain matrix product over the pixels (no im2col).
    public var isPointwise: Bool { kernel == 1 && stride == 1 && padding == 0 }

    /// Output spatial size for an input of size `n` (PyTorch's formula).
    public func outputSize(_ n: Int) -> Int {
        (n + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1
    }
}

/// The operations ConDSeg uses. Each documents its inputs in order.
public enum OpKind: Sendable, Equatable {
    /// The network input (the image, C = 3).
    case input
    /// [x] → convolution (+ BatchNorm) (+ ReLU).
    case conv(ConvSpec)
    /// [x] → max pooling, PyTorch semantics (padding is −∞).
    case maxPool(kernel: Int, stride: Int, padding: Int)
    /// [a, b, …] → elementwise sum, then ReLU if `relu`.
    case add(relu: Bool)
    /// [x, gate] → x · gate, the gate broadcast: N×C×1×1 (channel attention) or N×1×H×W (spatial attention).
    case mul
    /// [a, b, …] → concatenation along channels.
    case concat
    /// [x] → bilinear upsampling by an integer factor with align_corners = true.
    case upsample(factor: Int)
    /// [x] → N×C×1×1 mean over H×W.
    case globalAvgPool
    /// [x] → N×C×1×1 max over H×W.
    case globalMaxPool
    /// [x] → N×2×H×W: channel 0 the mean over C, channel 1 the max over C (spatial attention's input).
    case channelMeanMax
    /// [x] → logistic sigmoid.
    case sigmoid
    /// [values N×C×H×W, logits N×(heads·k⁴)×H×W] → CDFA attention and fold (docs/architecture.md, steps 3–6):
    /// softmax over j of logits[h·k⁴ + i·k² + j]·(C/heads)^−½, o[p,i] = Σ_j a·v[p+off_j], y[q] = Σ o[p,i] with p+off_i = q.
    case windowAttention(heads: Int, window: Int)
}

/// What a node is for in the network, set by the graph builder (ConDSegGraph.swift) so that the calibrator, the
/// optimiser and the model loader ask for a role instead of matching module names. Small on purpose: one case per
/// question some code outside the builder asks.
public enum NodeRole: String, Sendable, Equatable, CaseIterable {
    /// Everything without a more specific role.
    case body
    /// The ResNet encoder (layer0 … layer3): its own learning rate in training.
    case encoder
    /// Channel attention's gate: the global pools, fc1, fc2, their sum and the sigmoid (1×1 spatial values whose
    /// sigmoid multiplies a whole feature map). Calibration keeps its convolutions float.
    case channelGate
    /// Spatial attention's gate: channel mean/max, the 7×7 2→1 convolution and the sigmoid. Kept float.
    case spatialGate
    /// CDFA's per-pixel attention logits (`attn_fg`, `attn_bg`), which feed a softmax. Kept float.
    case attentionLogits
    /// The last convolution of the network, whose output the mask's sigmoid reads. Kept float.
    case maskLogits
    /// The auxiliary head (training only, absent from shipped models; the inference graph leaves it out).
    case auxiliaryHead
}

/// One op of the graph: its kind, inputs, the module it belongs to and its output shape class.
public struct Node: Sendable {
    public let id: ValueID
    public let kind: OpKind
    public let inputs: [ValueID]
    /// Dotted module path in the release's naming, e.g. "dconv1.c2.0" (used for reports and quantization tables).
    public let name: String
    public let channels: Int
    /// Spatial size is inputSize / stride; 0 means a global 1×1 value (channel attention's pooled vectors).
    public let stride: Int
    /// What the node is for (set by the builder; `.body` unless it has a more specific role).
    public let role: NodeRole

    /// Height (= width) of this node's output for a square input of `inputSize`.
    public func spatialSize(inputSize: Int) -> Int { stride == 0 ? 1 : inputSize / stride }

    /// Top-level module ("layer0", "dconv1", "cdfa2", …): the group MACs and timings are reported by.
    public var group: String {
        String(name.split(separator: ".", maxSplits: 1).first ?? Substring(name))
    }
}

/// The network as a list of nodes in execution order (every input precedes its user).
public struct Graph: Sendable {
    public private(set) var nodes: [Node] = []
    /// Named results: "mask" (and "mask_fg", "mask_bg", "mask_uc" with the auxiliary head).
    public var outputs: [String: ValueID] = [:]
    /// Module outputs for layer-by-layer checks, keyed like the fixtures: "act.layer0", "act.cdfa1", …
    public internal(set) var taps: [String: ValueID] = [:]
    /// Every parameter tensor the graph reads, with the shape it must have (BatchNorm statistics included).
    public internal(set) var parameters: [String: [Int]] = [:]

    public init() {}

    /// Appends a node and returns its value. Shapes of weights are recorded in `parameters`.
    /// (ConDSegGraph.swift builds the network with this; tests build small graphs with it.)
    @discardableResult
    public mutating func add(_ kind: OpKind, _ inputs: [ValueID], name: String, channels: Int, stride: Int,
                             role: NodeRole = .body) -> ValueID {
        let id = nodes.count
        nodes.append(Node(id: id, kind: kind, inputs: inputs, name: name, channels: channels, stride: stride, role: role))
        if case .conv(let spec) = kind {
            for (name, shape) in spec.parameterShapes { parameters[name] = shape }
        }
        return id
    }

    /// A unique name for every value: the node's module path, with "#2", "#3", … appended to repeats (the
    /// shared channel-attention layers run twice). Calibration tables and reports key tensors by these.
    public var valueNames: [String] {
        var seen: [String: Int] = [:]
        return nodes.map { node in
            let count = (seen[node.name] ?? 0) + 1
            seen[node.name] = count
            return count == 1 ? node.name : "\(node.name)#\(count)"
        }
    }

    /// Number of times each value is read by a later node (outputs count once more).
    public func useCounts() -> [Int] {
        var counts = [Int](repeating: 0, count: nodes.count)
        for node in nodes { for input in node.inputs { counts[input] += 1 } }
        for id in outputs.values { counts[id] += 1 }
        return counts
    }

    /// The number every input side must be a multiple of: the least common multiple of the nodes' strides (a
    /// value at stride s has side inputSize / s, which must be exact). 16 for every ConDSeg encoder.
    public var inputStride: Int {
        func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
        return nodes.reduce(1) { lcm, node in node.stride == 0 ? lcm : lcm / gcd(lcm, node.stride) * node.stride }
    }

    /// Multiply-accumulates of each node for a square input of `size` (batch 1): convolutions and the
    /// window attention; elementwise ops count 0.
    public func macs(inputSize size: Int) -> [Int] {
        nodes.map { node in
            let side = node.spatialSize(inputSize: size)
            let hw = side * side
            switch node.kind {
            case .conv(let spec):
                return hw * spec.outChannels * spec.inChannels * spec.kernel * spec.kernel
            case .windowAttention(_, let k):
                // k² × k² products per channel and pixel (attention · values); the fold is additions.
                return hw * node.channels * k * k * k * k
            default:
                return 0
            }
        }
    }

    /// The parameter tensors (weight, bias, BatchNorm tensors) read by nodes with `role`.
    public func parameters(role: NodeRole) -> Set<String> {
        var names = Set<String>()
        for node in nodes where node.role == role {
            if case .conv(let spec) = node.kind { for (name, _) in spec.parameterShapes { names.insert(name) } }
        }
        return names
    }

    /// Ids of the nodes needed to compute `targets` (everything else can be pruned).
    public func liveNodes(for targets: [ValueID]) -> Set<ValueID> {
        var live = Set<ValueID>()
        var stack = targets
        while let id = stack.popLast() {
            if live.insert(id).inserted { stack.append(contentsOf: nodes[id].inputs) }
        }
        return live
    }
}

extension ConvSpec {
    /// Every tensor this convolution reads, with the shape it must have: the weight, the bias if any, and the
    /// BatchNorm's weight, bias, running mean and running variance if any.
    public var parameterShapes: [(name: String, shape: [Int])] {
        var result: [(name: String, shape: [Int])] = [(weight, weightShape)]
        if let bias { result.append((bias, [outChannels])) }
        if let batchNorm {
            for suffix in ["weight", "bias", "running_mean", "running_var"] {
                result.append(("\(batchNorm).\(suffix)", [outChannels]))
            }
        }
        return result
    }
}
