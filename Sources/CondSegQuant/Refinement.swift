// Refinement.swift — after calibration: (1) per-layer scale search in the manner of ncnn's EQ — for each int8
// tensor try its scale × 0.5 … 1.2 and keep the factor whose int8 convolution outputs (on the float network's
// exact inputs) best match the float outputs by cosine similarity over a few images; (2) mixed precision — while
// the int8 masks of a small subset disagree with the float masks by more than a target (1 − mean Dice), flag the
// tensor whose convolutions have the worst isolated cosine `float`, and record why in the table.

import CondSegCore
import CondSegRuntime
import Foundation

/// Isolated error of the convolutions reading one tensor (int8 on the exact float input vs float).
public struct TensorError: Sendable, Equatable {
    public var name: String
    /// Cosine similarity of the int8 outputs against the float outputs, summed over consumers and images.
    public var cosine: Double
    /// The scale factor chosen (1 without refinement).
    public var factor: Float
}

public enum Refinement {
    /// Scale factors tried by the search.
    public static let factors: [Float] = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2]

    /// Measures (and with `search`, improves) every int8 tensor of `table` on `inputs`. Returns the new table
    /// (scales multiplied by the chosen factors, comments noting them) and the per-tensor errors.
    public static func refine(model: ConDSegModel, table: CalibrationTable, inputs: [[Float]], size: Int, threads: Int,
                              search: Bool, progress: (String) -> Void = { _ in }) throws -> (CalibrationTable, [TensorError]) {
        let graph = try model.graph()
        let folded = try model.foldedConvolutions(of: graph)
        let names = graph.valueNames
        let executor = try ReferenceExecutor(graph: graph, folded: folded, config: model.config, threads: threads)
        var entryIndex: [String: Int] = [:]
        for (i, e) in table.entries.enumerated() { entryIndex[e.name] = i }
        // The int8 convolutions by input tensor, and when each tensor is last read.
        var consumers: [ValueID: [ValueID]] = [:]
        for node in graph.nodes {
            guard case .conv = node.kind, let i = entryIndex[names[node.inputs[0]]],
                  table.entries[i].precision == .int8, graph.nodes[node.inputs[0]].kind != .input else { continue }
            consumers[node.inputs[0], default: []].append(node.id)
        }
        var lastReader: [ValueID: ValueID] = [:]
        for (tensor, convs) in consumers { lastReader[tensor] = convs.max()! }
        let tried = search ? factors : [1]
        var sums: [ValueID: [ErrorSums]] = [:]
        for tensor in consumers.keys { sums[tensor] = [ErrorSums](repeating: ErrorSums(), count: tried.count) }
        var weights: [ValueID: Int8ConvWeights] = [:]
        for convs in consumers.values { for id in convs { weights[id] = Int8ConvWeights(folded: folded[id]!, bits: table.weightBits) } }

        for (n, input) in inputs.enumerated() {
            progress("refine image \(n + 1)/\(inputs.count)")
            var saved: [ValueID: ([Float], ValueShape)] = [:]
            executor.observer = { node, values, shape in
                if consumers[node.id] != nil { saved[node.id] = (Array(UnsafeBufferPointer(start: values, count: shape.count)), shape) }
                guard case .conv(let spec) = node.kind, let (x, xShape) = saved[node.inputs[0]],
                      consumers[node.inputs[0]]?.contains(node.id) == true else { return }
                let tensor = node.inputs[0]
                let base = table.entries[entryIndex[names[tensor]]!].quantization
                for (k, f) in tried.enumerated() {
                    let q = ActivationQuantization(scale: base.scale * f, zeroPoint: base.zeroPoint)
                    let y = Int8Convolutions.convolve(spec: spec, weights: weights[node.id]!, input: q, input: x,
                                                      height: xShape.h, width: xShape.w, threads: threads)
                    y.withUnsafeBufferPointer { sums[tensor]![k].add(float: values, quantized: $0.baseAddress!, count: shape.count) }
                }
                if lastReader[tensor] == node.id { saved[tensor] = nil }
            }
            try executor.run(input: input, height: size, width: size)
            executor.observer = nil
        }

        var refined = table
        var errors: [TensorError] = []
        for tensor in consumers.keys.sorted() {
            let s = sums[tensor]!
            var best = tried.firstIndex(of: 1) ?? 0
            for k in s.indices where s[k].cosine > s[best].cosine + 1e-7 { best = k }
            let name = names[tensor]
            errors.append(TensorError(name: name, cosine: s[best].cosine, factor: tried[best]))
            if search && tried[best] != 1 {
                let i = entryIndex[name]!
                refined.entries[i].quantization.scale *= tried[best]
                refined.entries[i].comment += "; refined x\(tried[best]) (cosine \(String(format: "%.5f", s[tried.firstIndex(of: 1)!].cosine)) -> \(String(format: "%.5f", s[best].cosine)))"
            }
        }
        if search { refined.method += " + refine" }
        return (refined, errors)
    }

    /// Flags tensors `float`, worst isolated cosine first, until 1 − mean Dice(int8 mask, float mask) over
    /// `inputs` is at most `maxDrop` (or nothing is left to flip). Returns the table and the drops measured.
    public static func fallback(model: ConDSegModel, table: CalibrationTable, errors: [TensorError], inputs: [[Float]],
                                size: Int, threads: Int, maxDrop: Double,
                                progress: (String) -> Void = { _ in }) throws -> (CalibrationTable, [Double]) {
        let float = try ReferenceExecutor(model: model, threads: threads)
        let floatProbs = try inputs.map { try float.predict(input: $0, height: size, width: size) }
        var current = table
        var drops: [Double] = []
        var order = errors.sorted { ($0.cosine, $0.name) < ($1.cosine, $1.name) }[...]
        while true {
            // The shipped int8 executor (about 3× faster than the int8 reference here; one candidate table per flip).
            let engine = try FastInt8Executor(model: model, table: current, tableFile: "refined table", threads: threads)
            var total = 0.0
            for (k, input) in inputs.enumerated() {
                total += Comparison.agreement(floatProbs[k], try engine.predict(input: input, height: size, width: size))
            }
            let drop = 1 - total / Double(max(inputs.count, 1))
            drops.append(drop)
            progress("mask Dice drop \(String(format: "%.4f", drop)) with \(current.entries.filter { $0.precision == .float }.count) float tensors")
            guard drop > maxDrop, let worst = order.popFirst(), let i = current.entries.firstIndex(where: { $0.name == worst.name }) else {
                break
            }
            current.entries[i].precision = .float
            current.entries[i].comment += "; float: --max-dice-drop fallback (isolated cosine \(String(format: "%.5f", worst.cosine)), drop was \(String(format: "%.4f", drop)))"
        }
        current.notes.append(("max_dice_drop", "target \(maxDrop), measured \(drops.map { String(format: "%.4f", $0) }.joined(separator: " -> ")) on \(inputs.count) images"))
        return (current, drops)
    }
}
