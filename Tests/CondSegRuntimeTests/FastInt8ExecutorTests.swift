// FastInt8ExecutorTests.swift — the fast int8 executor (NHWC, uint8 between int8 layers) against its two oracles, op by
// op: every step runs on the oracle's own inputs (the test overwrites each step's float and uint8 buffers with the
// oracle's value after comparing), so each comparison measures one operator alone.
//   • With every tensor flagged float, the executor is a float NHWC executor: each step against the float
//     reference, with the bounds of FastFloatExecutorTests (γ_n for convolutions, exp bounds for sigmoid and the
//     window attention, identical bits for every other op).
//   • With a real table, against the int8 reference (Int8ReferenceExecutor: the float reference with the exact int8
//     convolutions plugged in). An int8 convolution is exact integer arithmetic followed by the same float
//     epilogue, and an add fused into it with one other operand performs the reference add's single float
//     addition, so both must be identical bits (float and uint8). An add with several other operands sums them
//     in another order: within 2·γ_n·Σ|terms| (n = operands), and its uint8 within one step. Float-fallback
//     convolutions: γ_n as above; their uint8 within one step.
// Also: outputs bit-identical for 1, 2 and 3 threads and for every int8 kernel and float kernel set this machine
// runs, and every node is checked. (The quantized model file: QuantizedModelFileTests.swift.)

import CKernels
import CondSegCore
import CondSegImage
import CondSegQuant
import CondSegRuntime
import CondSegTestSupport
import Foundation
import XCTest

private func nchw(_ x: UnsafePointer<Float>, _ shape: ValueShape) -> [Float] {
    var out = [Float](repeating: 0, count: shape.count)
    for p in 0..<shape.plane { for c in 0..<shape.c { out[c * shape.plane + p] = x[p * shape.c + c] } }
    return out
}

private func storeNHWC(_ values: [Float], _ y: UnsafeMutablePointer<Float>, _ shape: ValueShape) {
    for p in 0..<shape.plane { for c in 0..<shape.c { y[p * shape.c + c] = values[c * shape.plane + p] } }
}

final class FastInt8ExecutorTests: XCTestCase {
    override func tearDown() {
        _ = ck_force_isa(ck_detected_isa())
        _ = ckf_force_isa(ckf_detected_isa())
        super.tearDown()
    }

    private func tinyModelAndInput() throws -> (ConDSegModel, [Float]) {
        let model = try ConDSegModel.load(path: fixturePath("reference/tiny-weights.safetensors"))
        let golden = try SafeTensorsFile(path: fixturePath("reference/tiny-forward.safetensors"))
        return (model, try golden.floats("input_bgr"))
    }

    /// A table of `model` calibrated here (min/max over `inputs`).
    private func calibrate(_ model: ConDSegModel, _ inputs: [[Float]], size: Int) throws -> CalibrationTable {
        let calibrator = try Calibrator.run(model: model, count: inputs.count, threads: 2, size: size,
                                            input: { inputs[$0] }, names: (0..<inputs.count).map { "image\($0)" })
        return calibrator.table(method: .minmax, policy: .standard, model: model, listFile: "test",
                                date: Date(timeIntervalSince1970: 1_800_000_000), toolVersion: "test")
    }

    private func allFloat(_ table: CalibrationTable) throws -> CalibrationTable {
        try CalibrationTable.parse(table.text.replacingOccurrences(of: " int8", with: " float"), file: "all-float")
    }

    // MARK: all-float table: a float NHWC executor, op by op against the float reference

