// TrainingTrace.swift — a record of the first steps of a training run (`condseg train --trace DIR`), made so that
// another implementation can repeat exactly those steps and be compared with ours at full size on real data:
// - start.safetensors: every tensor of the network before the first step (loaded weights, the freshly initialised
//   ones, BatchNorm running statistics), with the configuration and the two learning rates as metadata;
// - input-NNN.npy, target-NNN.npy (and augmented-NNN.npy in stage 1): step NNN's batch exactly as the network saw
//   it (augmented, channel order and scale applied; N×C×S×S float32);
// - gradients-NNN.safetensors: the gradient of every trainable tensor at step NNN (before Adam's update);
// - losses.json: each step's loss terms;
// - end.safetensors: every tensor after the last traced step.
// benchmarks/torch_condseg.py --replay DIR runs the same steps in PyTorch and compares.

import CondSegCore
import CondSegIO
import CondSegImage
import Foundation

/// Writes a training trace; the trainer calls it around each step and stops when `finished`.
final class TrainingTrace {
    let directory: String
    let steps: Int
    private(set) var recorded = 0
    private var losses: [[String: Double]] = []

    /// Creates `directory` (it must not hold an earlier trace, so two runs' files never mix).
    init(directory: String, steps: Int) throws {
        guard steps >= 1 else { throw TrainingError("--trace-steps must be at least 1") }
        self.directory = directory
        self.steps = steps
        let fm = FileManager.default
        if fm.fileExists(atPath: (directory as NSString).appendingPathComponent("start.safetensors")) {
            throw OutputError(path: directory, problem: "already holds a trace (start.safetensors); choose an empty folder")
        }
        try AtomicFile.makeFolder(directory)
    }

    var finished: Bool { recorded >= steps }

    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// Whether the step about to be recorded is the last one (the loader need not prepare another batch).
    var recordingLastStep: Bool { recorded + 1 >= steps }

    /// Every tensor of `store`, written as the trainer exports a model (so a trace's tensors load in the runtime and
    /// in PyTorch), with the configuration and learning rates as metadata.
    func writeTensors(_ store: ParameterStore, name: String, config: ModelConfig, stage: Int,
                      learningRates: [String: Float], stepCount: Int) throws {
        var metadata = config.metadata
        metadata["train.stage"] = String(stage)
        metadata["train.steps"] = String(stepCount)
        metadata["train.lr"] = String(learningRates["rest"]!)
        metadata["train.encoder_lr"] = String(learningRates["encoder"]!)
        try store.export(to: path(name), metadata: metadata, batchesTracked: Int64(stepCount))
    }

    /// Step `recorded`'s batch, before it runs.
    func writeBatch(input: Tensor, augmented: Tensor?, target: Tensor) throws {
        let k = String(format: "%03d", recorded)
        func write(_ t: Tensor, _ prefix: String) throws {
            try NPY.write(t.array, shape: [t.n, t.c, t.h, t.w], to: path("\(prefix)-\(k).npy"))
        }
        try write(input, "input")
        if let augmented { try write(augmented, "augmented") }
        try write(target, "target")
    }

    /// Step `recorded`'s gradients, after its backward (they stay in the store until the next step zeroes them).
    func writeGradients(_ store: ParameterStore) throws {
        var writer = SafeTensorsWriter()
        for name in store.trainableNames {
            try writer.add(name, floats: store.gradients[name]!.array, shape: store.shapes[name]!)
        }
        try writer.write(to: path(String(format: "gradients-%03d.safetensors", recorded)))
    }

    /// Step `recorded`'s loss terms, after it ran; the losses file is rewritten each step.
    func recordLosses(_ terms: Losses.Terms) throws {
        losses.append(terms)
        recorded += 1
        // Written by hand: Swift's description of a Double is its shortest exact form, which JSONSerialization's
        // output is not (it loses the last digit); a non-finite loss is written as null.
        let steps = losses.map { terms in
            "  {" + terms.keys.sorted().map { "\"\($0)\": \(terms[$0]!.isFinite ? "\(terms[$0]!)" : "null")" }
                .joined(separator: ", ") + "}"
        }
        try AtomicFile.write("[\n" + steps.joined(separator: ",\n") + "\n]\n", to: path("losses.json"))
    }
}
