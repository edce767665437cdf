// OpByOpChecker.swift — shared by the fast executors' tests: runs the float reference keeping every node's
// output, then checks each step of another executor (run on the reference's own inputs) against the bound its
// arithmetic allows (see FastFloatExecutorTests.swift for the bounds).

import CKernels
import CondSegCore
import CondSegRuntime
import CondSegTestSupport
import Foundation

/// Runs the reference and keeps every node's output, then runs the fast executor step by step on the reference's
/// values and checks every step against its bound.
final class OpByOpChecker {
    let graph: Graph
    let folded: [FoldedConv?]
    var referenceValues: [ValueID: [Float]] = [:]
    var referenceShapes: [ValueID: ValueShape] = [:]
    var failures: [String] = []
    var checkedKinds: [String: Int] = [:]
    var worstRatio: [String: Double] = [:]
    /// Convolutions the executor under test computes by Winograd F(m×m, 3×3): node id → m.
    var winogradTiles: [ValueID: Int] = [:]

    init(graph: Graph, folded: [FoldedConv?]) {
        self.graph = graph
        self.folded = folded
    }

    func runReference(config: ModelConfig, input: [Float], height: Int, width: Int) throws {
        let reference = try ReferenceExecutor(graph: graph, folded: folded, config: config, threads: 2)
        reference.observer = { [unowned self] node, pointer, shape in
            self.referenceValues[node.id] = Array(UnsafeBufferPointer(start: pointer, count: shape.count))
            self.referenceShapes[node.id] = shape
        }
        try reference.run(input: input, height: height, width: width)
    }

    /// Checks `actual` (the fast executor's output of `node`) and returns the reference value to continue with.
    func check(node: Node, actual: UnsafeMutablePointer<Float>, fusedConv: ValueID?, exactTranscendentals: Bool) {
        guard let expected = referenceValues[node.id], let shape = referenceShapes[node.id] else {
            failures.append("\(node.name): the reference computed no value")
            return
        }
        let count = expected.count
        var bound = [Double](repeating: 0, count: count)
        let kind: String
        switch node.kind {
        case .conv:
            kind = winogradTiles[node.id] == nil ? "conv" : "winograd conv"
            bound = convBound(node, residuals: [])
        case .add where fusedConv != nil:
            kind = winogradTiles[fusedConv!] == nil ? "conv+add" : "winograd conv+add"
            bound = convBound(graph.nodes[fusedConv!], residuals: Array(node.inputs.dropFirst()))
        case .windowAttention(let heads, let k):
            kind = "windowAttention"
            if !exactTranscendentals { bound = attentionBound(node, heads: heads, window: k, shape: shape) }
        case .sigmoid:
            kind = "sigmoid"
            if !exactTranscendentals { bound = expected.map { 8 * unitRoundoff * Double(abs($0)) + 1e-37 } }
        default:
            kind = "\(node.kind)".components(separatedBy: "(").first ?? "op"
        }
        checkedKinds[kind, default: 0] += 1
        var worst = 0.0
        for i in 0..<count {
            let difference = abs(Double(actual[i]) - Double(expected[i]))
            if difference > bound[i] || actual[i].isNaN != expected[i].isNaN {
                failures.append("\(node.name) [\(kind)] element \(i): \(actual[i]) vs reference \(expected[i]), bound \(bound[i])")
                break
            }
            if bound[i] > 0 { worst = max(worst, difference / bound[i]) }
        }
        worstRatio[kind] = max(worstRatio[kind] ?? 0, worst)
        actual.update(from: expected, count: count)   // the next steps read the reference's value
    }

