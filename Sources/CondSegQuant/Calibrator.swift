// Calibrator.swift — runs the float reference over calibration images and collects, for every tensor a
// convolution reads, a histogram of its values (through the executor's observer hook); then turns them into a
// calibration table with a method (minmax, percentile, entropy) and the per-op precision policy below.
//
// Per-op decision (measured on the default model, see calibration/README.md for the numbers):
//   - channel-attention fc1/fc2: float. Their input is 1×1 spatial (pooled vectors), so int8 saves no time, and
//     their output goes through a sigmoid gate that multiplies a whole feature map.
//   - spatial-attention conv1 (7×7, 2→1 channels): float. Tiny (98 MACs per pixel) and its output is a sigmoid gate.
//   - CDFA attn_fg / attn_bg (per-pixel logits of the window attention): float. They feed a softmax, where an
//     absolute error in a logit becomes a relative error in every attention weight of the window.
//   - output_block.c3 (64→1, last layer): float. It feeds the final sigmoid thresholded at 0.5; 64 MACs per pixel.
//   - every other convolution (the encoder, feature enhancement, decoupling, preprocess, CDFA value/projection and
//     CBRs, decoder blocks, output block): int8.
//   - weights: symmetric per output channel, 8 bits (−127…127), 7 (−63…63; `calibrate --weight-bits 7`) or 6
//     (−31…31), which the table records; 7 bits let the AVX2 kernel use vpmaddubsw (twice the multiply-add rate,
//     same exact result), 6 bits let it sum two vpmaddubsw in int16 (three multiplies per 64 multiply-adds, not four).
//   - the image (layer0's input) is pixel × scale, so scale = the model's input scale and zero point 0 represent
//     it exactly; it is never calibrated.

import CondSegCore
import CondSegIO
import CondSegImage
import CondSegRuntime
import Dispatch
import Foundation

/// Which convolutions stay float by default, and why (see the file header).
public enum PrecisionPolicy: String, Sendable, CaseIterable {
    /// The measured default: attention gates, attention logits and the last layer stay float.
    case standard
    /// Every convolution in int8 (for measuring the policy).
    case allInt8 = "all-int8"

    /// The reason a convolution stays float under this policy, or nil when it runs in int8. The decision is by
    /// the node's role (set by the graph builder), not by its name.
    public func floatReason(conv node: Node, graph: Graph) -> String? {
        guard self == .standard, case .conv = node.kind else { return nil }
        switch node.role {
        case .channelGate: return "channel attention fc: 1x1 spatial, nothing to gain; feeds a sigmoid gate"
        case .spatialGate: return "spatial attention 7x7 2->1 conv: feeds a sigmoid gate, negligible compute"
        case .attentionLogits: return "CDFA attention logits: feed a softmax"
        case .maskLogits: return "last conv: feeds the final sigmoid"
        case .body, .encoder, .auxiliaryHead: return nil
        }
    }
}

/// Collects activation statistics of every convolution input over calibration images.
public final class Calibrator {
    public let graph: Graph
    public let names: [String]
    /// Value ids read by some convolution, in graph order.
    public let watched: [ValueID]
    private var isWatched: [Bool]
    /// Histogram per watched value id.
    public private(set) var histograms: [ValueID: ActivationHistogram] = [:]
    /// Image names seen, in order.
    public private(set) var imageNames: [String] = []
    public let binCount: Int

    public init(graph: Graph, binCount: Int = 2048) {
        self.graph = graph
        self.binCount = binCount
        names = graph.valueNames
        var set = Set<ValueID>()
        for node in graph.nodes { if case .conv = node.kind { set.insert(node.inputs[0]) } }
        watched = set.sorted()
        isWatched = [Bool](repeating: false, count: graph.nodes.count)
        for id in watched { isWatched[id] = true }
        for id in watched { histograms[id] = ActivationHistogram(binCount: binCount) }
    }

