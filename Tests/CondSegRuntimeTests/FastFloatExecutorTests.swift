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
                isa: ckf_isa, winogradTile: Int = 4) throws -> OpByOpChecker {
        XCTAssertEqual(ckf_force_isa(isa), 1)
        let graph = try model.graph(auxiliaryHead: auxiliaryHead)
        let folded = try model.foldedConvolutions(of: graph)
        let checker = OpByOpChecker(graph: graph, folded: folded)
        try checker.runReference(config: model.config, input: input, height: size, width: size)
        let fast = try FastFloatExecutor(graph: graph, folded: folded, config: model.config, threads: threads)
        fast.winogradTile = winogradTile
        fast.prepare(height: size, width: size)
        checker.winogradTiles = fast.winogradConvolutions
        if winogradTile != 0 { XCTAssertFalse(checker.winogradTiles.isEmpty, "some convolution runs by Winograd") }
        let fused = fast.fusedConvolutionIDs
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
                for tile in [0, 4, 6] {   // im2col only, F(4×4, 3×3), F(6×6, 3×3)
                    let checker = try opByOp(model: model, input: input, size: 64, auxiliaryHead: true, threads: threads,
                                             isa: isa, winogradTile: tile)
                    let convolutions = ["conv", "conv+add", "winograd conv", "winograd conv+add"].map { checker.checkedKinds[$0] ?? 0 }
                    XCTAssertGreaterThan(convolutions[1] + convolutions[3], 0, "some convolution is fused into its add")
                    XCTAssertGreaterThan(checker.checkedKinds["windowAttention"] ?? 0, 0)
                    XCTAssertGreaterThan(convolutions.reduce(0, +), 50)
                    if tile != 0 { XCTAssertGreaterThan(convolutions[3], 0, "a Winograd convolution fused into its add") }
                    print("tiny op-by-op isa \(isa.rawValue) threads \(threads) winograd \(tile): \(checker.winogradTiles.count) convolutions by Winograd; checked \(checker.checkedKinds); worst error / bound \(checker.worstRatio)")
                }
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
        let checker = try opByOp(model: model, input: input, size: 256, auxiliaryHead: false, threads: 2, isa: ckf_detected_isa())
        print("default model op-by-op: \(checker.winogradTiles.count) convolutions by Winograd; worst error / bound \(checker.worstRatio)")
        #endif
    }
}
