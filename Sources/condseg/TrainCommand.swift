// TrainCommand.swift — `condseg train`: ConDSeg's two training stages (Consistency Reinforcement, then the whole
// network with the decoupling losses), exporting float weights with `condseg.*` metadata. Parses options and
// hands them to CondSegTrain.Trainer.

import ArgumentParser
import CondSegCore
import CondSegIO
import CondSegTrain
import Foundation

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train ConDSeg (stage 1: encoder consistency; stage 2: whole network) and export float weights.",
        discussion: """
        DIR holds images/ and masks/ (Kvasir-SEG layout) or image/mask pairs; --train-list/--val-list name the \
        images of each split (default: train on all, validate on the same). Stage 2 takes the stage-1 output (or \
        any ConDSeg file, e.g. to fine-tune) as --init; tensors it lacks (the auxiliary head) are freshly \
        initialised. Beside --out the trainer writes OUT.checkpoint.safetensors (resume with --resume), \
        OUT.log.csv and OUT.curves.png. --out always holds the weights with the best validation mIoU. To \
        fine-tune a trained model, use rates ten times below the defaults (--lr 1e-5 --encoder-lr 1e-6): the \
        defaults, made for training from stage 1, cost the shipped model 1.2 points of val mDSC in one epoch.
        Example: condseg train --stage 2 --data kvasir-seg --train-list kvasir-seg/train.txt \
        --val-list kvasir-seg/val.txt --init stage1.safetensors --out model.safetensors
        """)

    @Option(name: .long, parsing: .unconditional, help: "1 (encoder + head, consistency reinforcement) or 2 (whole network).")
    var stage: Int = 2
    @Option(name: .long, help: "Data set folder (images/ and masks/).", transform: nonEmptyPath)
    var data: String
    @Option(name: .customLong("train-list"), help: "Names of the training images, one per line.", transform: nonEmptyPath)
    var trainList: String?
    @Option(name: .customLong("val-list"), help: "Names of the validation images, one per line.", transform: nonEmptyPath)
    var valList: String?
    @Option(name: .long, help: "Encoder: resnet18, resnet34 or resnet50 (default: from --init, else resnet18).")
    var encoder: String?
    @Option(name: .long, parsing: .unconditional, help: "Decoder width W (default: from --init, else 64).")
    var width: Int?
    @Option(name: .long, parsing: .unconditional, help: "Middle channels M of the decoupling branches (default: from --init, else 256).")
    var mid: Int?
    @Option(name: .long, parsing: .unconditional, help: madeForSizeHelp("from --init, else 256"))
    var size: String?

    /// --size, checked by the rule every size option shares; nil when not given.
    func inputSize() throws -> Int? { try size.map { try parseInputSize($0, meaning: "the model is made for N×N", captureHint: false) } }
    @Option(name: .long, parsing: .unconditional, help: "Images per batch.")
    var batch: Int = 8
    @Option(name: .long, parsing: .unconditional, help: "Epochs.")
    var epochs: Int = 100
    @Option(name: .long, parsing: .unconditional, help: "Learning rate of the decoder (and of everything in stage 1).")
    var lr: Float = 1e-4
    @Option(name: .customLong("encoder-lr"), parsing: .unconditional, help: "Learning rate of the encoder (default: 1e-5 in stage 2, --lr in stage 1).")
    var encoderLR: Float?
    @Option(name: .long, help: "Initial weights (safetensors); repeat to layer several files.", transform: nonEmptyPath)
    var `init`: [String] = []
    @Option(name: .long, help: "Checkpoint to resume (OUT.checkpoint.safetensors of an earlier run).", transform: nonEmptyPath)
    var resume: String?
    @Option(name: .long, help: "Where to write the trained weights.", transform: nonEmptyPath)
    var out: String?
    @Option(name: .long, help: "Learning-rate schedule: plateau or cosine.")
    var schedule: String = "plateau"
    @Option(name: .long, parsing: .unconditional, help: "Epochs without a better validation mIoU before stopping.")
    var patience: Int = 10
    @Option(name: .long, parsing: .unconditional, help: "Random seed (initialisation, shuffling, augmentation).")
    var seed: UInt64 = 1
    @Option(name: .long, parsing: .unconditional, help: "Threads, 1-256.")
    var threads: Int = 2
    @Flag(name: .long, help: "Print the seconds spent per op kind after each epoch.")
    var profile = false
    @Option(name: .long, help: ArgumentHelp(
        "Instead of training: record the first --trace-steps steps (at most one epoch) in this folder and stop.",
        discussion: "The record holds the starting weights, each step's batch and loss terms, and the weights after the last step; benchmarks/torch_condseg.py --replay repeats the steps in PyTorch and compares."), transform: nonEmptyPath)
    var trace: String?
    @Option(name: .customLong("trace-steps"), parsing: .unconditional, help: "Steps recorded with --trace.")
    var traceSteps: Int = 5

    func validate() throws {
        if out == nil && trace == nil { throw ValidationError("Missing expected argument '--out <out>'") }
        guard threads >= 1 && threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
        _ = try inputSize()
        guard stage == 1 || stage == 2 else { throw ValidationError("--stage must be 1 or 2 (got \(stage))") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1 (got \(batch))") }
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1 (got \(epochs))") }
        guard lr > 0 && lr.isFinite else { throw ValidationError("--lr must be a positive number (got \(lr))") }
        if let encoderLR, !(encoderLR >= 0 && encoderLR.isFinite) {
            throw ValidationError("--encoder-lr must be a number, 0 or more (got \(encoderLR))")
        }
        guard patience >= 1 else { throw ValidationError("--patience must be at least 1 epoch (got \(patience))") }
        guard traceSteps >= 1 else { throw ValidationError("--trace-steps must be at least 1 (got \(traceSteps))") }
    }

    mutating func run() throws {
        if let out {
            var plan = OutputPlan()
            for file in self.`init` { plan.read(file, as: "--init file") }
            if let trainList { plan.read(trainList, as: "--train-list") }
            if let valList { plan.read(valList, as: "--val-list") }
            plan.write(out, as: "trained model (--out)")
            try plan.check()
            try AtomicFile.checkWritable(out)
        }
        if let trace { try AtomicFile.checkFolderUsable(trace) }
        var options = TrainingOptions()
        options.stage = stage
        options.dataDirectory = data
        options.trainList = trainList
        options.valList = valList
        // Configuration: the first --init file's metadata, overridden by explicit options.
        var config = ModelConfig(encoder: .resnet18, width: 64, mid: 256, heads: 4, inputSize: 256)
        if let first = self.`init`.first {
            let file = try SafeTensorsFile(path: first)
            if ModelConfig.hasConfigurationMetadata(file.metadata) {
                config = try ModelConfig(metadata: file.metadata, file: first)
            } else if let inferred = try? ModelConfig.inferred(from: file) {
                config = inferred
                printError("note: \(inferred.inferenceNote(file: first))")
            }
        }
        config = try config.overridden(encoder: encoder, width: width, mid: mid, size: inputSize())
        options.config = config
        options.batch = batch
        options.epochs = epochs
        options.lr = lr
        options.encoderLR = encoderLR ?? (stage == 1 ? lr : 1e-5)
        options.initFiles = self.`init`
        options.resume = resume
        options.output = out ?? (trace! as NSString).appendingPathComponent("model.safetensors")
        options.traceDirectory = trace
        options.traceSteps = traceSteps
        guard let kind = LearningRateSchedule(rawValue: schedule) else {
            throw ValidationError("--schedule must be plateau or cosine, not \(schedule)")
        }
        options.schedule = kind
        options.patience = patience
        options.seed = seed
        options.threads = max(1, threads)
        options.profile = profile
        let trainer = try Trainer(options: options)
        writeStandardError("""
            training stage \(stage): \(config), \(trainer.trainingCount) training / \(trainer.validationCount) validation images, \
            batch \(batch), \(ConDSegModel.parameterCount(trainer.graph)) parameters\
            \(trainer.initialisedNames.isEmpty ? "" : ", \(trainer.initialisedNames.count) tensors freshly initialised")\n
            """)
        let history = try trainer.run()
        if let trace {
            print("trace in \(trace) (replay: python3 benchmarks/torch_condseg.py --replay \(trace))")
            return
        }
        if let best = history.max(by: { $0.valIoU < $1.valIoU }) {
            print("best epoch \(best.epoch): val mDSC \(String(format: "%.4f", best.valDice)) mIoU \(String(format: "%.4f", best.valIoU)) -> \(options.output)")
        }
        print("log \(trainer.logPath), curves \(trainer.plotPath), checkpoint \(trainer.checkpointPath)")
    }
}
