// Trainer.swift — the training loop of both stages: batches from a TrainingSet with seeded augmentation
// (the next batch is prepared on another thread while the current one computes), forward/loss/backward,
// Adam with an encoder group, a per-epoch schedule, validation with the paper's metrics (eval-mode forward,
// prediction > 0.5 against the ground truth), best-checkpoint export, early stopping, resumable checkpoints
// (weights + Adam moments + epoch + RNG + schedule state in one safetensors file), a progress line, a CSV log
// and a PNG plot of the curves; or, with a trace folder, a record of the first steps (TrainingTrace) instead.

import CondSegCore
import CondSegIO
import CondSegImage
import Foundation

/// Everything a training run is configured by (the CLI fills it).
public struct TrainingOptions: Sendable {
    public var stage = 2
    public var dataDirectory = ""
    public var trainList: String?
    public var valList: String?
    /// Validation folder when different from `dataDirectory`.
    public var valDirectory: String?
    public var config = ModelConfig(encoder: .resnet18, width: 64, mid: 256, heads: 4, inputSize: 256)
    public var batch = 8
    public var epochs = 10
    public var lr: Float = 1e-4
    public var encoderLR: Float = 1e-5
    /// Weight files loaded in order (later ones override); names not found are freshly initialised.
    public var initFiles: [String] = []
    public var resume: String?
    public var output = "model.safetensors"
    public var seed: UInt64 = 1
    public var threads = 2
    public var schedule: LearningRateSchedule = .plateau
    /// Epochs without a better validation mIoU before stopping.
    public var patience = 10
    /// Stop after this many epochs of this invocation (nil: run to `epochs`); used to test resuming.
    public var stopAfterEpochs: Int?
    /// Print a progress line to standard error.
    public var progress = true
    /// Print seconds per op kind (forward/backward) after each epoch.
    public var profile = false
    /// Apply the augmentations (off only for tests that need a fixed objective).
    public var augment = true
    /// Write a trace of the first `traceSteps` steps (at most one epoch) to this folder, then stop (see TrainingTrace).
    public var traceDirectory: String?
    public var traceSteps = 5
    public init() {}
}

/// One row of the log.
public struct EpochRecord: Sendable, Equatable {
    public var epoch: Int
    public var trainLoss: Double
    public var valDice: Double
    public var valIoU: Double
    public var learningRate: Float
    public var imagesPerSecond: Double
    public var seconds: Double

    static let header = "epoch,train_loss,val_mDSC,val_mIoU,lr,images_per_s,seconds"
    var csv: String {
        "\(epoch),\(trainLoss),\(valDice),\(valIoU),\(learningRate),\(imagesPerSecond),\(seconds)"
    }
    init(epoch: Int, trainLoss: Double, valDice: Double, valIoU: Double, learningRate: Float, imagesPerSecond: Double,
         seconds: Double) {
        self.epoch = epoch; self.trainLoss = trainLoss; self.valDice = valDice; self.valIoU = valIoU
        self.learningRate = learningRate; self.imagesPerSecond = imagesPerSecond; self.seconds = seconds
    }
    init?(csv: String) {
        let f = csv.split(separator: ",").map(String.init)
        guard f.count == 7, let e = Int(f[0]), let l = Double(f[1]), let d = Double(f[2]), let i = Double(f[3]),
              let lr = Float(f[4]), let s = Double(f[5]), let t = Double(f[6]) else { return nil }
        self.init(epoch: e, trainLoss: l, valDice: d, valIoU: i, learningRate: lr, imagesPerSecond: s, seconds: t)
    }
}

/// A training run.
public final class Trainer {
    public let options: TrainingOptions
    public let graph: Graph
    public let store: ParameterStore
    public let optimizer: Adam
    public private(set) var history: [EpochRecord] = []
    /// Names freshly initialised because no init file had them.
    public private(set) var initialisedNames: [String] = []
    let training: TrainingSet
    let validation: TrainingSet
    var rng: SplitMix64
    var schedule = ScheduleState()
    var startEpoch = 0

