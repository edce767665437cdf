// FastFloatExecutorTests.swift — the optimised float executor against the float reference (the oracle), op by op:
// every step of the fast executor runs on the reference's own inputs (the test overwrites each step's output with
// the reference's value after comparing), so each comparison measures one operator's error alone, against a bound
// derived from its arithmetic:
//   • convolution (+ fused residual adds): both results are float sums of n = K + 1 + residuals terms, each within
//     γ_n = n·u/(1 − n·u) (u = 2⁻²⁴) of the exact value relative to Σ|terms| = (|W| ⊛ |x|) + |b| + Σ|r|, so they
//     differ by at most 2·γ_n·Σ|terms|; ReLU does not increase a difference;
//   • window attention: y = Σ a·v over k⁴ slots; the two softmaxes differ only by exp (glibc expf vs a polynomial:
//     ≤ 4 ulp apart), then a sum of k² and one division (γ_k² + u each side), so |Δa| ≤ (6u + 2γ_k²)·a, and the
//     products and k⁴-term sums add 2·γ_(k⁴+1): |Δy| ≤ (6u + 2γ_k² + 2γ_(k⁴+1))·Σ a·|v| (computed in double here);
//   • sigmoid: exp values ≤ 4 ulp apart, then one add and one division each side: |Δy| ≤ 8u·|y| (+1e-37 where the
//     polynomial's clamp at −88 meets expf's overflow);
//   • everything else (add, mul, concat, pools, upsampling) performs the reference's float operations in the same
//     order: identical bits are required.
// With the portable C kernels forced, the window attention and the sigmoid must be bit-identical as well.

import CKernels
import CondSegCore
import CondSegImage
import CondSegRuntime
import CondSegTestSupport
import Foundation
import XCTest

private let unitRoundoff = pow(2.0, -24.0)
private func gamma(_ n: Int) -> Double { Double(n) * unitRoundoff / (1 - Double(n) * unitRoundoff) }

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
            kind = "conv"
            bound = convBound(node, residuals: [])
        case .add where fusedConv != nil:
            kind = "conv+add"
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

    /// 2·γ_n·((|W| ⊛ |x|) + |b| + Σ|r|), n = K + 1 + residuals.
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
        return (0..<out.count).map { i in
            var total = Double(sums[i]) * (1 + gamma(n)) + Double(abs(f.bias[i / out.plane]))
            for r in residualValues { total += Double(abs(r[i])) }
            return 2 * gamma(n) * total + 1e-38
        }
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

/// Σ_i Σ_j a·|v| per output element (the window attention with |v|), in double precision, straight from the spec.
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

final class FastFloatExecutorTests: XCTestCase {
    override func tearDown() {
        _ = ckf_force_isa(ckf_detected_isa())
        super.tearDown()
    }

    private func tinyModel() throws -> (ConDSegModel, [Float]) {
        let model = try ConDSegModel.load(path: fixturePath("reference/tiny-weights.safetensors"))
        let golden = try SafeTensorsFile(path: fixturePath("reference/tiny-forward.safetensors"))
        return (model, try golden.floats("input_bgr"))
    }

    /// Every kernel set this machine can run: the portable one always, AVX2 where the CPU has it.
    private var kernelSets: [ckf_isa] {
        ckf_detected_isa() == CKF_ISA_AVX2 ? [CKF_ISA_GENERIC, CKF_ISA_AVX2] : [CKF_ISA_GENERIC]
    }

