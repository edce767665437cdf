// Comparison.swift — float vs int8 on the same images: accuracy of each against ground truth, agreement (Dice of
// the int8 mask against the float mask), the worst images, and per-layer error (cosine similarity and SQNR of
// every int8 convolution's output against the float network's, accumulated through the network as in MNN's
// debug mode or ONNX Runtime's qdq_loss_debug). `condseg compare` and the calibrator's fallback search use it.

import CondSegCore
import CondSegIO
import CondSegImage
import CondSegRuntime
import Foundation

/// Error of one layer's output, int8 network against float network, summed over the measured images.
public struct LayerError: Sendable, Equatable {
    /// The layer's value name (`Graph.valueNames`).
    public var name: String
    public var node: ValueID
    /// Σ f·q / (‖f‖·‖q‖) over all elements of all measured images (1 when both are zero).
    public var cosine: Double
    /// 10·log10(Σ f² / Σ (f − q)²), in dB (infinite when identical).
    public var sqnrDB: Double
}

/// Accumulates cosine and SQNR sums for a pair of tensors.
struct ErrorSums {
    var dot = 0.0, ff = 0.0, qq = 0.0, ee = 0.0

    mutating func add(float f: UnsafePointer<Float>, quantized q: UnsafePointer<Float>, count: Int) {
        var d = 0.0, a = 0.0, b = 0.0, e = 0.0
        for i in 0..<count {
            let x = Double(f[i]), y = Double(q[i])
            d += x * y; a += x * x; b += y * y; e += (x - y) * (x - y)
        }
        dot += d; ff += a; qq += b; ee += e
    }

    var cosine: Double {
        if ff == 0 && qq == 0 { return 1 }
        guard ff > 0, qq > 0 else { return 0 }
        return dot / (ff.squareRoot() * qq.squareRoot())
    }

    var sqnrDB: Double {
        if ee == 0 { return .infinity }
        return 10 * log10(ff / ee)
    }
}

public enum LayerComparison {
    /// Per-layer error of every int8 convolution of `int8` against the float network `float`, over `inputs`
    /// (planar model inputs of `size`×`size`). Both executors must be for the same graph.
    public static func measure(float: ReferenceExecutor, int8: Int8ReferenceExecutor, inputs: [[Float]], size: Int) throws -> [LayerError] {
        let graph = float.graph
        let names = graph.valueNames
        let layers = int8.convolutions.int8NodeIDs
        var wanted = [Bool](repeating: false, count: graph.nodes.count)
        for id in layers { wanted[id] = true }
        var sums = [ErrorSums](repeating: ErrorSums(), count: graph.nodes.count)
        let previousFloat = float.observer, previousInt8 = int8.executor.observer
        defer { float.observer = previousFloat; int8.executor.observer = previousInt8 }
        for input in inputs {
            var reference: [ValueID: [Float]] = [:]
            float.observer = { node, values, shape in
                if wanted[node.id] { reference[node.id] = Array(UnsafeBufferPointer(start: values, count: shape.count)) }
            }
            try float.run(input: input, height: size, width: size)
            int8.executor.observer = { node, values, shape in
                guard wanted[node.id], let f = reference[node.id] else { return }
                f.withUnsafeBufferPointer { sums[node.id].add(float: $0.baseAddress!, quantized: values, count: shape.count) }
            }
            try int8.executor.run(input: input, height: size, width: size)
        }
        return layers.map { LayerError(name: names[$0], node: $0, cosine: sums[$0].cosine, sqnrDB: sums[$0].sqnrDB) }
    }
}

/// One image of a comparison.
public struct ImageComparison: Sendable {
    public var name: String
    public var imagePath: String
    public var maskPath: String?
    /// Scores against ground truth (nil without a mask).
    public var float: SegmentationScores?
    public var int8: SegmentationScores?
    /// Dice of the int8 mask against the float mask (1 when both are empty).
    public var agreement: Double
}