    /// Number of training and validation images.
    public var trainingCount: Int { training.samples.count }
    public var validationCount: Int { validation.samples.count }

    /// Paths of the side files next to the output: checkpoint, CSV log, plot.
    public var checkpointPath: String { sidePath("checkpoint.safetensors") }
    public var logPath: String { sidePath("log.csv") }
    public var plotPath: String { sidePath("curves.png") }

    func sidePath(_ suffix: String) -> String {
        let url = URL(fileURLWithPath: options.output)
        return url.deletingPathExtension().path + "." + suffix
    }

    /// Loads the data and the initial weights (or the checkpoint to resume).
    public init(options: TrainingOptions) throws {
        self.options = options
        guard options.stage == 1 || options.stage == 2 else { throw TrainingError("--stage must be 1 or 2, not \(options.stage)") }
        guard options.batch >= 1 else { throw TrainingError("--batch must be at least 1") }
        guard options.config.inputSize % 16 == 0 else { throw TrainingError("--size \(options.config.inputSize) is not a multiple of 16") }
        graph = options.stage == 1 ? Graph.stage1(options.config) : Graph.conDSeg(options.config, auxiliaryHead: true)
        store = ParameterStore(graph: graph)
        store.initialise(seed: options.seed)
        var loaded = Set<String>()
        for path in options.initFiles {
            let file = try SafeTensorsFile(path: path)
            loaded.formUnion(try store.load(file))
        }
        initialisedNames = store.names.filter { !loaded.contains($0) }
        if !options.initFiles.isEmpty && loaded.isEmpty {
            throw TrainingError("\(options.initFiles.joined(separator: ", ")): no tensor matches the \(options.config) network")
        }
        optimizer = Adam(store: store, lr: options.lr, encoderLR: options.encoderLR)
        rng = SplitMix64(seed: options.seed &* 0x9E37_79B9 &+ 17)
        training = try TrainingSet(directory: options.dataDirectory, list: options.trainList, size: options.config.inputSize)
        if options.valList != nil || options.valDirectory != nil {
            validation = try TrainingSet(directory: options.valDirectory ?? options.dataDirectory, list: options.valList,
                                         size: options.config.inputSize)
        } else {
            validation = training
        }
        if let resume = options.resume { try restore(checkpoint: resume) }
    }

    // MARK: batches

    struct Batch {
        var input: Tensor
        var augmented: Tensor?
        var target: Tensor
    }

    /// The batch the loader thread hands over (the DispatchGroup orders the accesses).
    final class BatchSlot: @unchecked Sendable {
        var batch: Batch?
    }

    /// The order of training items for one epoch, and each item's augmentation, from the run's RNG.
    func makeBatch(_ indices: [Int], rng: inout SplitMix64) -> Batch {
        let size = options.config.inputSize
        var images: [[Float]] = [], strong: [[Float]] = [], masks: [Float] = []
        for i in indices {
            let s = options.augment ? Augment.geometric(training.samples[i], rng: &rng) : training.samples[i]
            images.append(s.rgb)
            masks.append(contentsOf: s.mask)
            if options.stage == 1 { strong.append(options.augment ? Augment.strong(s.rgb, size: size, rng: &rng) : s.rgb) }
        }
        return Batch(input: Augment.batchTensor(images, size: size, config: options.config),
                     augmented: options.stage == 1 ? Augment.batchTensor(strong, size: size, config: options.config) : nil,
                     target: Tensor(masks, n: indices.count, c: 1, h: size, w: size))
    }

    /// One optimisation step on a batch; returns the loss terms.
    public func step(input: Tensor, augmented: Tensor?, target: Tensor, network: TrainingNetwork,
                     augmentedNetwork: TrainingNetwork) -> Losses.Terms {
        Self.step(stage: options.stage, input: input, augmented: augmented, target: target, network: network,
                  augmentedNetwork: augmentedNetwork, store: store, optimizer: optimizer)
    }

