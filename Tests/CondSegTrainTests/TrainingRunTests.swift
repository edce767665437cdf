// TrainingRunTests.swift — short training runs on a few Kvasir images (Tests/Fixtures/train/kvasir, made by
// scripts/make-train-fixtures.py) at 32×32 (kept small so the tests take seconds) with the tiny configuration: the loss goes down, the exported file
// loads in the runtime (ConDSegModel + the float reference executor) and gives the trainer's own evaluation-
// mode predictions, and a run interrupted and resumed from its checkpoint ends with the same weights.

import CondSegCore
import CondSegImage
import CondSegTestSupport
@testable import CondSegTrain
import XCTest

final class TrainingRunTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("condseg-train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    func options(stage: Int, epochs: Int, output: String) throws -> TrainingOptions {
        let data = try fixturePath("train/kvasir")
        var o = TrainingOptions()
        o.stage = stage
        o.dataDirectory = data
        o.trainList = try fixturePath("train/kvasir/train.txt")
        o.valList = try fixturePath("train/kvasir/val.txt")
        o.config = ModelConfig(encoder: .resnet18, width: 16, mid: 32, heads: 4, inputSize: 32)
        o.batch = 2
        o.epochs = epochs
        o.lr = 1e-3
        o.encoderLR = 1e-3
        o.output = scratch.appendingPathComponent(output).path
        o.progress = false
        o.seed = 5
        o.schedule = .cosine
        return o
    }

    func testStage2ShortRunLowersLossAndExportLoadsInRuntime() throws {
        var o = try options(stage: 2, epochs: 4, output: "model.safetensors")
        o.augment = false
        let trainer = try Trainer(options: o)
        let history = try trainer.run()
        XCTAssertEqual(history.count, 4)
        let losses = history.map(\.trainLoss)
        for k in 1..<losses.count { XCTAssertLessThan(losses[k], losses[k - 1], "loss \(losses) did not go down every epoch") }
        XCTAssertLessThan(losses.last!, 0.9 * losses.first!, "loss \(losses) did not go down by 10 %")
        for path in [o.output, trainer.logPath, trainer.plotPath, trainer.checkpointPath] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: path), "missing \(path)")
        }
        let csv = try String(contentsOfFile: trainer.logPath, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 5)
        XCTAssertEqual(String(csv[0]), EpochRecord.header)
        // The exported model: loads in the runtime, and the reference executor (BatchNorm folded) reproduces
        // the trainer's evaluation-mode forward on a validation image.
        let model = try ConDSegModel.load(path: o.output)
        XCTAssertEqual(model.config, o.config)
        XCTAssertTrue(model.hasAuxiliaryHead)
        let reloaded = ParameterStore(graph: trainer.graph)
        try reloaded.load(model.file)
        let net = TrainingNetwork(graph: trainer.graph, parameters: reloaded, threads: 2)
        let sample = trainer.validation.samples[0]
        let input = Augment.batchTensor([sample.rgb], size: 32, config: o.config)
        let ours = net.forward(input, training: false)["mask"]!.array
        let executor = try ReferenceExecutor(model: model, threads: 2)
        let theirs = try executor.predict(input: input.array, height: 32, width: 32)
        let (diff, _) = maxAbsDiff(ours, theirs)
        XCTAssertLessThan(diff, 1e-4, "runtime and trainer disagree on the exported model")
        let scores = trainer.validate()
        XCTAssertTrue(scores.dice >= 0 && scores.dice <= 1)
    }

    func testResumeReproducesUninterruptedRun() throws {
        var wholeOptions = try options(stage: 2, epochs: 2, output: "whole.safetensors")
        wholeOptions.batch = 4
        let whole = try Trainer(options: wholeOptions)
        try whole.run()
        var first = try options(stage: 2, epochs: 2, output: "split.safetensors")
        first.batch = 4
        first.stopAfterEpochs = 1
        let part = try Trainer(options: first)
        try part.run()
        var second = try options(stage: 2, epochs: 2, output: "split.safetensors")
        second.batch = 4
        second.resume = part.checkpointPath
        let resumed = try Trainer(options: second)
        let history = try resumed.run()
        XCTAssertEqual(history.count, 2)
        for name in whole.store.names {
            XCTAssertEqual(whole.store.values[name]!.array, resumed.store.values[name]!.array, "tensor \(name) differs after resume")
        }
        XCTAssertEqual(whole.history.map(\.trainLoss), history.map(\.trainLoss))
    }

    func testStage1RunExportsEncoderThatInitialisesStage2() throws {
        let stage1 = try Trainer(options: options(stage: 1, epochs: 1, output: "stage1.safetensors"))
        try stage1.run()
        var o = try options(stage: 2, epochs: 1, output: "stage2.safetensors")
        o.initFiles = [stage1.options.output]
        let stage2 = try Trainer(options: o)
        XCTAssertFalse(stage2.initialisedNames.contains { $0.hasPrefix("layer") }, "encoder not taken from stage 1")
        XCTAssertTrue(stage2.initialisedNames.contains { $0.hasPrefix("aux_head.") })
        for name in stage2.store.names where name.hasPrefix("layer") {
            XCTAssertEqual(stage2.store.values[name]!.array, stage1.store.values[name]!.array, name)
        }
    }

    func testMissingDataFolderIsAClearError() throws {
        var o = try options(stage: 2, epochs: 1, output: "x.safetensors")
        o.dataDirectory = scratch.appendingPathComponent("nowhere").path
        o.trainList = nil
        o.valList = nil
        XCTAssertThrowsError(try Trainer(options: o)) { error in
            XCTAssertTrue("\(error)".contains("nowhere"), "\(error)")
        }
    }
}