/// Everything `condseg compare` reports.
public struct ComparisonResult: Sendable {
    public var images: [ImageComparison]
    public var layers: [LayerError]
    /// Probabilities at model resolution of the worst images (for the report), by name: (float, int8).
    public var worstProbabilities: [String: ([Float], [Float])]
    public var worstCount: Int

    public var hasGroundTruth: Bool { !images.isEmpty && images.allSatisfy { $0.float != nil } }
    public var floatMean: SegmentationScores? { hasGroundTruth ? SegmentationScores.mean(images.map { $0.float! }) : nil }
    public var int8Mean: SegmentationScores? { hasGroundTruth ? SegmentationScores.mean(images.map { $0.int8! }) : nil }
    public var agreement: Double { images.isEmpty ? 0 : images.map(\.agreement).reduce(0, +) / Double(images.count) }
    /// Images by increasing agreement (ties by name), the first `worstCount`.
    public var worst: [ImageComparison] {
        Array(images.sorted { ($0.agreement, $0.name) < ($1.agreement, $1.name) }.prefix(worstCount))
    }
}

public enum Comparison {
    /// Dice of `b` against `a` as masks (> 0.5), 1 when both are empty.
    public static func agreement(_ a: [Float], _ b: [Float]) -> Double {
        SegmentationScores(prediction: b.map { $0 > 0.5 }, truth: a.map { $0 > 0.5 }).dice
    }

    /// Float probabilities of one image, from `floatCache` when it has them (then stored there).
    static func floatProbabilities(float: ReferenceExecutor, input: [Float], size: Int, name: String,
                                   modelSHA256: String, floatCache: String?) throws -> [Float] {
        let cachePath = floatCache.map { "\($0)/\(modelSHA256.prefix(16))-\(size)/\(name).npy" }
        if let cachePath, let cached = try? NPY.read(path: cachePath), cached.values.count == size * size {
            return cached.values
        }
        let probabilities = try float.predict(input: input, height: size, width: size)
        if let cachePath {
            let folder = URL(fileURLWithPath: cachePath).deletingLastPathComponent().path
            try? AtomicFile.makeFolder(folder)
            try? AtomicFile.write(try NPY.encode(probabilities, shape: [size, size]), to: cachePath)
        }
        return probabilities
    }

    /// Only the float side: fills `floatCache` and returns the scores against ground truth (items with masks).
    public static func floatPass(float: ReferenceExecutor, modelSHA256: String, items: [DatasetItem],
                                 floatCache: String) throws -> [SegmentationScores] {
        let segmenter = Segmenter(engine: float)
        var scores: [SegmentationScores] = []
        for item in items {
            let input = segmenter.modelInput(try ImageCodec.decodeRGB(path: item.imagePath))
            let p = try floatProbabilities(float: float, input: input, size: segmenter.size, name: item.name,
                                           modelSHA256: modelSHA256, floatCache: floatCache)
            if let mask = item.maskPath {
                scores.append(Evaluation.scores(probabilities: p, truth: try Evaluation.groundTruth(maskPath: mask, size: segmenter.size)))
            }
        }
        return scores
    }