    /// One optimisation step of `stage` (1: both views through the stage-1 graph; 2: the whole network with every
    /// loss): zero the gradients, forward, losses, backward, Adam. Shared by the training loop and `bench --train`.
    public static func step(stage: Int, input: Tensor, augmented: Tensor?, target: Tensor, network: TrainingNetwork,
                            augmentedNetwork: TrainingNetwork, store: ParameterStore, optimizer: Adam) -> Losses.Terms {
        store.zeroGradients()
        let terms: Losses.Terms
        if stage == 1 {
            let mask = network.forward(input, training: true)["mask"]!
            let maskAug = augmentedNetwork.forward(augmented!, training: true)["mask"]!
            let (t, g, ga) = Losses.stage1(mask: mask, augmentedMask: maskAug, target: target)
            network.backward(["mask": g])
            augmentedNetwork.backward(["mask": ga])
            terms = t
        } else {
            let outputs = network.forward(input, training: true)
            let (t, grads) = Losses.stage2(outputs: outputs, target: target)
            network.backward(grads)
            terms = t
        }
        optimizer.step()
        return terms
    }

    // MARK: run

    /// Trains from the current epoch to the end (or early stop); returns the history.
    @discardableResult
    public func run() throws -> [EpochRecord] {
        let network = TrainingNetwork(graph: graph, parameters: store, threads: options.threads)
        let augmentedNetwork = TrainingNetwork(graph: graph, parameters: store, threads: options.threads)
        network.profiling = options.profile
        augmentedNetwork.profiling = options.profile
        let trace = try options.traceDirectory.map { try TrainingTrace(directory: $0, steps: options.traceSteps) }
        func writeTraceTensors(_ name: String) throws {
            try trace?.writeTensors(store, name: name, config: options.config, stage: options.stage,
                                    learningRates: optimizer.learningRates, stepCount: optimizer.stepCount)
        }
        var epochsThisRun = 0
        var epoch = startEpoch
        while epoch < options.epochs {
            if let stop = options.stopAfterEpochs, epochsThisRun >= stop { break }
            let multiplier = schedule.multiplier(schedule: options.schedule, epoch: epoch, epochs: options.epochs)
            optimizer.learningRates = ["encoder": options.encoderLR * multiplier, "rest": options.lr * multiplier]
            var order = Array(training.samples.indices)
            order.shuffle(using: &rng)
            let batches = stride(from: 0, to: order.count, by: options.batch).map {
                Array(order[$0..<min($0 + options.batch, order.count)])
            }
            // Each batch gets its own generator derived from the run's RNG, so preparing it on another thread
            // does not change the sequence.
            let seeds = batches.map { _ in rng.next() }
            let started = Date()
            var lossSum = 0.0, images = 0
            let pending = BatchSlot()
            let queue = DispatchQueue(label: "condseg.train.loader")
            let group = DispatchGroup()
            func prepare(_ k: Int) {
                let indices = batches[k], seed = seeds[k]
                group.enter()
                queue.async {
                    var local = SplitMix64(seed: seed)
                    let b = self.makeBatch(indices, rng: &local)
                    pending.batch = b
                    group.leave()
                }
            }
            if !batches.isEmpty { prepare(0) }
            for k in batches.indices {
                group.wait()
                let batch = pending.batch!
                pending.batch = nil
                if let trace {
                    if trace.recorded == 0 { try writeTraceTensors("start.safetensors") }
                    try trace.writeBatch(input: batch.input, augmented: batch.augmented, target: batch.target)
                }
                if k + 1 < batches.count && trace?.recordingLastStep != true { prepare(k + 1) }
                let terms = step(input: batch.input, augmented: batch.augmented, target: batch.target,
                                 network: network, augmentedNetwork: augmentedNetwork)
                if let trace {
                    try trace.writeGradients(store)
                    try trace.recordLosses(terms)
                    if trace.finished { break }
                }
                lossSum += terms["loss"]! * Double(batch.input.n)
                images += batch.input.n
                if options.progress {
                    let elapsed = Date().timeIntervalSince(started)
                    let width = 24, done = width * (k + 1) / batches.count
                    let bar = String(repeating: "#", count: done) + String(repeating: ".", count: width - done)
                    writeStandardError(String(
                        format: "\repoch %d/%d [%@] %d/%d loss %.4f %.2f img/s", epoch + 1, options.epochs, bar, k + 1,
                        batches.count, lossSum / Double(images), Double(images) / max(elapsed, 1e-9)))
                }
            }
            if let trace {  // a trace ends within the first epoch, before validation and export
                try writeTraceTensors("end.safetensors")
                if options.progress {
                    writeStandardError("\ntrace of \(trace.recorded) steps written to \(trace.directory)\n")
                }
                return history
            }
            let seconds = Date().timeIntervalSince(started)
            if options.profile {
                var total = network.profile
                for (k, v) in augmentedNetwork.profile { total[k, default: 0] += v }
                let lines = total.sorted { $0.value > $1.value }.map {
                    "  " + $0.key.padding(toLength: 28, withPad: " ", startingAt: 0) + String(format: "%8.2f s", $0.value)
                }
                writeStandardError("\nprofile (cumulative):\n" + lines.joined(separator: "\n") + "\n")
            }
            let scores = validate(network: network)
            let record = EpochRecord(epoch: epoch + 1, trainLoss: lossSum / Double(max(images, 1)), valDice: scores.dice,
                                     valIoU: scores.iou, learningRate: options.lr * multiplier,
                                     imagesPerSecond: Double(images) / max(seconds, 1e-9), seconds: seconds)
            history.append(record)
            if options.progress {
                writeStandardError(String(format: "\repoch %d/%d loss %.4f val mDSC %.4f mIoU %.4f %.2f img/s\n",
                    epoch + 1, options.epochs, record.trainLoss, record.valDice, record.valIoU, record.imagesPerSecond))
            }
            let best = schedule.record(score: scores.iou, schedule: options.schedule, patience: options.patience)
            if best { try exportModel(to: options.output) }
            epoch += 1
            epochsThisRun += 1
            startEpoch = epoch
            try writeLog()
            try saveCheckpoint(to: checkpointPath)
            if schedule.epochsWithoutImprovement >= options.patience {
                if options.progress { writeStandardError("early stop: no better mIoU in \(options.patience) epochs\n") }
                break
            }
        }
        return history
    }

