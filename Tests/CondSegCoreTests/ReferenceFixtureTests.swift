// ReferenceFixtureTests.swift — the float reference against the authors' PyTorch release: the tiny
// configuration's forward pass (outputs within 1e-4 absolute, every tapped module output within 1e-3 of its
// magnitude) from Tests/Fixtures/reference/tiny-forward.safetensors.

import CondSegCore
import CondSegTestSupport
import XCTest

final class ReferenceFixtureTests: XCTestCase {
    func testTinyForwardMatchesPyTorch() throws {
        let model = try ConDSegModel.load(path: fixturePath("reference/tiny-weights.safetensors"))
        XCTAssertEqual(model.config.encoder, .resnet18)
        XCTAssertEqual(model.config.width, 16)
        XCTAssertTrue(model.hasAuxiliaryHead)
        let golden = try SafeTensorsFile(path: fixturePath("reference/tiny-forward.safetensors"))
        let input = try golden.floats("input_bgr")
        for threads in [1, 2] {
            let executor = try ReferenceExecutor(model: model, threads: threads, auxiliaryHead: true, keepTaps: true)
            try executor.run(input: input, height: 64, width: 64)
            for name in ["mask", "mask_fg", "mask_bg", "mask_uc"] {
                let (diff, _) = maxAbsDiff(executor.output(name), try golden.floats(name))
                XCTAssertLessThan(diff, 1e-4, "\(name) differs from PyTorch by \(diff) (threads \(threads))")
            }
            var checked = 0
            for name in golden.names where name.hasPrefix("act.") {
                guard let id = executor.graph.taps[name] else {
                    XCTFail("the graph has no tap \(name)")
                    continue
                }
                let expected = try golden.floats(name)
                let (diff, magnitude) = maxAbsDiff(executor.value(id), expected)
                XCTAssertLessThan(diff, 1e-3 * max(magnitude, 1e-6), "\(name): max diff \(diff), magnitude \(magnitude)")
                checked += 1
            }
            XCTAssertEqual(checked, 20, "every intermediate of the fixture is compared")
        }
    }

    func testInferenceGraphPrunesAuxiliaryHeadAndUncertaintyBranch() throws {
        let model = try ConDSegModel.load(path: fixturePath("reference/tiny-weights.safetensors"))
        let inference = try model.graph()
        XCTAssertFalse(inference.nodes.contains { $0.name.hasPrefix("aux_head") || $0.name.hasPrefix("decouple_layer.cbr_uc") })
        let full = try model.graph(auxiliaryHead: true)
        let macsFull = full.macs(inputSize: 256).reduce(0, +)
        let macsPruned = inference.macs(inputSize: 256).reduce(0, +)
        XCTAssertLessThan(macsPruned, macsFull)
    }
}