    /// Runs float and int8 on every item. `layerImages` of them (the first) also get the per-layer measurement.
    /// `floatCache`, if given, is a folder where float probabilities are kept as NAME.npy per model SHA-256, so
    /// comparing several tables on the same images runs the float network once.
    /// `int8` runs the images (the executor being shipped: `FastInt8Executor`, or the int8 reference); the per-layer
    /// table needs the int8 reference's per-convolution outputs, so it comes from `layers` (default: `int8` when it
    /// is the int8 reference).
    public static func run(float: ReferenceExecutor, int8: InferenceEngine, layers layerEngine: Int8ReferenceExecutor? = nil,
                           modelSHA256: String, items: [DatasetItem],
                           layerImages: Int = 3, worstCount: Int = 6, floatCache: String? = nil,
                           progress: (Int, Int) -> Void = { _, _ in }) throws -> ComparisonResult {
        guard let layerEngine = layerEngine ?? (int8 as? Int8ReferenceExecutor) else {
            preconditionFailure("Comparison.run needs the int8 reference engine for the per-layer table")
        }
        let segmenter = Segmenter(engine: float)
        let size = segmenter.size
        var images: [ImageComparison] = []
        var probabilities: [String: ([Float], [Float])] = [:]
        var layerInputs: [[Float]] = []
        for (index, item) in items.enumerated() {
            let image = try ImageCodec.decodeRGB(path: item.imagePath)
            let input = segmenter.modelInput(image)
            let floatProbs = try floatProbabilities(float: float, input: input, size: size, name: item.name,
                                                    modelSHA256: modelSHA256, floatCache: floatCache)
            let int8Probs = try int8.predict(input: input, height: size, width: size)
            var entry = ImageComparison(name: item.name, imagePath: item.imagePath, maskPath: item.maskPath,
                                        float: nil, int8: nil, agreement: agreement(floatProbs, int8Probs))
            if let maskPath = item.maskPath {
                let truth = try Evaluation.groundTruth(maskPath: maskPath, size: size)
                entry.float = Evaluation.scores(probabilities: floatProbs, truth: truth)
                entry.int8 = Evaluation.scores(probabilities: int8Probs, truth: truth)
            }
            images.append(entry)
            probabilities[item.name] = (floatProbs, int8Probs)
            // Keep only the current worst candidates' probabilities.
            if probabilities.count > worstCount * 2 {
                let keep = Set(images.sorted { ($0.agreement, $0.name) < ($1.agreement, $1.name) }.prefix(worstCount).map(\.name))
                probabilities = probabilities.filter { keep.contains($0.key) }
            }
            if index < layerImages { layerInputs.append(input) }
            progress(index + 1, items.count)
        }
        let layers = try LayerComparison.measure(float: float, int8: layerEngine, inputs: layerInputs, size: size)
        var result = ComparisonResult(images: images, layers: layers, worstProbabilities: [:], worstCount: worstCount)
        for w in result.worst { result.worstProbabilities[w.name] = probabilities[w.name] }
        return result
    }
}

/// The pass/fail rules of `condseg compare`.
public struct ComparisonThresholds: Sendable {
    /// Largest allowed float mDSC − int8 mDSC (with ground truth; else 1 − agreement).
    public var maxDiceDrop: Double?
    /// Smallest allowed mean Dice(int8 mask, float mask).
    public var minAgreement: Double?

    public init(maxDiceDrop: Double? = nil, minAgreement: Double? = nil) {
        self.maxDiceDrop = maxDiceDrop
        self.minAgreement = minAgreement
    }

    /// The Dice drop the thresholds compare: float mDSC − int8 mDSC with ground truth, else 1 − agreement.
    public static func drop(_ result: ComparisonResult) -> Double {
        if let f = result.floatMean, let q = result.int8Mean { return f.dice - q.dice }
        return 1 - result.agreement
    }

    /// (the thresholds as text, the broken ones as text); the run passes when the second is empty.
    public func check(_ result: ComparisonResult) -> (thresholds: [String], failures: [String]) {
        var thresholds: [String] = [], failures: [String] = []
        let drop = ComparisonThresholds.drop(result)
        let what = result.hasGroundTruth ? "mDSC drop" : "1 - agreement"
        if let maxDiceDrop {
            thresholds.append("\(what) \(String(format: "%.4f", drop)) <= \(maxDiceDrop)")
            if drop > maxDiceDrop { failures.append("\(what) \(String(format: "%.4f", drop)) > \(maxDiceDrop)") }
        }
        if let minAgreement {
            thresholds.append("agreement \(String(format: "%.4f", result.agreement)) >= \(minAgreement)")
            if result.agreement < minAgreement { failures.append("agreement \(String(format: "%.4f", result.agreement)) < \(minAgreement)") }
        }
        return (thresholds, failures)
    }
}