    private func floatOpByOp(model: ConDSegModel, table: CalibrationTable, input: [Float], size: Int,
                             threads: Int) throws {
        let graph = try model.graph()
        let folded = try model.foldedConvolutions(of: graph)
        let checker = OpByOpChecker(graph: graph, folded: folded)
        try checker.runReference(config: model.config, input: input, height: size, width: size)
        let executor = try FastInt8Executor(graph: graph, folded: folded, config: model.config, table: table,
                                        tableFile: "all-float", threads: threads)
        XCTAssertTrue(executor.int8NodeIDs.isEmpty)
        executor.prepare(height: size, width: size)
        let fused = executor.fusedConvolutionIDs
        XCTAssertFalse(fused.isEmpty, "no convolution was fused into its add")
        var fusedByAdd: [ValueID: ValueID] = [:]
        for conv in fused {
            if let add = graph.nodes.first(where: { $0.inputs.first == conv }) { fusedByAdd[add.id] = conv }
        }
        var seen = Set<ValueID>()
        executor.stepObserver = { node, floats, bytes, shape in
            seen.insert(node.id)
            XCTAssertNil(bytes, "\(node.name): a uint8 buffer with no int8 layer")
            guard let floats else { return XCTFail("\(node.name): no float output") }
            var planar = nchw(floats, shape)
            planar.withUnsafeMutableBufferPointer {
                checker.check(node: node, actual: $0.baseAddress!, fusedConv: fusedByAdd[node.id], exactTranscendentals: false)
            }
            storeNHWC(planar, floats, shape)   // the reference's value, for the next steps
        }
        try executor.run(input: input, height: size, width: size)
        let missing = Set(checker.referenceValues.keys).subtracting(seen).subtracting(fused)
        XCTAssertTrue(missing.isEmpty, "steps never checked: \(missing.map { graph.nodes[$0].name })")
        XCTAssertTrue(checker.failures.isEmpty, checker.failures.prefix(10).joined(separator: "\n"))
        for kind in ["conv", "conv+add", "windowAttention", "sigmoid", "upsample", "concat", "mul", "maxPool", "channelMeanMax"] {
            XCTAssertGreaterThan(checker.checkedKinds[kind] ?? 0, 0, "no \(kind) step was checked")
        }
    }

    func testAllFloatTableRunsEveryOpLikeTheFloatReferenceOnTheTinyModel() throws {
        let (model, input) = try tinyModelAndInput()
        let table = try allFloat(calibrate(model, [input], size: 64))
        for threads in [1, 2] { try floatOpByOp(model: model, table: table, input: input, size: 64, threads: threads) }
    }

    func testAllFloatTableRunsEveryOpLikeTheFloatReferenceOnTheDefaultModel() throws {
        let model = try defaultModel()
        let input = try kvasirInputs(model.config, size: 96, count: 1)[0]
        try floatOpByOp(model: model, table: allFloat(defaultTable()), input: input, size: 96, threads: 2)
    }

    // MARK: real table: op by op against the int8 reference