    func opByOp(model: ConDSegModel, input: [Float], size: Int, auxiliaryHead: Bool, threads: Int,
                isa: ckf_isa) throws -> OpByOpChecker {
        XCTAssertEqual(ckf_force_isa(isa), 1)
        let graph = try model.graph(auxiliaryHead: auxiliaryHead)
        let folded = try model.foldedConvolutions(of: graph)
        let checker = OpByOpChecker(graph: graph, folded: folded)
        try checker.runReference(config: model.config, input: input, height: size, width: size)
        let fast = try FastFloatExecutor(graph: graph, folded: folded, config: model.config, threads: threads)
        fast.prepare(height: size, width: size)
        let fused = fast.fusedConvolutions
        var fusedByAdd: [ValueID: ValueID] = [:]
        for conv in fused {
            if let add = graph.nodes.first(where: { $0.inputs.first == conv }) { fusedByAdd[add.id] = conv }
        }
        var seen = Set<ValueID>()
        fast.stepObserver = { node, pointer, _ in
            seen.insert(node.id)
            checker.check(node: node, actual: pointer, fusedConv: fusedByAdd[node.id],
                          exactTranscendentals: isa == CKF_ISA_GENERIC)
        }
        try fast.run(input: input, height: size, width: size)
        // Every node the reference ran was checked, except the fused convolutions (checked through their add).
        let missing = Set(checker.referenceValues.keys).subtracting(seen).subtracting(fused)
        XCTAssertTrue(missing.isEmpty, "steps never checked: \(missing.map { graph.nodes[$0].name })")
        XCTAssertTrue(checker.failures.isEmpty, checker.failures.prefix(10).joined(separator: "\n"))
        return checker
    }

    func testTinyModelOpByOpEveryKernelSetAndThreadCount() throws {
        let (model, input) = try tinyModel()
        for isa in kernelSets {
            for threads in [1, 2] {
                let checker = try opByOp(model: model, input: input, size: 64, auxiliaryHead: true, threads: threads, isa: isa)
                XCTAssertGreaterThan(checker.checkedKinds["conv+add"] ?? 0, 0, "some convolution is fused into its add")
                XCTAssertGreaterThan(checker.checkedKinds["windowAttention"] ?? 0, 0)
                XCTAssertGreaterThan(checker.checkedKinds["conv"] ?? 0, 50)
                print("tiny op-by-op isa \(isa.rawValue) threads \(threads): checked \(checker.checkedKinds); worst error / bound \(checker.worstRatio)")
            }
        }
    }

    func testTinyModelWholeNetworkMatchesReferenceAndPyTorch() throws {
        let (model, input) = try tinyModel()
        let golden = try SafeTensorsFile(path: fixturePath("reference/tiny-forward.safetensors"))
        let reference = try ReferenceExecutor(model: model, threads: 2, auxiliaryHead: true, keepTaps: true)
        try reference.run(input: input, height: 64, width: 64)
        for isa in kernelSets {
            XCTAssertEqual(ckf_force_isa(isa), 1)
            for threads in [1, 2] {
                let fast = try FastFloatExecutor(model: model, threads: threads, auxiliaryHead: true, keepTaps: true)
                for _ in 0..<2 { try fast.run(input: input, height: 64, width: 64) }   // second run reuses the plan
                for name in ["mask", "mask_fg", "mask_bg", "mask_uc"] {
                    // Probabilities: the per-op differences above (a few ulp relative) accumulate over ~60 layers;
                    // 1e-4 absolute is the tolerance the reference itself meets against PyTorch.
                    let (diff, _) = maxAbsDiff(fast.output(name), reference.output(name))
                    XCTAssertLessThan(diff, 1e-4, "\(name) vs reference (isa \(isa.rawValue), threads \(threads))")
                    let (toPyTorch, _) = maxAbsDiff(fast.output(name), try golden.floats(name))
                    XCTAssertLessThan(toPyTorch, 1e-4, "\(name) vs PyTorch")
                }
                for (name, id) in reference.graph.taps {
                    let (diff, magnitude) = maxAbsDiff(fast.value(id), reference.value(id))
                    XCTAssertLessThan(diff, 1e-3 * max(magnitude, 1e-6), "\(name): \(diff) of \(magnitude)")
                }
            }
        }
    }

