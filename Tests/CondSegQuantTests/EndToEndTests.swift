// EndToEndTests.swift — the int8 path on real models: per-layer error of every int8 convolution against the float
// reference's own convolution (tiny model, bound derived below), accumulated per-layer cosine on the default
// model, bit-identical outputs with 1 and 2 threads, the quantized model file (same bits as the table path,
// smaller), and `condseg compare` passing on a real table and failing (exit status 1) on a broken one.
//
// Bound for one int8 convolution on its exact float input (minmax calibration on the same images, so nothing is
// clipped): uniform quantization with step s adds noise of power s²/12. For an activation with peak-to-rms ratio
// c over 255 steps the input SQNR is 12·255²/c²; for a weight channel with peak-to-rms ratio c_w over ±127 it is
// 12·127²/c_w². With c ≤ 20 and c_w ≤ 10 (ReLU feature maps and trained 3×3 filters stay well inside these) the
// output noise-to-signal ratio is at most 1/1950 + 1/1935 ≈ 1.03e-3, so cosine ≥ 1/√(1 + 1.03e-3) ≈ 0.9995.
// We assert 0.999 (a factor two of margin on the noise).

import CondSegCore
import CondSegImage
import CondSegQuant
import CondSegRuntime
import CondSegTestSupport
import Foundation
import XCTest

final class EndToEndTests: XCTestCase {
    func testTinyModelEveryInt8ConvolutionMatchesTheFloatConvolution() throws {
        let model = try QuantFixtures.tinyModel()
        let inputs = try QuantFixtures.inputs(size: 64, config: model.config)
        let table = try QuantFixtures.calibrate(model, inputs: inputs, size: 64, policy: .allInt8)
        let (_, errors) = try Refinement.refine(model: model, table: table, inputs: inputs, size: 64, threads: 2, search: false)
        let graph = try model.graph()
        let names = graph.valueNames
        // Every int8 tensor except the exact image input is measured.
        let expected = Set(table.entries.filter { $0.precision == .int8 && $0.name != "input" }.map(\.name))
        XCTAssertEqual(Set(errors.map(\.name)), expected)
        XCTAssertGreaterThan(errors.count, 50)
        for e in errors {
            XCTAssertGreaterThanOrEqual(e.cosine, 0.999, "convolutions reading \(e.name)")
        }
        _ = names
    }

    func testTinyModelInt8IsBitIdenticalForOneAndTwoThreads() throws {
        let model = try QuantFixtures.tinyModel()
        let inputs = try QuantFixtures.inputs(size: 64, config: model.config)
        let table = try QuantFixtures.calibrate(model, inputs: inputs, size: 64)
        let one = try Int8ReferenceExecutor(model: model, table: table, tableFile: "t", threads: 1)
        let two = try Int8ReferenceExecutor(model: model, table: table, tableFile: "t", threads: 2)
        let float = try ReferenceExecutor(model: model, threads: 2)
        for input in inputs {
            let a = try one.predict(input: input, height: 64, width: 64)
            let b = try two.predict(input: input, height: 64, width: 64)
            XCTAssertEqual(a, b)
            XCTAssertNotEqual(a, try float.predict(input: input, height: 64, width: 64))   // really the int8 path
        }
        // Accumulated per-layer cosine. The tiny model's weights are random (untrained), so errors compound far
        // more than in a trained network (measured minimum 0.755 at decoder_small.c4; the trained default model
        // stays ≥ 0.99, tested below). layer0 reads the exact image, so only its weight rounding shows (≥ 0.999);
        // a broken path (scales ×100) gives cosines near 0.
        let layers = try LayerComparison.measure(float: float, int8: two, inputs: inputs, size: 64)
        XCTAssertEqual(layers.count, two.convolutions.int8NodeIDs.count)
        XCTAssertGreaterThan(layers.first { $0.name == "layer0" }!.cosine, 0.999)
        for l in layers { XCTAssertGreaterThan(l.cosine, 0.7, l.name) }
    }

