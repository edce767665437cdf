// GraphRoleTests.swift — node roles set by the graph builder (ConDSegGraph.swift): the auxiliary head, the encoder
// and the mask logits are exactly the parts the earlier module-name rules found (written out here as explicit
// module lists and tensor counts), on the default configuration, on resnet50 and on the stage-1 graph.

import CondSegCore
import XCTest

final class GraphRoleTests: XCTestCase {
    static let defaultConfig = ModelConfig(encoder: .resnet18, width: 64, mid: 256, heads: 4, inputSize: 256)

    /// The encoder's modules (torchvision names under layer0 … layer3) of each configuration.
    static let encoderModules: [EncoderKind: [String]] = [
        .resnet18: ["layer0", "layer1.1.0", "layer1.1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1"],
        .resnet50: ["layer0", "layer1.1.0", "layer1.1.1", "layer1.1.2",
                    "layer2.0", "layer2.1", "layer2.2", "layer2.3",
                    "layer3.0", "layer3.1", "layer3.2", "layer3.3", "layer3.4", "layer3.5"],
    ]

    /// Tensors read in the encoder: layer0 has a conv and a BatchNorm (5); a basic block 10, a bottleneck 15; each
    /// downsample adds 5 (resnet18: layer2.0, layer3.0; resnet50 also layer1.1.0, where 64 → 256 channels).
    static let encoderTensorCounts: [EncoderKind: Int] = [.resnet18: 5 + 6 * 10 + 2 * 5, .resnet50: 5 + 13 * 15 + 3 * 5]

    private func tensors(_ graph: Graph, under modules: [String]) -> Set<String> {
        Set(graph.parameters.keys.filter { name in modules.contains { name.hasPrefix($0 + ".") } })
    }

    func testEncoderRoleCoversTheEncoderModules() {
        for config in [Self.defaultConfig, ModelConfig.release] {
            let modules = Self.encoderModules[config.encoder]!
            for graph in [Graph.conDSeg(config), Graph.conDSeg(config, auxiliaryHead: true), Graph.stage1(config)] {
                let encoder = graph.parameters(role: .encoder)
                XCTAssertEqual(encoder, tensors(graph, under: modules), "\(config.encoder)")
                XCTAssertEqual(encoder.count, Self.encoderTensorCounts[config.encoder], "\(config.encoder)")
                // Every node named under layer0 … layer3 (the max pool "layer1.0" included) is an encoder node and
                // no other is.
                for node in graph.nodes where node.kind != .input {
                    let inEncoder = ["layer0", "layer1", "layer2", "layer3"].contains(node.group)
                    XCTAssertEqual(node.role == .encoder, inEncoder, node.name)
                }
            }
        }
    }

    func testAuxiliaryHeadRoleIsTheAuxHeadAndOnlyInTheTrainingGraph() {
        for config in [Self.defaultConfig, ModelConfig.release] {
            let training = Graph.conDSeg(config, auxiliaryHead: true)
            let aux = training.parameters(role: .auxiliaryHead)
            // Three branches of five CBRs (conv + BatchNorm: 5 tensors) and a 1×1 conv with bias (2).
            XCTAssertEqual(aux.count, 3 * (5 * 5 + 2))
            XCTAssertEqual(aux, tensors(training, under: ["aux_head.branch_fg", "aux_head.branch_bg", "aux_head.branch_uc"]))
            XCTAssertEqual(Set(training.nodes.filter { $0.role == .auxiliaryHead }.map(\.group)), ["aux_head"])
            XCTAssertTrue(Graph.conDSeg(config).parameters(role: .auxiliaryHead).isEmpty)
        }
    }

    func testGateLogitAndMaskRoles() {
        let graph = Graph.conDSeg(Self.defaultConfig)
        func names(_ role: NodeRole) -> Set<String> { Set(graph.nodes.filter { $0.role == role }.map(\.name)) }
        XCTAssertEqual(names(.maskLogits), ["output_block.c3"])
        XCTAssertEqual(names(.attentionLogits).count, 8)
        XCTAssertTrue(names(.attentionLogits).allSatisfy { $0.hasSuffix(".attn_fg") || $0.hasSuffix(".attn_bg") })
        // A channel gate is the pools, fc1, fc2, their sum and the sigmoid; the multiplication is not part of it.
        XCTAssertEqual(Set(names(.channelGate).map { String($0.split(separator: ".").last!) }),
                       ["avg_pool", "max_pool", "fc1", "fc2", "sum", "sigmoid"])
        XCTAssertEqual(Set(names(.spatialGate).map { String($0.split(separator: ".").last!) }),
                       ["mean_max", "conv1", "sigmoid"])
        XCTAssertTrue(graph.nodes.filter { if case .mul = $0.kind { return true } else { return false } }
            .allSatisfy { $0.role == .body })
        XCTAssertEqual(Set(Graph.stage1(Self.defaultConfig).nodes.filter { $0.role == .maskLogits }.map(\.name)), ["head.conv_fuse"])
        // Small graphs built by hand default to `.body`.
        var g = Graph()
        let x = g.add(.input, [], name: "input", channels: 3, stride: 1)
        g.add(.sigmoid, [x], name: "s", channels: 3, stride: 1)
        XCTAssertTrue(g.nodes.allSatisfy { $0.role == .body })
    }
}