    func testPlanFusesAddsAndConcatenatesInPlace() throws {
        let (model, input) = try tinyModel()
        let fast = try FastFloatExecutor(model: model, threads: 1)
        let reference = try ReferenceExecutor(model: model, threads: 1)
        try fast.run(input: input, height: 64, width: 64)
        try reference.run(input: input, height: 64, width: 64)
        // Residual convolutions of the encoder and the decoder blocks' c2/c3/c4 are fused.
        let fusedNames = Set(fast.fusedConvolutions.map { fast.graph.nodes[$0].name })
        XCTAssertTrue(fusedNames.contains("layer1.1.0.conv2"), "\(fusedNames)")
        XCTAssertTrue(fusedNames.contains("decoder_small.c4"), "\(fusedNames)")
        // Fusion and in-place concatenation leave less to store than the reference's plan.
        XCTAssertLessThan(fast.plannedBytes, reference.plannedBytes)
    }

    func testRejectsBadInputSizes() throws {
        let (model, _) = try tinyModel()
        let fast = try FastFloatExecutor(model: model, threads: 1)
        XCTAssertThrowsError(try fast.run(input: [Float](repeating: 0, count: 3 * 60 * 60), height: 60, width: 60))
        XCTAssertThrowsError(try fast.run(input: [Float](repeating: 0, count: 10), height: 64, width: 64))
    }

    /// The shipped model on one real validation image: op by op (release builds only: the reference's debug loops
    /// are slow) and the probabilities against the reference.
    func testDefaultModelOneImage() throws {
        let model = try ConDSegModel.load(path: repositoryRoot.appendingPathComponent("models/condseg-r18w64-kvasir.safetensors").path)
        let image = try ImageCodec.decodeRGB(path: fixturePath("reference/kvasir/cju0s690hkp960855tjuaqvv0.jpg"))
        let fast = try FastFloatExecutor(model: model, threads: 2)
        let segmenter = Segmenter(engine: fast)
        let input = segmenter.modelInput(image)
        let probabilities = try fast.predict(input: input, height: 256, width: 256)
        let reference = try ReferenceExecutor(model: model, threads: 2).predict(input: input, height: 256, width: 256)
        let (diff, _) = maxAbsDiff(probabilities, reference)
        XCTAssertLessThan(diff, 1e-4, "default model probabilities vs reference")
        XCTAssertEqual(zip(probabilities, reference).filter { ($0 > 0.5) != ($1 > 0.5) }.count, 0, "mask pixels flipped")
        #if !DEBUG
        _ = try opByOp(model: model, input: input, size: 256, auxiliaryHead: false, threads: 2, isa: ckf_detected_isa())
        #endif
    }
}

final class FastFloatKernelTests: XCTestCase {
    override func tearDown() {
        _ = ckf_force_isa(ckf_detected_isa())
        super.tearDown()
    }