    private func int8OpByOp(model: ConDSegModel, table: CalibrationTable, input: [Float], size: Int,
                            threads: Int) throws {
        let graph = try model.graph()
        let folded = try model.foldedConvolutions(of: graph)
        let names = graph.valueNames
        let reference = try Int8ReferenceExecutor(model: model, table: table, tableFile: "table", threads: threads)
        var expected: [ValueID: [Float]] = [:]
        var shapes: [ValueID: ValueShape] = [:]
        reference.executor.observer = { node, pointer, shape in
            expected[node.id] = Array(UnsafeBufferPointer(start: pointer, count: shape.count))
            shapes[node.id] = shape
        }
        _ = try reference.predict(input: input, height: size, width: size)

        let executor = try FastInt8Executor(graph: graph, folded: folded, config: model.config, table: table,
                                        tableFile: "table", threads: threads)
        XCTAssertEqual(Set(executor.int8NodeIDs), Set(reference.convolutions.int8NodeIDs))
        XCTAssertFalse(executor.int8NodeIDs.isEmpty)
        executor.prepare(height: size, width: size)
        let fused = executor.fusedConvolutionIDs
        var quantization: [ValueID: ActivationQuantization] = [:]
        for node in graph.nodes {
            if case .conv = node.kind, executor.int8NodeIDs.contains(node.id) {
                quantization[node.inputs[0]] = table.entry(names[node.inputs[0]])!.quantization
            }
        }
        let checker = OpByOpChecker(graph: graph, folded: folded)
        checker.referenceValues = expected
        checker.referenceShapes = shapes
        var seen = Set<ValueID>()
        var failures: [String] = []
        var exactSteps = 0, int8Steps = 0, byteSteps = 0
        executor.stepObserver = { node, floats, bytes, shape in
            seen.insert(node.id)
            guard let want = expected[node.id] else { return failures.append("\(node.name): no reference value") }
            let fusedConv = node.inputs.first.flatMap { fused.contains($0) ? $0 : nil }
            let conv = fusedConv ?? node.id
            let isInt8 = executor.int8NodeIDs.contains(conv)
            let isConv: Bool = { if case .conv = graph.nodes[conv].kind { return true } else { return false } }()
            let multiResidual = fusedConv != nil && node.inputs.count > 2
            // Exact: int8 convolutions (with at most one residual) and every non-convolution op except the two
            // with transcendentals.
            var exact = !isConv || (isInt8 && !multiResidual)
            switch node.kind {
            case .sigmoid, .windowAttention: exact = false
            default: break
            }
            if isInt8 { int8Steps += 1 }
            if let floats {
                var got = nchw(floats, shape)
                if exact { exactSteps += 1 }
                if !exact && !multiResidual {
                    // Float-fallback convolutions, sigmoid, window attention: the float bounds (γ_n, exp).
                    let before = checker.failures.count
                    got.withUnsafeMutableBufferPointer {
                        checker.check(node: node, actual: $0.baseAddress!, fusedConv: fusedConv, exactTranscendentals: false)
                    }
                    if checker.failures.count > before { failures.append(contentsOf: checker.failures[before...]) }
                } else {
                    // Exact steps: identical bits. A fused add with several other operands: they are summed first
                    // here, after the convolution in the reference: both are float sums of the same n terms, each
                    // within γ_n·Σ|terms| of the exact sum, and Σ|terms| ≤ |y| + 2·Σ|r| (|v| ≤ |y| + Σ|r|).
                    let operands = multiResidual ? node.inputs.dropFirst().map { expected[$0]! } : []
                    for i in 0..<want.count {
                        var bound = 0.0
                        if multiResidual {
                            var total = Double(abs(want[i]))
                            for r in operands { total += 2 * Double(abs(r[i])) }
                            bound = 2 * gamma(node.inputs.count) * total * (1 + 1e-6) + 1e-38
                        }
                        if abs(Double(got[i]) - Double(want[i])) > bound || got[i].isNaN != want[i].isNaN {
                            failures.append("\(node.name) element \(i): \(got[i]) vs int8 reference \(want[i]) (bound \(bound))")
                            break
                        }
                    }
                }
                storeNHWC(want, floats, shape)
            }
            if let bytes {
                byteSteps += 1
                guard let q = quantization[node.id] else { return failures.append("\(node.name): uint8 without a record") }
                let planarWant = want.map { q.quantize($0) }
                let tolerance = exact ? 0 : 1
                for p in 0..<shape.plane {
                    for c in 0..<shape.c {
                        let got = Int(bytes[p * shape.c + c]), w = Int(planarWant[c * shape.plane + p])
                        if abs(got - w) > tolerance {
                            failures.append("\(names[node.id]) uint8 at pixel \(p) channel \(c): \(got) vs \(w)")
                            break
                        }
                    }
                }
                for p in 0..<shape.plane { for c in 0..<shape.c { bytes[p * shape.c + c] = planarWant[c * shape.plane + p] } }
            }
        }
        try executor.run(input: input, height: size, width: size)
        let missing = Set(expected.keys).subtracting(seen).subtracting(fused)
        XCTAssertTrue(missing.isEmpty, "steps never checked: \(missing.map { graph.nodes[$0].name })")
        XCTAssertTrue(failures.isEmpty, failures.prefix(10).joined(separator: "\n"))
        XCTAssertGreaterThan(int8Steps, 10)
        XCTAssertGreaterThan(byteSteps, 10, "values passed between int8 layers as uint8")
        XCTAssertGreaterThan(exactSteps, 10)
    }

