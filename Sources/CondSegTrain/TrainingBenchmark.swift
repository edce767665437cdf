// TrainingBenchmark.swift — times the trainer's optimisation step on random data (`condseg bench --train`):
// the same graph, losses, backward and Adam as `condseg train`, without a data set, so the step's speed can be
// compared with a peer (benchmarks/train_compare.py runs PyTorch side by side).

import CondSegCore
import CondSegIO
import Foundation

/// A network, its parameters and optimiser, and one fixed random batch, ready to run training steps.
public final class TrainingBenchmark {
    public let stage: Int
    public let graph: Graph
    public let store: ParameterStore
    let optimizer: Adam
    let network: TrainingNetwork
    let augmentedNetwork: TrainingNetwork
    let input: Tensor
    let augmented: Tensor?
    let target: Tensor

    /// `initFiles` are loaded over a seeded initialisation (tensors they lack stay freshly initialised, e.g. the
    /// auxiliary head of a shipped model). The batch: uniform [0, 1) inputs and a random binary mask.
    public init(config: ModelConfig, stage: Int, batch: Int, threads: Int, initFiles: [String] = [],
                lr: Float = 1e-4, encoderLR: Float = 1e-5, seed: UInt64 = 1) throws {
        guard stage == 1 || stage == 2 else { throw TrainingError("--stage must be 1 or 2, not \(stage)") }
        guard batch >= 1 else { throw TrainingError("--batch must be at least 1") }
        self.stage = stage
        graph = stage == 1 ? Graph.stage1(config) : Graph.conDSeg(config, auxiliaryHead: true)
        store = ParameterStore(graph: graph)
        store.initialise(seed: seed)
        for path in initFiles { _ = try store.load(try SafeTensorsFile(path: path)) }
        optimizer = Adam(store: store, lr: lr, encoderLR: stage == 1 ? lr : encoderLR)
        network = TrainingNetwork(graph: graph, parameters: store, threads: threads)
        augmentedNetwork = TrainingNetwork(graph: graph, parameters: store, threads: threads)
        var rng = SplitMix64(seed: seed &+ 99)
        let side = config.inputSize
        func uniform(_ count: Int) -> [Float] { (0..<count).map { _ in Float(rng.next() >> 40) / Float(1 << 24) } }
        input = Tensor(uniform(batch * 3 * side * side), n: batch, c: 3, h: side, w: side)
        augmented = stage == 1 ? Tensor(uniform(batch * 3 * side * side), n: batch, c: 3, h: side, w: side) : nil
        target = Tensor(uniform(batch * side * side).map { $0 < 0.2 ? 1 : 0 }, n: batch, c: 1, h: side, w: side)
    }

    /// Per op kind seconds while `profiling` (forward and backward).
    public var profiling: Bool {
        get { network.profiling }
        set { network.profiling = newValue; augmentedNetwork.profiling = newValue }
    }

    /// Seconds per op kind accumulated while profiling, both views summed.
    public var profile: [String: Double] {
        var total = network.profile
        for (k, v) in augmentedNetwork.profile { total[k, default: 0] += v }
        return total
    }

    /// One step (forward, losses, backward, Adam); returns the total loss.
    @discardableResult
    public func step() -> Double {
        let terms = Trainer.step(stage: stage, input: input, augmented: augmented, target: target, network: network,
                                 augmentedNetwork: augmentedNetwork, store: store, optimizer: optimizer)
        return terms["loss"] ?? .nan
    }
}
