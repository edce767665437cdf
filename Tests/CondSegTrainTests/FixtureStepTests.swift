// FixtureStepTests.swift — one training step of each stage against PyTorch (the authors' release, float32):
// train-mode forward, every loss term (1e-4 relative) and every listed parameter gradient (1e-3 relative,
// max-abs error over max-abs value). Fixtures: Tests/Fixtures/train/ (copied from the project's golden set).

import CondSegCore
import CondSegTestSupport
@testable import CondSegTrain
import XCTest

final class FixtureStepTests: XCTestCase {
    func tensor(_ file: SafeTensorsFile, _ name: String) throws -> Tensor {
        let e = try file.entry(name)
        let s = e.shape
        return Tensor(try file.floats(name), n: s[0], c: s[1], h: s[2], w: s[3])
    }

    func checkGradients(_ step: SafeTensorsFile, _ store: ParameterStore, file: StaticString = #filePath, line: UInt = #line) throws {
        let names = step.names.filter { $0.hasPrefix("grad.") }
        XCTAssertFalse(names.isEmpty)
        for key in names {
            let name = String(key.dropFirst(5))
            let expected = try step.floats(key)
            guard let g = store.gradients[name] else { XCTFail("no gradient for \(name)"); continue }
            let (diff, magnitude) = maxAbsDiff(g.array, expected)
            XCTAssertLessThanOrEqual(diff, 1e-3 * magnitude, "grad \(name): max error \(diff), magnitude \(magnitude)",
                                     file: file, line: line)
        }
    }

    func testStage2StepMatchesPyTorch() throws {
        let weights = try SafeTensorsFile(path: fixturePath("reference/tiny-weights.safetensors"))
        let step = try SafeTensorsFile(path: fixturePath("train/tiny-stage2-step.safetensors"))
        let config = try ModelConfig(metadata: weights.metadata, file: weights.name)
        let graph = Graph.conDSeg(config, auxiliaryHead: true)
        let store = ParameterStore(graph: graph)
        let loaded = try store.load(weights)
        XCTAssertEqual(loaded.count, store.names.count, "tiny-weights lacks tensors")
        let network = TrainingNetwork(graph: graph, parameters: store, threads: 2)
        let input = try tensor(step, "input_bgr"), target = try tensor(step, "target")
        let outputs = network.forward(input, training: true)
        let (maskDiff, _) = maxAbsDiff(outputs["mask"]!.array, try step.floats("mask"))
        XCTAssertLessThan(maskDiff, 1e-4, "train-mode mask")
        let (terms, grads) = Losses.stage2(outputs: outputs, target: target)
        for name in ["loss", "loss_mask", "loss_fg", "loss_bg", "loss_comp", "beta1", "beta2"] {
            let expected = Double(try step.floats(name)[0])
            XCTAssertEqual(terms[name]!, expected, accuracy: 1e-4 * abs(expected), name)
        }
        store.zeroGradients()
        network.backward(grads)
        try checkGradients(step, store)
    }

    func testStage1StepMatchesPyTorch() throws {
        let weights = try SafeTensorsFile(path: fixturePath("reference/tiny-weights.safetensors"))
        let head = try SafeTensorsFile(path: fixturePath("train/tiny-stage1-head.safetensors"))
        let step = try SafeTensorsFile(path: fixturePath("train/tiny-stage1-step.safetensors"))
        let config = try ModelConfig(metadata: weights.metadata, file: weights.name)
        let graph = Graph.stage1(config)
        let store = ParameterStore(graph: graph)
        let a = try store.load(weights), b = try store.load(head)
        XCTAssertEqual(a.count + b.count, store.names.count, "encoder + head do not cover the stage-1 graph")
        let network = TrainingNetwork(graph: graph, parameters: store, threads: 2)
        let augmentedNetwork = TrainingNetwork(graph: graph, parameters: store, threads: 2)
        let input = try tensor(step, "input_bgr"), augmented = try tensor(step, "input_aug_bgr")
        let target = try tensor(step, "target")
        store.zeroGradients()
        // Two separate forwards (separate batch statistics) sharing the parameters.
        let maskCopy = network.forward(input, training: true)["mask"]!
        let augmentedMask = augmentedNetwork.forward(augmented, training: true)["mask"]!
        XCTAssertLessThan(maxAbsDiff(maskCopy.array, try step.floats("mask")).diff, 1e-4, "mask")
        XCTAssertLessThan(maxAbsDiff(augmentedMask.array, try step.floats("mask_aug")).diff, 1e-4, "mask_aug")
        let (terms, g, ga) = Losses.stage1(mask: maskCopy, augmentedMask: augmentedMask, target: target)
        for name in ["loss", "loss_mask", "loss_mask_aug", "loss_cons"] {
            let expected = Double(try step.floats(name)[0])
            XCTAssertEqual(terms[name]!, expected, accuracy: 1e-4 * abs(expected), name)
        }
        network.backward(["mask": g])
        augmentedNetwork.backward(["mask": ga])
        try checkGradients(step, store)
    }
}