    func testInt8StepsMatchTheInt8ReferenceOnTheDefaultModel() throws {
        let model = try defaultModel()
        let input = try kvasirInputs(model.config, size: 256, count: 1)[0]
        try int8OpByOp(model: model, table: defaultTable(), input: input, size: 256, threads: 2)
    }

    func testInt8StepsMatchTheInt8ReferenceOnTheTinyModelWithEveryKernel() throws {
        let (model, input) = try tinyModelAndInput()
        var table = try calibrate(model, [input], size: 64)
        for bits in [8, 7, 6] {   // 7-bit weights take the vpmaddubsw kernel on AVX2, 6-bit the two-vpmaddubsw one
            table.weightBits = bits
            for isa in [CK_ISA_GENERIC, CK_ISA_AVX2, CK_ISA_AVX512VNNI, CK_ISA_NEON, CK_ISA_NEONDOT] where ck_isa_supported(isa) == 1 {
                XCTAssertEqual(ck_force_isa(isa), 1)
                for threads in [1, 2] { try int8OpByOp(model: model, table: table, input: input, size: 64, threads: threads) }
            }
        }
    }

    // MARK: whole runs

    func testOutputIsBitIdenticalForAnyThreadCountAndKernel() throws {
        let model = try defaultModel()
        for bits in [8, 7, 6] {
            var table = try defaultTable()
            table.weightBits = bits
            try checkBitIdenticalForAnyThreadCountAndKernel(model: model, table: table)
        }
    }

    func testInt8WinogradGivesTheBitsOfIm2colAndGemmOnTheDefaultModel() throws {
        let model = try defaultModel()
        let graph = try model.graph()
        let input = try kvasirInputs(model.config, size: 128, count: 1)[0]
        for bits in [8, 7] {
            var table = try defaultTable()
            table.weightBits = bits
            let executor = try FastInt8Executor(model: model, table: table, tableFile: "table", threads: 2, keepTaps: true)
            let winograd = try executor.predict(input: input, height: 128, width: 128)
            if ck_qwino_preferred() != 0 {
                // Every undilated 3×3 stride-1 int8 convolution of the model (encoder blocks, cdfa, output block)
                // and the dilated ones whose tiling keeps ≥ 3/4 of its outputs inside the image.
                func spec(_ id: ValueID) -> ConvSpec? {
                    if case .conv(let spec) = graph.nodes[id].kind, spec.kernel == 3, spec.stride == 1 { return spec }
                    return nil
                }
                let chosen = executor.int8WinogradNodeIDs
                XCTAssertTrue(chosen.allSatisfy { spec($0) != nil })
                XCTAssertTrue(executor.int8NodeIDs.filter { spec($0)?.dilation == 1 }.allSatisfy(chosen.contains))
                XCTAssertGreaterThan(chosen.count, 20)
                // dconv4 (4×4 at this size) with dilation 18 keeps 1 output in 4: not Winograd.
                XCTAssertFalse(chosen.contains { graph.nodes[$0].name.hasPrefix("dconv4.c4") })
                // F(4×4) on the maps with at least 32 of its tiles (output block, cdfa1 at 128² and 32²), F(2×2) on
                // the smaller ones (the encoder's 8² and 4² blocks).
                let tiles = Dictionary(grouping: chosen) { executor.int8WinogradTile($0)! }
                XCTAssertEqual(Set(tiles.keys), [2, 4])
                for id in tiles[4]! where spec(id)!.dilation == 1 {
                    let out = try XCTUnwrap(executor.shape(id))
                    XCTAssertGreaterThanOrEqual(((out.h + 3) / 4) * ((out.w + 3) / 4), 32, graph.nodes[id].name)
                }
                XCTAssertTrue(tiles[4]!.contains { graph.nodes[$0].name.hasPrefix("output_block.c1") })
            }
            var outputs = [("Winograd", winograd)]
            // F(2×2) only, then no Winograd: the same bits.
            executor.int8WinogradLargestTile = 2
            executor.prepare(height: 128, width: 128)
            XCTAssertTrue(executor.int8WinogradNodeIDs.allSatisfy { executor.int8WinogradTile($0) == 2 })
            outputs.append(("F(2×2) only", try executor.predict(input: input, height: 128, width: 128)))
            executor.int8Winograd = false
            XCTAssertEqual(executor.int8WinogradNodeIDs, [])
            outputs.append(("im2col + GEMM", try executor.predict(input: input, height: 128, width: 128)))
            for (name, output) in outputs.dropFirst() {
                XCTAssertEqual(winograd.map(\.bitPattern), output.map(\.bitPattern), "\(bits)-bit weights, \(name)")
            }
        }
    }