    private struct Generator {
        var state: UInt64
        mutating func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2_000_001 - 1_000_000) / 1_000_000
        }
    }

    private func attention(_ args: ckf_attention_args, splitAt split: Int?) -> [Float] {
        var args = args
        var scratch = [Float](repeating: .nan, count: ckf_window_attention_scratch(&args))
        let output = UnsafeMutablePointer<Float>.allocate(capacity: Int(args.channels * args.height * args.width))
        defer { output.deallocate() }
        output.initialize(repeating: .nan, count: Int(args.channels * args.height * args.width))
        args.output = output
        if let split {
            XCTAssertEqual(ckf_window_attention(&args, 0, Int32(split), &scratch), 0)
            XCTAssertEqual(ckf_window_attention(&args, Int32(split), args.height, &scratch), 0)
        } else {
            XCTAssertEqual(ckf_window_attention(&args, 0, args.height, &scratch), 0)
        }
        return Array(UnsafeBufferPointer(start: output, count: Int(args.channels * args.height * args.width)))
    }

    /// Many shapes, including images narrower than the vector width and than the window: the portable kernels equal
    /// the reference bit for bit; AVX2 stays within the derived bound of the double-precision result; splitting rows
    /// changes nothing.
    func testWindowAttentionAgainstReferenceAndDouble() throws {
        var generator = Generator(state: 7)
        let shapes: [(heads: Int, headDim: Int, h: Int, w: Int, k: Int)] = [
            (1, 1, 1, 1, 3), (2, 3, 3, 5, 3), (4, 4, 4, 4, 3), (1, 5, 7, 13, 3), (2, 4, 16, 20, 3), (1, 8, 11, 37, 3),
            (1, 2, 9, 23, 5),
        ]
        for shape in shapes {
            let channels = shape.heads * shape.headDim, plane = shape.h * shape.w, kk = shape.k * shape.k
            let values = (0..<(channels * plane)).map { _ in generator.next() * 3 }
            let logits = (0..<(shape.heads * kk * kk * plane)).map { _ in generator.next() * 12 }
            var expected = [Float](repeating: 0, count: channels * plane)
            var weights = [Float](repeating: 0, count: kk * kk * plane)
            ReferenceOps.windowAttention(heads: shape.heads, window: shape.k, channels: channels, height: shape.h,
                                         width: shape.w, values: values, logits: logits, output: &expected,
                                         weights: &weights, threads: 1)
            let exact = naiveAbsoluteAttention(heads: shape.heads, window: shape.k, channels: channels, height: shape.h,
                                               width: shape.w, values: values, logits: logits, absolute: false)
            let absolute = naiveAbsoluteAttention(heads: shape.heads, window: shape.k, channels: channels,
                                                  height: shape.h, width: shape.w, values: values, logits: logits)
            values.withUnsafeBufferPointer { v in
                logits.withUnsafeBufferPointer { l in
                    var args = ckf_attention_args()
                    args.heads = Int32(shape.heads); args.window = Int32(shape.k); args.channels = Int32(channels)
                    args.height = Int32(shape.h); args.width = Int32(shape.w)
                    args.values = v.baseAddress; args.logits = l.baseAddress
                    args.scale = Float(1.0 / Double(shape.headDim).squareRoot())
                    for isa in [CKF_ISA_GENERIC, CKF_ISA_AVX2] where ckf_force_isa(isa) == 1 {
                        let whole = attention(args, splitAt: nil)
                        let split = attention(args, splitAt: shape.h / 2)
                        XCTAssertEqual(whole, split, "row split changes the result (\(shape), isa \(isa.rawValue))")
                        if isa == CKF_ISA_GENERIC {
                            XCTAssertEqual(whole, expected, "portable attention differs from the reference (\(shape))")
                        }
                        // Within its softmax error and γ_(k⁴+1) of the exact value. Softmax: exp ≤ 4 ulp, plus the
                        // rounding of t = l·scale and t − m (≤ |t|·u and |t − m|·u ≤ 2·tmax·u in the exponent, twice
                        // through the normalisation), a k²-term sum and a division.
                        let tmax = 12 * Double(args.scale)
                        let factor = (8 + 6 * tmax) * unitRoundoff + 2 * gamma(kk) + gamma(kk * kk + 1)
                        for i in 0..<whole.count where abs(Double(whole[i]) - exact[i]) > factor * absolute[i] + 1e-30 {
                            XCTFail("\(shape) isa \(isa.rawValue) element \(i): \(whole[i]) vs exact \(exact[i]), bound \(factor * absolute[i])")
                            break
                        }
                    }
                }
            }
        }
        var bad = ckf_attention_args()
        bad.heads = 3; bad.window = 3; bad.channels = 4; bad.height = 2; bad.width = 2
        var scratch = [Float](repeating: 0, count: 16)
        XCTAssertEqual(ckf_window_attention(&bad, 0, 2, &scratch), -1, "channels not divisible by heads are refused")
    }

    func testSigmoidWithinFourUlpOfDouble() {
        let inputs: [Float] = [0, -0.0, 1e-8, -1e-8, 0.5, -0.5, 3, -3, 10, -10, 17, -17, 30, -30, 87, -87, 88.5, -88.5,
                               100, -100, 1e30, -1e30, 1, 2, 4, 8, 16] + (0..<93).map { Float($0) * 0.37 - 17 }
        var output = [Float](repeating: .nan, count: inputs.count)
        for isa in [CKF_ISA_GENERIC, CKF_ISA_AVX2] where ckf_force_isa(isa) == 1 {
            ckf_sigmoid(inputs, &output, inputs.count)
            for (x, y) in zip(inputs, output) {
                let exact = 1 / (1 + Foundation.exp(-Double(x)))
                XCTAssertLessThanOrEqual(abs(Double(y) - exact), 6 * unitRoundoff * exact + 1e-37,
                                         "sigmoid(\(x)) = \(y), exact \(exact) (isa \(isa.rawValue))")
            }
        }
    }

    /// The float im2col copies exactly what the reference's does, for strides, dilations and oversized padding.
    func testIm2colEqualsReference() {
        var generator = Generator(state: 3)
        let cases: [(k: Int, s: Int, p: Int, d: Int, h: Int, w: Int)] = [
            (3, 1, 1, 1, 5, 7), (3, 2, 1, 1, 8, 8), (7, 2, 3, 1, 16, 16), (3, 1, 6, 6, 8, 8), (3, 1, 18, 18, 4, 4),
            (1, 2, 0, 1, 8, 6),
        ]
        for c in cases {
            let spec = ConvSpec(weight: "w", inChannels: 3, outChannels: 1, kernel: c.k, stride: c.s, padding: c.p,
                                dilation: c.d)
            let outH = spec.outputSize(c.h), outW = spec.outputSize(c.w)
            let x = (0..<(3 * c.h * c.w)).map { _ in generator.next() }
            for (rowBegin, rows) in [(0, outH), (1, max(1, outH - 2))] where rowBegin + rows <= outH {
                let count = 3 * c.k * c.k * rows * outW
                var expected = [Float](repeating: .nan, count: count), actual = expected
                ReferenceOps.im2col(spec, input: x, inH: c.h, inW: c.w, outW: outW, rowBegin: rowBegin, rows: rows,
                                    columns: &expected, threads: 1)
                ckf_im2col(x, Int32(c.h), Int32(c.w), Int32(c.k), Int32(c.s), Int32(c.p), Int32(c.d), Int32(outW),
                           Int32(rowBegin), Int32(rows), 0, 2, &actual, rows * outW)
                ckf_im2col(x, Int32(c.h), Int32(c.w), Int32(c.k), Int32(c.s), Int32(c.p), Int32(c.d), Int32(outW),
                           Int32(rowBegin), Int32(rows), 2, 3, &actual, rows * outW)
                XCTAssertEqual(actual, expected, "im2col \(c) rows \(rowBegin)+\(rows)")
            }
        }
    }

    /// The fused epilogue gives the bits of the reference's separate passes: bias (+ReLU), then add, then ReLU.
    func testConvEpilogueEqualsSeparatePasses() {
        var generator = Generator(state: 11)
        let channels = 5, plane = 37
        let bias = (0..<channels).map { _ in generator.next() }
        let r0 = (0..<(channels * plane)).map { _ in generator.next() }, r1 = r0.map { $0 * 0.3 + 0.1 }
        for isa in [CKF_ISA_GENERIC, CKF_ISA_AVX2] where ckf_force_isa(isa) == 1 {
            for relu in [false, true] {
                let y0 = (0..<(channels * plane)).map { _ in generator.next() }
                var expected = y0
                for i in 0..<expected.count {
                    expected[i] = ((expected[i] + bias[i / plane]) + r0[i]) + r1[i]
                    if relu { expected[i] = max(expected[i], 0) }
                }
                var actual = y0
                r0.withUnsafeBufferPointer { a in
                    r1.withUnsafeBufferPointer { b in
                        var table: [UnsafePointer<Float>?] = [a.baseAddress, b.baseAddress]
                        // Two column ranges, as the chunked convolution calls it.
                        ckf_conv_epilogue(&actual, plane, Int32(channels), 0, 20, bias, &table, 2, relu ? 1 : 0)
                        ckf_conv_epilogue(&actual, plane, Int32(channels), 20, Int(plane - 20), bias, &table, 2, relu ? 1 : 0)
                    }
                }
                XCTAssertEqual(actual, expected, "epilogue isa \(isa.rawValue) relu \(relu)")
            }
        }
    }
}
