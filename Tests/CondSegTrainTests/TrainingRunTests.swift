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

    /// A trace (`train --trace`) is a faithful record: its start is the trainer's starting state, and repeating its
    /// steps from start.safetensors on its batches gives its loss terms, gradients and end.safetensors bit for bit (same
    /// thread count). A second trace into the same folder is refused.
    func testTraceReplaysToItsRecordedEnd() throws {
        for stage in [1, 2] {
            let folder = scratch.appendingPathComponent("trace\(stage)").path
            var o = try options(stage: stage, epochs: 3, output: "traced\(stage).safetensors")
            o.traceDirectory = folder
            o.traceSteps = stage == 1 ? 2 : 50  // stage 2 asks for more steps than the epoch's batches: one epoch
            let fresh = try Trainer(options: o)
            let traced = try Trainer(options: o)
            XCTAssertEqual(try traced.run().count, 0)
            XCTAssertFalse(FileManager.default.fileExists(atPath: o.output), "a trace exports no model")
            let steps = min(o.traceSteps, (traced.trainingCount + o.batch - 1) / o.batch)
            let start = try SafeTensorsFile(path: folder + "/start.safetensors")
            let end = try SafeTensorsFile(path: folder + "/end.safetensors")
            let losses = try exactLosses(folder + "/losses.json")
            XCTAssertEqual(losses.count, steps)
            XCTAssertEqual(start.metadata["train.lr"].flatMap(Float.init), o.lr)
            for name in fresh.store.names { XCTAssertEqual(try start.floats(name), fresh.store.values[name]!.array, name) }

            let store = ParameterStore(graph: fresh.graph)
            XCTAssertEqual(try store.load(start), Set(store.names))
            let adam = Adam(store: store, lr: o.lr, encoderLR: o.encoderLR)
            let net = TrainingNetwork(graph: fresh.graph, parameters: store, threads: o.threads)
            let augNet = TrainingNetwork(graph: fresh.graph, parameters: store, threads: o.threads)
            func tensor(_ prefix: String, _ k: Int) throws -> Tensor {
                let (values, shape) = try NPY.read(path: folder + "/" + prefix + String(format: "-%03d.npy", k))
                return Tensor(values, n: shape[0], c: shape[1], h: shape[2], w: shape[3])
            }
            for k in 0..<steps {
                let terms = Trainer.step(stage: stage, input: try tensor("input", k),
                                         augmented: stage == 1 ? try tensor("augmented", k) : nil,
                                         target: try tensor("target", k), network: net, augmentedNetwork: augNet,
                                         store: store, optimizer: adam)
                XCTAssertEqual(terms, losses[k], "stage \(stage) step \(k)")
                let gradients = try SafeTensorsFile(path: folder + String(format: "/gradients-%03d.safetensors", k))
                XCTAssertEqual(Set(gradients.names), Set(store.trainableNames))
                for name in store.trainableNames {
                    XCTAssertEqual(try gradients.floats(name), store.gradients[name]!.array, "gradient of \(name), step \(k)")
                }
            }
            for name in store.names { XCTAssertEqual(try end.floats(name), store.values[name]!.array, name) }
            XCTAssertThrowsError(try Trainer(options: o).run()) { XCTAssertTrue("\($0)".contains("already holds a trace"), "\($0)") }
        }
    }

    /// losses.json read with Double(String), which is exact (Foundation's JSON parser may round the last digit).
    func exactLosses(_ path: String) throws -> [[String: Double]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let pair = try NSRegularExpression(pattern: "\"(\\w+)\": ([-0-9.e+]+|null)")
        return text.split(separator: "\n").filter { $0.contains("{") }.map { line in
            let line = String(line)
            var terms: [String: Double] = [:]
            for m in pair.matches(in: line, range: NSRange(line.startIndex..., in: line)) {
                let key = String(line[Range(m.range(at: 1), in: line)!]), value = String(line[Range(m.range(at: 2), in: line)!])
                terms[key] = Double(value) ?? .nan
            }
            return terms
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