    /// Mean scores over the validation set (evaluation-mode forward, prediction > 0.5 vs ground truth ≥ 0.5).
    public func validate(network: TrainingNetwork? = nil) -> SegmentationScores {
        let net = network ?? TrainingNetwork(graph: graph, parameters: store, threads: options.threads)
        let size = options.config.inputSize
        var all: [SegmentationScores] = []
        for start in stride(from: 0, to: validation.samples.count, by: options.batch) {
            let chunk = Array(validation.samples[start..<min(start + options.batch, validation.samples.count)])
            let input = Augment.batchTensor(chunk.map(\.rgb), size: size, config: options.config)
            let mask = net.forward(input, training: false)["mask"]!
            for (k, sample) in chunk.enumerated() {
                let p = (0..<(size * size)).map { mask.data[k * size * size + $0] > 0.5 }
                all.append(SegmentationScores(prediction: p, truth: sample.mask.map { $0 >= 0.5 }))
            }
        }
        return SegmentationScores.mean(all)
    }

    // MARK: files

    /// Writes the weights with `condseg.*` metadata (stage 2: loads in the runtime; stage 1: encoder + head,
    /// for stage 2's --init).
    public func exportModel(to path: String) throws {
        var metadata = options.config.metadata
        metadata["condseg.trained_by"] = "condseg train --stage \(options.stage)"
        try store.export(to: path, metadata: metadata, batchesTracked: Int64(optimizer.stepCount))
    }