    /// 2·γ_n·((|W| ⊛ |x|) + |b| + Σ|r|), n = K + 1 + residuals; for a Winograd convolution the reference's half,
    /// γ_n·(…), plus the Winograd result's γ_K·(S + |b| + Σ|r|) with S and K from docs/architecture.md
    /// ("Winograd convolutions"): K = 1 + 2·(terms of a Bᵀ row) + Cin + 2·(terms of an Aᵀ row) + 1 + residuals.
    private func convBound(_ node: Node, residuals: [ValueID]) -> [Double] {
        guard case .conv(var spec) = node.kind, let f = folded[node.id] else { return [] }
        spec.relu = false
        let x = referenceValues[node.inputs[0]]!.map { abs($0) }
        let inShape = referenceShapes[node.inputs[0]]!, out = referenceShapes[node.id]!
        let absWeights = f.weights.map { abs($0) }, zeroBias = [Float](repeating: 0, count: spec.outChannels)
        var sums = [Float](repeating: 0, count: out.count)
        var scratch = [Float](repeating: 0, count: max(1, ReferenceOps.convScratch(spec, outH: out.h, outW: out.w)))
        ReferenceOps.conv(spec, weights: absWeights, bias: zeroBias, input: x, inH: inShape.h, inW: inShape.w,
                          output: &sums, outH: out.h, outW: out.w, scratch: &scratch, threads: 2)
        let n = spec.inChannels * spec.kernel * spec.kernel + 1 + residuals.count
        let residualValues = residuals.map { referenceValues[$0]! }
        guard let m = winogradTiles[node.id] else {
            return (0..<out.count).map { i in
                var total = Double(sums[i]) * (1 + gamma(n)) + Double(abs(f.bias[i / out.plane]))
                for r in residualValues { total += Double(abs(r[i])) }
                return 2 * gamma(n) * total + 1e-38
            }
        }
        let t = Self.winogradMatrices(m)
        let winograd = winogradAbsoluteSums(t, weights: f.weights, input: referenceValues[node.inputs[0]]!,
                                            inChannels: spec.inChannels, outChannels: spec.outChannels, inH: inShape.h,
                                            inW: inShape.w, outH: out.h, outW: out.w, padding: spec.padding,
                                            dilation: spec.dilation)
        let k = 1 + 2 * t.inputTerms + spec.inChannels + 2 * t.outputTerms + 1 + residuals.count
        return (0..<out.count).map { i in
            var others = Double(abs(f.bias[i / out.plane]))
            for r in residualValues { others += Double(abs(r[i])) }
            let reference = gamma(n) * (Double(sums[i]) * (1 + gamma(n)) + others)
            return reference + gamma(k) * (winograd[i] + others) * (1 + 1e-9) + 1e-38
        }
    }

    static func winogradMatrices(_ m: Int) -> WinogradMatrices {
        let n = m + 2
        var bt = [Double](repeating: 0, count: n * n), g = [Double](repeating: 0, count: n * 3)
        var at = [Double](repeating: 0, count: m * n)
        ckf_winograd_matrices(Int32(m), &bt, &g, &at)
        return WinogradMatrices(m: m, bt: bt, g: g, at: at)
    }

    /// (6u + 2γ_k² + 2γ_(k⁴+1))·Σ a·|v|, the softmax computed in double.
    private func attentionBound(_ node: Node, heads: Int, window k: Int, shape: ValueShape) -> [Double] {
        let values = referenceValues[node.inputs[0]]!, logits = referenceValues[node.inputs[1]]!
        let weightSums = naiveAbsoluteAttention(heads: heads, window: k, channels: shape.c, height: shape.h,
                                                width: shape.w, values: values, logits: logits)
        let factor = 6 * unitRoundoff + 2 * gamma(k * k) + 2 * gamma(k * k * k * k + 1)
        return weightSums.map { factor * $0 * 1.001 + 1e-38 }
    }
}

/// Σ_i Σ_j a·|v| per output element (the window attention with |v|), in double precision, straight from the definition in docs/architecture.md.
func naiveAbsoluteAttention(heads: Int, window k: Int, channels: Int, height: Int, width: Int,
                            values: [Float], logits: [Float], absolute: Bool = true) -> [Double] {
    let plane = height * width, kk = k * k, half = k / 2, headDim = channels / heads
    let scale = 1.0 / Double(headDim).squareRoot()
    var y = [Double](repeating: 0, count: channels * plane)
    for h in 0..<heads {
        for py in 0..<height {
            for px in 0..<width {
                for i in 0..<kk {
                    let qy = py + i / k - half, qx = px + i % k - half
                    guard qy >= 0, qy < height, qx >= 0, qx < width else { continue }
                    var a = [Double](repeating: 0, count: kk)
                    for j in 0..<kk { a[j] = Double(logits[(h * kk * kk + i * kk + j) * plane + py * width + px]) * scale }
                    let m = a.max()!
                    let e = a.map { Foundation.exp($0 - m) }
                    let sum = e.reduce(0, +)
                    for c in (h * headDim)..<((h + 1) * headDim) {
                        var total = 0.0
                        for j in 0..<kk {
                            let vy = py + j / k - half, vx = px + j % k - half
                            guard vy >= 0, vy < height, vx >= 0, vx < width else { continue }
                            let v = Double(values[c * plane + vy * width + vx])
                            total += e[j] / sum * (absolute ? abs(v) : v)
                        }
                        y[c * plane + qy * width + qx] += total
                    }
                }
            }
        }
    }
    return y
}
