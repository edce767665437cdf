// TrainingTraceTests.swift — a training trace (TrainingTrace.swift) written step by step and read back with the
// library's own readers: the tensors and their metadata, each batch, each step's gradients and the losses file.

import CondSegCore
import CondSegImage
@testable import CondSegTrain
import Foundation
import XCTest

final class TrainingTraceTests: XCTestCase {
    private var folder = ""

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("trace-\(UUID().uuidString)").path
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: folder) }

    private func smallStore() -> ParameterStore {
        var g = Graph()
        let x = g.add(.input, [], name: "input", channels: 3, stride: 1)
        g.add(.conv(ConvSpec(weight: "layer0.0.weight", batchNorm: "layer0.1", inChannels: 3, outChannels: 2,
                             kernel: 3, padding: 1, relu: true)), [x], name: "layer0", channels: 2, stride: 1, role: .encoder)
        let store = ParameterStore(graph: g)
        store.initialise(seed: 7)
        return store
    }

    private func tensor(_ n: Int, _ c: Int, _ s: Int, _ offset: Float) -> Tensor {
        Tensor((0..<(n * c * s * s)).map { Float($0) * 0.5 + offset }, n: n, c: c, h: s, w: s)
    }

    func testTwoStepsWrittenAndReadBack() throws {
        let store = smallStore()
        let config = ModelConfig(encoder: .resnet18, width: 16, mid: 32, heads: 4, inputSize: 32)
        let trace = try TrainingTrace(directory: folder, steps: 2)
        try trace.writeTensors(store, name: "start.safetensors", config: config, stage: 1,
                               learningRates: ["rest": 1e-4, "encoder": 1e-5], stepCount: 0)

        // Step 0: batch without an augmented copy, gradients, losses.
        XCTAssertFalse(trace.recordingLastStep)
        let input0 = tensor(2, 3, 4, 0), target0 = tensor(2, 1, 4, 100)
        try trace.writeBatch(input: input0, augmented: nil, target: target0)
        for (k, name) in store.trainableNames.enumerated() { store.gradient(name)[0] = Float(k) + 0.25 }
        try trace.writeGradients(store)
        try trace.recordLosses(["loss": 0.1 + 0.2, "loss_mask": 1.0 / 3.0])
        XCTAssertFalse(trace.finished)

        // Step 1: with an augmented copy; a non-finite loss term.
        XCTAssertTrue(trace.recordingLastStep)
        let augmented1 = tensor(2, 3, 4, -7)
        try trace.writeBatch(input: tensor(2, 3, 4, 1), augmented: augmented1, target: tensor(2, 1, 4, 3))
        try trace.writeGradients(store)
        try trace.recordLosses(["loss": .infinity, "loss_mask": 2])
        XCTAssertTrue(trace.finished)

        let start = try SafeTensorsFile(path: folder + "/start.safetensors")
        for name in store.names { XCTAssertEqual(try start.floats(name), store.values[name]!.array, name) }
        XCTAssertEqual(try start.int64s("layer0.1.num_batches_tracked"), [0])
        XCTAssertEqual(start.metadata["train.stage"], "1")
        XCTAssertEqual(start.metadata["train.steps"], "0")
        XCTAssertEqual(start.metadata["train.lr"], String(Float(1e-4)))
        XCTAssertEqual(start.metadata["train.encoder_lr"], String(Float(1e-5)))
        XCTAssertEqual(try ModelConfig(metadata: start.metadata, file: "start"), config)

        let input = try NPY.read(path: folder + "/input-000.npy")
        XCTAssertEqual(input.shape, [2, 3, 4, 4])
        XCTAssertEqual(input.values, input0.array)
        XCTAssertEqual(try NPY.read(path: folder + "/target-000.npy").values, target0.array)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/augmented-000.npy"))
        XCTAssertEqual(try NPY.read(path: folder + "/augmented-001.npy").values, augmented1.array)

        for step in ["000", "001"] {
            let gradients = try SafeTensorsFile(path: folder + "/gradients-\(step).safetensors")
            XCTAssertEqual(gradients.names.sorted(), store.trainableNames)
            for (k, name) in store.trainableNames.enumerated() {
                let g = try gradients.floats(name)
                XCTAssertEqual(g[0], Float(k) + 0.25, name)
                XCTAssertEqual(g.count, store.values[name]!.count)
            }
        }

        // Valid JSON, one object per step, keys sorted, each double in Swift's shortest form that reads back exactly
        // (checked on the text: Foundation's JSON reader on Linux does not round the last digit correctly), null for
        // a non-finite value.
        let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/losses.json"))
        let steps = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        XCTAssertEqual(steps.count, 2)
        XCTAssertTrue(steps[1]["loss"] is NSNull)
        let text = try XCTUnwrap(String(data: data, encoding: .utf8))
        XCTAssertEqual(text, """
            [
              {"loss": 0.30000000000000004, "loss_mask": 0.3333333333333333},
              {"loss": null, "loss_mask": 2.0}
            ]

            """)
        XCTAssertEqual(Double("0.30000000000000004"), 0.1 + 0.2)
        XCTAssertEqual(Double("0.3333333333333333"), 1.0 / 3.0)
    }

    func testRefusesAFolderHoldingATraceAndZeroSteps() throws {
        XCTAssertThrowsError(try TrainingTrace(directory: folder, steps: 0))
        let trace = try TrainingTrace(directory: folder, steps: 1)
        try trace.writeTensors(smallStore(), name: "start.safetensors", config: .release, stage: 2,
                               learningRates: ["rest": 1, "encoder": 1], stepCount: 0)
        XCTAssertThrowsError(try TrainingTrace(directory: folder, steps: 1)) { error in
            XCTAssertTrue("\(error)".contains(self.folder), "\(error)")
        }
    }
}