    func testQuantizedModelFileRunsTheSameInt8Path() throws {
        let model = try QuantFixtures.tinyModel()
        let inputs = try QuantFixtures.inputs(size: 64, config: model.config)
        let table = try QuantFixtures.calibrate(model, inputs: inputs, size: 64)
        let bytes = try QuantizedModelFile.serialize(model: model, table: table, tableFile: "t")
        let file = try SafeTensorsFile(bytes: bytes, name: "q.safetensors")
        XCTAssertTrue(QuantizedModelFile.isQuantized(file))
        XCTAssertEqual(file.metadata["condseg.quantized"], "int8")
        XCTAssertEqual(file.metadata["condseg.source_sha256"], model.sha256)
        XCTAssertEqual(file.metadata["condseg.calibration_sha256"], SHA256.hex(Array(table.text.utf8)))
        XCTAssertEqual(file.entries["layer0.0.weight"]?.dtype, .i8)
        XCTAssertEqual(file.entries["output_block.c3.weight"]?.dtype, .f32)   // float fallback keeps float weights
        let fromFile = try Int8ReferenceExecutor(quantizedFile: file, threads: 2)
        let fromTable = try Int8ReferenceExecutor(model: model, table: table, tableFile: "t", threads: 2)
        for input in inputs {
            XCTAssertEqual(try fromFile.predict(input: input, height: 64, width: 64),
                           try fromTable.predict(input: input, height: 64, width: 64))
        }
        // A tampered table for another model cannot be baked.
        var other = table
        other.modelSHA256 = String(repeating: "1", count: 64)
        XCTAssertThrowsError(try QuantizedModelFile.serialize(model: model, table: other, tableFile: "other"))
        // A float model is not a quantized one.
        XCTAssertThrowsError(try Int8ReferenceExecutor(quantizedFile: model.file, threads: 1))
    }

    func testDefaultModelInt8AgreesWithFloatAndIsThreadIndependent() throws {
        let model = try QuantFixtures.defaultModel()
        let size = 128   // half the model size keeps the test short; the ops do not depend on the size
        let inputs = try QuantFixtures.inputs(size: size, config: model.config, count: 2)
        let table = try QuantFixtures.calibrate(model, inputs: inputs, size: size, method: .percentile(99.99))
        let one = try Int8ReferenceExecutor(model: model, table: table, tableFile: "t", threads: 1)
        let two = try Int8ReferenceExecutor(model: model, table: table, tableFile: "t", threads: 2)
        let float = try ReferenceExecutor(model: model, threads: 2)
        for input in inputs {
            let a = try one.predict(input: input, height: size, width: size)
            XCTAssertEqual(a, try two.predict(input: input, height: size, width: size))
            let f = try float.predict(input: input, height: size, width: size)
            XCTAssertGreaterThan(Comparison.agreement(f, a), 0.97)
        }
        // Accumulated error stays small through the whole network (measured ≥ 0.99 here; bound 0.97).
        let layers = try LayerComparison.measure(float: float, int8: two, inputs: [inputs[0]], size: size)
        XCTAssertGreaterThan(layers.count, 60)
        for l in layers { XCTAssertGreaterThan(l.cosine, 0.97, l.name) }
    }

    func testRefinementRepairsADamagedScaleAndFallbackRecordsFlips() throws {
        let model = try QuantFixtures.tinyModel()
        let inputs = try QuantFixtures.inputs(size: 64, config: model.config, count: 2)
        var table = try QuantFixtures.calibrate(model, inputs: inputs, size: 64)
        // Double one tensor's scale (half its resolution wasted): the search must pick a factor that undoes it.
        let victim = "layer1.1.0.conv1"
        let original = table.entry(victim)!.quantization.scale
        var damaged = table.entry(victim)!
        damaged.quantization.scale *= 2
        table.set(damaged)
        let (refined, errors) = try Refinement.refine(model: model, table: table, inputs: inputs, size: 64, threads: 2, search: true)
        let chosen = errors.first { $0.name == victim }!
        XCTAssertLessThanOrEqual(chosen.factor, 0.6)
        XCTAssertEqual(refined.entry(victim)!.quantization.scale, original * 2 * chosen.factor)
        XCTAssertTrue(refined.entry(victim)!.comment.contains("refined x"))
        XCTAssertTrue(refined.method.hasSuffix("+ refine"))
        // Fallback with an unreachable target flips tensors worst-first and records each flip.
        let (fallback, drops) = try Refinement.fallback(model: model, table: refined, errors: errors, inputs: inputs,
                                                        size: 64, threads: 2, maxDrop: -1)
        let flipped = fallback.entries.filter { $0.comment.contains("--max-dice-drop fallback") }
        XCTAssertEqual(flipped.count, errors.count)                  // nothing satisfies −1: every candidate flipped
        XCTAssertEqual(drops.count, errors.count + 1)
        XCTAssertTrue(flipped.allSatisfy { $0.precision == .float })
        XCTAssertLessThanOrEqual(drops.last!, drops.first! + 1e-12)
        // The first flip is the worst tensor, made when the drop was the first one measured.
        let worst = errors.min { ($0.cosine, $0.name) < ($1.cosine, $1.name) }!
        XCTAssertTrue(fallback.entry(worst.name)!.comment.contains("drop was \(String(format: "%.4f", drops[0])))"))
        XCTAssertNotNil(fallback.notes.first { $0.0 == "max_dice_drop" })
    }
}
