// OptimizerTests.swift — Adam (Optimizer.swift) against PyTorch's update written out by hand, and its parameter
// groups: the encoder group is the tensors of nodes with the role `.encoder`, the same tensors the earlier rule
// (names under layer0. … layer3.) picked, checked on the default configuration, resnet50 and the stage-1 graph.

import CondSegCore
@testable import CondSegTrain
import XCTest

final class OptimizerTests: XCTestCase {
    /// input → "layer0" (conv + BatchNorm, an encoder node) → "head" (1×1 conv with bias).
    private func smallStore() -> ParameterStore {
        var g = Graph()
        let x = g.add(.input, [], name: "input", channels: 3, stride: 1)
        let e = g.add(.conv(ConvSpec(weight: "layer0.0.weight", batchNorm: "layer0.1", inChannels: 3, outChannels: 2,
                                     kernel: 3, padding: 1, relu: true)), [x], name: "layer0", channels: 2, stride: 1,
                      role: .encoder)
        g.add(.conv(ConvSpec(weight: "head.weight", bias: "head.bias", inChannels: 2, outChannels: 1, kernel: 1)), [e],
              name: "head", channels: 1, stride: 1)
        return ParameterStore(graph: g)
    }

    private func fill(_ store: ParameterStore, _ name: String, _ f: (Int) -> Float) {
        let p = store.value(name)
        for i in 0..<store.values[name]!.count { p[i] = f(i) }
    }

    private func setGradients(_ store: ParameterStore, _ f: (String, Int) -> Float) {
        for name in store.trainableNames {
            let g = store.gradient(name)
            for i in 0..<store.gradients[name]!.count { g[i] = f(name, i) }
        }
    }

    func testTwoStepsMatchTheHandComputedUpdate() {
        let store = smallStore()
        fill(store, "head.bias") { _ in 1 }
        let adam = Adam(store: store, lr: 0.01, encoderLR: 0.001)
        setGradients(store) { _, _ in 0.5 }
        adam.step()
        setGradients(store) { _, _ in -0.25 }
        adam.step()
        // By hand (β1 0.9, β2 0.999, ε 1e-8, lr 0.01, p 1, g 0.5 then −0.25):
        // step 1: m = 0.05, v = 0.00025, m̂ = 0.5, v̂ = 0.25, p = 1 − 0.01·0.5/(0.5 + 1e-8) = 0.9900000002;
        // step 2: m = 0.02, v = 0.00031225, m̂ = 0.02/0.19, v̂ = 0.00031225/0.001999, p = 0.98733662987…
        XCTAssertEqual(Double(store.value("head.bias")[0]), 0.9873366298707846, accuracy: 2e-7)
        XCTAssertEqual(adam.stepCount, 2)
        // The moments carry float's rounding of 1 − β (1 − 0.999 is 1.3e-5 off in float, as in PyTorch).
        XCTAssertEqual(adam.firstMoments["head.bias"]![0], 0.02, accuracy: 1e-8)
        XCTAssertEqual(adam.secondMoments["head.bias"]![0], 0.00031225, accuracy: 1e-8)
    }

    func testEveryTensorFollowsTheFormulaWithItsGroupsRate() {
        let store = smallStore()
        for name in store.names { fill(store, name) { i in Float(i % 7) * 0.125 - 0.3 } }
        let before = Dictionary(uniqueKeysWithValues: store.names.map { ($0, store.values[$0]!.array) })
        let adam = Adam(store: store, lr: 0.01, encoderLR: 0.001)
        func gradient(_ step: Int, _ name: String, _ i: Int) -> Double {
            Double(Float((i * 37 + name.count * 11 + step * 5) % 23 - 11) / 16)
        }
        for step in 1...3 {
            setGradients(store) { name, i in Float(gradient(step, name, i)) }
            adam.step()
        }
        for name in store.names {
            let after = store.values[name]!.array
            if ParameterStore.isRunningStatistic(name) {
                XCTAssertEqual(after, before[name]!, "\(name): running statistics are not the optimiser's")
                continue
            }
            let lr = name.hasPrefix("layer0.") ? 0.001 : 0.01
            for i in after.indices {
                var p = Double(before[name]![i]), m = 0.0, v = 0.0
                for t in 1...3 {
                    let g = gradient(t, name, i)
                    m = 0.9 * m + 0.1 * g
                    v = 0.999 * v + 0.001 * g * g
                    let mHat = m / (1 - pow(0.9, Double(t))), vHat = v / (1 - pow(0.999, Double(t)))
                    p -= lr * mHat / (vHat.squareRoot() + 1e-8)
                }
                XCTAssertEqual(Double(after[i]), p, accuracy: 1e-6 + 1e-4 * lr, "\(name)[\(i)]")
            }
        }
    }

    func testEncoderGroupIsTheEncoderTensorsOnDefaultResnet50AndStage1() {
        let configs = [ModelConfig(encoder: .resnet18, width: 64, mid: 256, heads: 4, inputSize: 256),
                       ModelConfig(encoder: .resnet50, width: 16, mid: 32, heads: 4, inputSize: 32)]
        // Trainable encoder tensors: conv weight, BatchNorm weight and bias per convolution; layer0 has 1 conv,
        // a basic block 2, a bottleneck 3, a downsample 1 (resnet18: 2 downsamples; resnet50: 3).
        let expectedCounts: [EncoderKind: Int] = [.resnet18: 3 * (1 + 6 * 2 + 2), .resnet50: 3 * (1 + 13 * 3 + 3)]
        for config in configs {
            for graph in [Graph.conDSeg(config, auxiliaryHead: true), Graph.stage1(config)] {
                let store = ParameterStore(graph: graph)
                let adam = Adam(store: store, lr: 1e-4, encoderLR: 1e-5)
                let encoder = Set(store.trainableNames.filter { adam.group(of: $0) == "encoder" })
                let byName = Set(store.trainableNames.filter { name in
                    ["layer0.", "layer1.", "layer2.", "layer3."].contains { name.hasPrefix($0) }
                })
                XCTAssertEqual(encoder, byName, "\(config.encoder)")
                XCTAssertEqual(encoder.count, expectedCounts[config.encoder], "\(config.encoder)")
                XCTAssertTrue(store.trainableNames.filter { !encoder.contains($0) }.allSatisfy { adam.group(of: $0) == "rest" })
            }
        }
    }
}
