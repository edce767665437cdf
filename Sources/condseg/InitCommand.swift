// InitCommand.swift — `condseg init`: writes a ConDSeg model of any configuration with freshly initialised,
// seeded weights (PyTorch's default initialisation, BatchNorm as identity) and the `condseg.*` metadata. Two uses:
// the starting point of a training run from scratch, and a model of a configuration no trained file exists for
// (the authors' release configuration, resnet50 W 128) to measure speed with `bench`.

import ArgumentParser
import CondSegCore
import CondSegIO
import CondSegTrain
import Foundation

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a model with freshly initialised (seeded random) weights, for training or speed measurement.",
        discussion: """
            The weights are random: the model segments nothing until trained. Example (the release configuration):
              condseg init --encoder resnet50 --width 128 --mid 512 --out /tmp/release-random.safetensors
              condseg bench --model /tmp/release-random.safetensors --threads 1
            """)

    @Option(name: .long, help: "Encoder: resnet18, resnet34 or resnet50 (resnet50 is the release configuration).")
    var encoder: String = "resnet50"

    @Option(name: .long, parsing: .unconditional, help: "Decoder width W.")
    var width: Int = 128

    @Option(name: .long, parsing: .unconditional, help: "Middle channels M of the decoupling branches.")
    var mid: Int = 512

    @Option(name: .long, parsing: .unconditional, help: "Attention heads of the CDFA window attention.")
    var heads: Int = 4

    @Option(name: .long, parsing: .unconditional, help: madeForSizeHelp("256"))
    var size: String?

    /// --size, checked by the rule every size option shares, else 256.
    func inputSize() throws -> Int { try size.map { try parseInputSize($0, meaning: "the model is made for N×N", captureHint: false) } ?? 256 }

    @Option(name: .long, parsing: .unconditional, help: "Random seed.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Where to write the model (.safetensors).", transform: nonEmptyPath)
    var out: String

    func validate() throws {
        guard EncoderKind(rawValue: encoder) != nil else {
            throw ValidationError("--encoder must be one of \(EncoderKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard width >= 16, width % 16 == 0 else { throw ValidationError("--width must be a positive multiple of 16") }
        guard mid >= 1 else { throw ValidationError("--mid must be positive") }
        guard heads >= 1, width % heads == 0 else { throw ValidationError("--heads must divide --width") }
        _ = try inputSize()
    }

    func run() throws {
        let size = try inputSize()
        try AtomicFile.checkWritable(out)
        let config = ModelConfig(encoder: EncoderKind(rawValue: encoder)!, width: width, mid: mid, heads: heads,
                                 inputSize: size)
        let graph = Graph.conDSeg(config)
        let store = ParameterStore(graph: graph)
        store.initialise(seed: seed)
        try store.export(to: out, metadata: config.metadata)
        _ = try ConDSegModel.load(path: out)   // the file loads and matches its graph
        let gmac = Double(graph.macs(inputSize: size).reduce(0, +)) / 1e9
        print("wrote \(out): \(config), \(ConDSegModel.parameterCount(graph)) parameters, \(String(format: "%.2f", gmac)) GMAC per \(size)×\(size) frame (random weights, seed \(seed))")
    }
}