    /// Weights, Adam moments, epoch, RNG and schedule state in one safetensors file (atomic write).
    public func saveCheckpoint(to path: String) throws {
        var metadata = options.config.metadata
        metadata["train.stage"] = String(options.stage)
        metadata["train.epoch"] = String(startEpoch)
        metadata["train.steps"] = String(optimizer.stepCount)
        metadata["train.rng"] = String(rng.state)
        metadata["train.schedule_scale"] = String(schedule.scale)
        metadata["train.best_score"] = String(schedule.bestScore)
        metadata["train.epochs_without_improvement"] = String(schedule.epochsWithoutImprovement)
        metadata["train.plateau_counter"] = String(schedule.plateauCounter)
        metadata["train.history"] = history.map(\.csv).joined(separator: ";")
        var writer = SafeTensorsWriter(metadata: metadata)
        for name in store.names {
            try writer.add("param." + name, floats: store.values[name]!.array, shape: [store.values[name]!.count])
        }
        for name in store.trainableNames {
            try writer.add("adam.m." + name, floats: optimizer.firstMoments[name]!, shape: [optimizer.firstMoments[name]!.count])
            try writer.add("adam.v." + name, floats: optimizer.secondMoments[name]!, shape: [optimizer.secondMoments[name]!.count])
        }
        try writer.write(to: path)
    }

    func restore(checkpoint path: String) throws {
        let file = try SafeTensorsFile(path: path)
        let m = file.metadata
        func field<T>(_ key: String, _ parse: (String) -> T?) throws -> T {
            guard let text = m[key], let value = parse(text) else { throw TrainingError("\(path): checkpoint metadata \(key) missing or invalid") }
            return value
        }
        guard try field("train.stage", Int.init) == options.stage else {
            throw TrainingError("\(path): checkpoint is for stage \(m["train.stage"] ?? "?"), not \(options.stage)")
        }
        let config = try ModelConfig(metadata: m, file: path)
        guard config == options.config else { throw TrainingError("\(path): checkpoint configuration (\(config)) differs from the requested one (\(options.config))") }
        var params: [String: [Float]] = [:], first: [String: [Float]] = [:], second: [String: [Float]] = [:]
        for name in file.names {
            if name.hasPrefix("param.") { params[String(name.dropFirst(6))] = try file.floats(name) }
            else if name.hasPrefix("adam.m.") { first[String(name.dropFirst(7))] = try file.floats(name) }
            else if name.hasPrefix("adam.v.") { second[String(name.dropFirst(7))] = try file.floats(name) }
        }
        do { try store.restore(params) } catch let e as TrainingError { throw TrainingError("\(path): \(e.problem)") }
        do { try optimizer.restore(first: first, second: second, steps: try field("train.steps", Int.init)) }
        catch let e as TrainingError { throw TrainingError("\(path): \(e.problem)") }
        startEpoch = try field("train.epoch", Int.init)
        rng = SplitMix64(seed: try field("train.rng", UInt64.init))
        schedule.scale = try field("train.schedule_scale", Float.init)
        schedule.bestScore = try field("train.best_score", Double.init)
        schedule.epochsWithoutImprovement = try field("train.epochs_without_improvement", Int.init)
        schedule.plateauCounter = try field("train.plateau_counter", Int.init)
        history = (m["train.history"] ?? "").split(separator: ";").compactMap { EpochRecord(csv: String($0)) }
        initialisedNames = []
    }

    /// CSV log (atomic) and the PNG plot of training loss and validation mDSC/mIoU.
    func writeLog() throws {
        let text = ([EpochRecord.header] + history.map(\.csv)).joined(separator: "\n") + "\n"
        try AtomicFile.write(text, to: logPath)
        try ImageCodec.writePNG(CurvePlot.render(history: history), to: plotPath)
    }
}