    /// The observer to install on a ReferenceExecutor (it adds every watched value of each run).
    public func observe(_ node: Node, _ values: UnsafePointer<Float>, _ shape: ValueShape) {
        guard isWatched[node.id] else { return }
        histograms[node.id]!.add(values, count: shape.count)
    }

    /// Runs `executor` (float, no override) on `input` and records the statistics as image `name`.
    public func add(executor: ReferenceExecutor, input: [Float], size: Int, name: String) throws {
        let previous = executor.observer
        executor.observer = { [unowned self] node, values, shape in self.observe(node, values, shape) }
        defer { executor.observer = previous }
        try executor.run(input: input, height: size, width: size)
        imageNames.append(name)
    }

    /// Adds the statistics another calibrator (same graph) collected; exact, so the order of merging does not matter.
    public func merge(_ other: Calibrator) {
        for id in watched { histograms[id]!.merge(other.histograms[id]!) }
        imageNames += other.imageNames
    }

    /// Calibrates over `count` images with `threads` workers, each running its own single-threaded float reference
    /// on whole images (the float reference's results depend on its thread count in the last bits; one thread per
    /// image makes every activation, hence the table, the same whatever `threads` is). `input(i)` loads image i
    /// (called from worker threads) as (planar input, name); `progress` is called once per image, serialised.
    public static func run(model: ConDSegModel, count: Int, threads: Int, size: Int,
                           input: @escaping (Int) throws -> [Float], names: [String],
                           progress: @escaping (Int) -> Void = { _ in }) throws -> Calibrator {
        let workers = max(1, min(threads, count))
        let graph = try model.graph()
        let folded = try model.foldedConvolutions(of: graph)
        let calibrators = (0..<workers).map { _ in Calibrator(graph: graph) }
        let executors = try (0..<workers).map { _ in
            try ReferenceExecutor(graph: graph, folded: folded, config: model.config, threads: 1)
        }
        let lock = NSLock()
        var failure: Error?
        var done = 0
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var i = w
            while i < count {
                lock.lock(); let stop = failure != nil; lock.unlock()
                if stop { return }
                do {
                    let x = try input(i)
                    try calibrators[w].add(executor: executors[w], input: x, size: size, name: names[i])
                    lock.lock(); done += 1; progress(done); lock.unlock()
                } catch {
                    lock.lock(); if failure == nil { failure = error }; lock.unlock()
                    return
                }
                i += workers
            }
        }
        if let failure { throw failure }
        let result = Calibrator(graph: graph)
        for c in calibrators { result.merge(c) }
        result.imageNames = Array(names.prefix(count))
        return result
    }

    /// Writes the statistics as text (hidden `calibrate --save-histograms`): tables for other methods can then be
    /// made with `--from-histograms` without running the network again. Lines: `model <sha256>`, `bins <n>`,
    /// `image <name>` per image, then per tensor `tensor <name> <range> <min> <max> <total> <zeros>` followed by
    /// `<bin>:<count>` pairs of its nonzero bins on one line.
    public func writeHistograms(to path: String, modelSHA256: String) throws {
        var text = "# condseg activation histograms\nmodel \(modelSHA256)\nbins \(binCount)\n"
        for name in imageNames { text += "image \(name)\n" }
        for id in watched {
            let h = histograms[id]!
            text += "tensor \(names[id]) \(h.range) \(h.minimum) \(h.maximum) \(h.total) \(h.zeros)\n"
            text += h.counts.enumerated().filter { $0.element > 0 }.map { "\($0.offset):\($0.element)" }.joined(separator: " ") + "\n"
        }
        try AtomicFile.write(text, to: path)
    }

    /// Reads statistics written by `writeHistograms` for this graph; a file made for another model (other SHA-256)
    /// or missing a tensor is an error naming the file.
    public static func readHistograms(path: String, graph: Graph, modelSHA256: String) throws -> Calibrator {
        struct Bad: Error, CustomStringConvertible { let description: String }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)[...]
        var model = "", bins = 0, images: [String] = []
        var found: [String: ActivationHistogram] = [:]
        while let line = lines.popFirst() {
            let fields = line.split(separator: " ").map(String.init)
            guard let key = fields.first, !key.hasPrefix("#") else { continue }
            switch key {
            case "model" where fields.count == 2: model = fields[1]
            case "bins" where fields.count == 2: bins = Int(fields[1]) ?? 0
            case "image": images.append(String(line.dropFirst(6)))
            case "tensor" where fields.count == 7:
                var counts = [UInt64](repeating: 0, count: bins)
                for pair in (lines.popFirst() ?? "").split(separator: " ") {
                    let parts = pair.split(separator: ":")
                    guard parts.count == 2, let b = Int(parts[0]), let c = UInt64(parts[1]), b >= 0, b < bins else {
                        throw Bad(description: "\(path): bad bin '\(pair)' of tensor \(fields[1])")
                    }
                    counts[b] = c
                }
                guard let range = Float(fields[2]), let lo = Float(fields[3]), let hi = Float(fields[4]),
                      let total = UInt64(fields[5]), let zeros = UInt64(fields[6]),
                      let h = ActivationHistogram(binCount: bins, range: range, minimum: lo, maximum: hi,
                                                  total: total, zeros: zeros, counts: counts) else {
                    throw Bad(description: "\(path): inconsistent histogram of tensor \(fields[1])")
                }
                found[fields[1]] = h
            default: throw Bad(description: "\(path): unexpected line '\(line.prefix(60))'")
            }
        }
        guard model == modelSHA256 else {
            throw Bad(description: "\(path): histograms of model \(model), not of this model \(modelSHA256)")
        }
        let calibrator = Calibrator(graph: graph, binCount: bins)
        for id in calibrator.watched {
            guard let h = found[calibrator.names[id]] else { throw Bad(description: "\(path): no histogram of tensor \(calibrator.names[id])") }
            calibrator.histograms[id] = h
        }
        calibrator.imageNames = images
        return calibrator
    }

    /// The calibration table for `method`: one record per watched tensor. The network input gets the model's
    /// input scale with zero point 0 (exact); tensors read only by convolutions the policy keeps float are flagged
    /// `float`. `weightBits` (8, 7 or 6) is how the int8 convolutions' weights are quantized with the table.
    public func table(method: CalibrationMethod, policy: PrecisionPolicy = .standard, model: ConDSegModel,
                      listFile: String, date: Date = Date(), toolVersion: String, weightBits: Int = 8) -> CalibrationTable {
        var entries: [CalibrationEntry] = []
        for id in watched {
            let node = graph.nodes[id]
            let h = histograms[id]!
            let consumers = graph.nodes.filter { n in
                if case .conv = n.kind { return n.inputs[0] == id } else { return false }
            }
            let reasons = consumers.compactMap { policy.floatReason(conv: $0, graph: graph) }
            let precision: TensorPrecision = reasons.count == consumers.count ? .float : .int8
            var comment = "observed [\(h.minimum), \(h.maximum)]"
            let quantization: ActivationQuantization
            if case .input = node.kind {
                let scale = model.config.scale
                quantization = ActivationQuantization(scale: scale, zeroPoint: 0)
                comment = "image: pixel x \(model.config.scaleText), exact (not calibrated)"
            } else {
                let (lo, hi) = method.range(of: h)
                quantization = ActivationQuantization(low: lo, high: hi)
            }
            if precision == .float, let first = reasons.first { comment += "; float: \(first)" }
            entries.append(CalibrationEntry(name: names[id], quantization: quantization, precision: precision, comment: comment))
        }
        let formatter = ISO8601DateFormatter()
        var notes: [(String, String)] = [("policy", policy.rawValue), ("bins", String(binCount))]
        notes.append(("model", URL(fileURLWithPath: model.path).lastPathComponent))
        return CalibrationTable(toolVersion: toolVersion, modelSHA256: model.sha256, method: method.description,
                                imageNames: imageNames, listFile: listFile, date: formatter.string(from: date),
                                entries: entries, notes: notes, weightBits: weightBits)
    }
}
