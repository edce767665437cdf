// FoldedWeights.swift — inference-time convolution weights: BatchNorm (eval mode, eps 1e-5) folded into the
// preceding convolution, once at load, from a float model or from the float tensors of a quantized model file
// (whose int8 convolutions come already folded). Shared by every executor and the quantizer (which quantizes these
// folded weights per output channel).

/// One convolution's weights after folding: w'[o] = w[o]·γ[o]/√(var[o]+ε), b'[o] = (b[o] − mean[o])·γ[o]/√(var[o]+ε) + β[o].
public struct FoldedConv: Sendable {
    public let spec: ConvSpec
    /// [outChannels][inChannels·kernel·kernel], row-major (PyTorch's OIHW order).
    public let weights: [Float]
    /// [outChannels]; zeros for a convolution without bias or BatchNorm.
    public let bias: [Float]

    public init(spec: ConvSpec, weights: [Float], bias: [Float]) {
        precondition(weights.count == spec.outChannels * spec.inChannels * spec.kernel * spec.kernel, "weight count")
        precondition(bias.count == spec.outChannels, "bias count")
        self.spec = spec; self.weights = weights; self.bias = bias
    }
}

/// BatchNorm epsilon of the release (PyTorch's default).
public let batchNormEpsilon: Double = 1e-5

extension FoldedConv {
    /// Folds one convolution's BatchNorm from the float tensors of `file` (computed in double precision, stored as
    /// float); each tensor must have the shape `spec` needs.
    public init(folding spec: ConvSpec, from file: SafeTensorsFile) throws {
        let perChannel = [spec.outChannels]
        var w = try file.floats(spec.weight, shape: spec.weightShape)
        var b = try spec.bias.map { try file.floats($0, shape: perChannel) } ?? [Float](repeating: 0, count: spec.outChannels)
        if let bn = spec.batchNorm {
            let gamma = try file.floats("\(bn).weight", shape: perChannel), beta = try file.floats("\(bn).bias", shape: perChannel)
            let mean = try file.floats("\(bn).running_mean", shape: perChannel)
            let variance = try file.floats("\(bn).running_var", shape: perChannel)
            let perOut = w.count / spec.outChannels
            for o in 0..<spec.outChannels {
                let s = Double(gamma[o]) / (Double(variance[o]) + batchNormEpsilon).squareRoot()
                for i in 0..<perOut { w[o * perOut + i] = Float(Double(w[o * perOut + i]) * s) }
                b[o] = Float((Double(b[o]) - Double(mean[o])) * s + Double(beta[o]))
            }
        }
        self.init(spec: spec, weights: w, bias: b)
    }

    /// Every convolution of `graph` folded from `file`, indexed by node id (nil for non-convolutions); `given`
    /// supplies ready ones (a quantized file's int8 convolutions), the others are folded. Shared weights (channel
    /// attention's fc1/fc2) are folded once.
    public static func folding(_ graph: Graph, from file: SafeTensorsFile,
                               given: (ConvSpec) -> FoldedConv? = { _ in nil }) throws -> [FoldedConv?] {
        var cache: [String: FoldedConv] = [:]
        return try graph.nodes.map { node in
            guard case .conv(let spec) = node.kind else { return nil }
            let key = spec.weight + "|" + (spec.batchNorm ?? "")
            if let done = cache[key] { return done }
            let folded = try given(spec) ?? FoldedConv(folding: spec, from: file)
            cache[key] = folded
            return folded
        }
    }
}

extension ConDSegModel {
    /// Folds every convolution of `graph`; the result is indexed by node id (nil for non-convolutions).
    public func foldedConvolutions(of graph: Graph) throws -> [FoldedConv?] {
        try FoldedConv.folding(graph, from: file)
    }

    /// Folds one convolution's BatchNorm (computed in double precision, stored as float).
    public func fold(_ spec: ConvSpec) throws -> FoldedConv { try FoldedConv(folding: spec, from: file) }
}