    private func checkBitIdenticalForAnyThreadCountAndKernel(model: ConDSegModel, table: CalibrationTable) throws {
        let input = try kvasirInputs(model.config, size: 128, count: 1)[0]
        var outputs: [[Float]] = []
        defer { _ = ck_force_isa(ck_detected_isa()); _ = ckf_force_isa(ckf_detected_isa()) }
        // Every int8 kernel and every float kernel set (the float ops between int8 layers use the portable
        // arithmetic: fixed-order GEMM, portable exp), so portable C gives the bits of the vector kernels.
        for (isa, floatISA) in [(CK_ISA_GENERIC, CKF_ISA_GENERIC), (ck_detected_isa(), ckf_detected_isa()),
                                (ck_detected_isa(), CKF_ISA_GENERIC)] {
            XCTAssertEqual(ck_force_isa(isa), 1)
            XCTAssertEqual(ckf_force_isa(floatISA), 1)
            for threads in [1, 2, 3] {
                let executor = try FastInt8Executor(model: model, table: table, tableFile: "table", threads: threads,
                                                keepTaps: true)
                outputs.append(try executor.predict(input: input, height: 128, width: 128))
                // A second frame on the same executor gives the same bits (no state carried over).
                XCTAssertEqual(try executor.predict(input: input, height: 128, width: 128), outputs.last!)
            }
        }
        for other in outputs.dropFirst() { XCTAssertEqual(other, outputs[0], "\(table.weightBits)-bit weights") }
        // And it is the int8 network, close to the int8 reference (mask agreement, probabilities within 2e-2).
        let reference = try Int8ReferenceExecutor(model: model, table: table, tableFile: "table", threads: 2)
        let expected = try reference.predict(input: input, height: 128, width: 128)
        let diff = maxAbsDiff(outputs[0], expected)
        XCTAssertLessThan(diff.diff, 2e-2, "probabilities vs the int8 reference")
        let flips = zip(outputs[0], expected).filter { ($0 > 0.5) != ($1 > 0.5) }.count
        XCTAssertLessThanOrEqual(flips, outputs[0].count / 500)
    }

    func testBadInputIsAClearError() throws {
        let model = try defaultModel()
        let executor = try FastInt8Executor(model: model, table: defaultTable(), tableFile: "table", threads: 1)
        XCTAssertThrowsError(try executor.predict(input: [0, 0, 0], height: 1, width: 1)) { error in
            XCTAssertTrue("\(error)".contains("multiple of 16"), "\(error)")
        }
        XCTAssertThrowsError(try executor.predict(input: [Float](repeating: 0, count: 10), height: 32, width: 32)) { error in
            XCTAssertTrue("\(error)".contains("expected 3×32×32"), "\(error)")
        }
    }
}
