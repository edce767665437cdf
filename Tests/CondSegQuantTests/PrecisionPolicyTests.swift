// PrecisionPolicyTests.swift — the standard precision policy (Calibrator.swift) decides by node role; these tests
// check that it keeps exactly the convolutions the earlier name rules kept float (channel-attention fc1/fc2,
// spatial-attention conv1, CDFA attn_fg/attn_bg, output_block.c3), written out below, on the default configuration
// and on the release's resnet50, and that the float tensors it implies are those of the committed default table.

import CondSegCore
import CondSegQuant
import CondSegRuntime
import CondSegTestSupport
import Foundation
import XCTest

final class PrecisionPolicyTests: XCTestCase {
    static let defaultConfig = ModelConfig(encoder: .resnet18, width: 64, mid: 256, heads: 4, inputSize: 256)

    /// The convolutions the standard policy keeps float, by module path (the channel-attention fc layers run twice
    /// each, once on the average and once on the max pool, so each name is two nodes).
    static let floatConvolutions: Set<String> = [
        "dconv1.c1.1.fc1", "dconv1.c1.1.fc2", "dconv1.c2.1.fc1", "dconv1.c2.1.fc2",
        "dconv1.c3.1.fc1", "dconv1.c3.1.fc2", "dconv1.c4.1.fc1", "dconv1.c4.1.fc2",
        "dconv2.c1.1.fc1", "dconv2.c1.1.fc2", "dconv2.c2.1.fc1", "dconv2.c2.1.fc2",
        "dconv2.c3.1.fc1", "dconv2.c3.1.fc2", "dconv2.c4.1.fc1", "dconv2.c4.1.fc2",
        "dconv3.c1.1.fc1", "dconv3.c1.1.fc2", "dconv3.c2.1.fc1", "dconv3.c2.1.fc2",
        "dconv3.c3.1.fc1", "dconv3.c3.1.fc2", "dconv3.c4.1.fc1", "dconv3.c4.1.fc2",
        "dconv4.c1.1.fc1", "dconv4.c1.1.fc2", "dconv4.c2.1.fc1", "dconv4.c2.1.fc2",
        "dconv4.c3.1.fc1", "dconv4.c3.1.fc2", "dconv4.c4.1.fc1", "dconv4.c4.1.fc2",
        "decoder_small.ca.fc1", "decoder_small.ca.fc2", "decoder_middle.ca.fc1", "decoder_middle.ca.fc2",
        "decoder_large.ca.fc1", "decoder_large.ca.fc2",
        "dconv1.sa.conv1", "dconv2.sa.conv1", "dconv3.sa.conv1", "dconv4.sa.conv1",
        "decoder_small.sa.conv1", "decoder_middle.sa.conv1", "decoder_large.sa.conv1",
        "cdfa1.attn_fg", "cdfa1.attn_bg", "cdfa2.attn_fg", "cdfa2.attn_bg",
        "cdfa3.attn_fg", "cdfa3.attn_bg", "cdfa4.attn_fg", "cdfa4.attn_bg",
        "output_block.c3",
    ]

    /// Names of the value ids whose every convolution reader stays float (the table's `float` rows).
    private func floatTensors(_ graph: Graph, policy: PrecisionPolicy) -> Set<String> {
        let calibrator = Calibrator(graph: graph, binCount: 8)
        var result = Set<String>()
        for id in calibrator.watched {
            let readers = graph.nodes.filter { node in
                if case .conv = node.kind { return node.inputs[0] == id } else { return false }
            }
            if readers.allSatisfy({ policy.floatReason(conv: $0, graph: graph) != nil }) { result.insert(calibrator.names[id]) }
        }
        return result
    }

    func testStandardPolicyKeepsTheListedConvolutionsOnDefaultAndResnet50() {
        for config in [Self.defaultConfig, ModelConfig.release] {
            let graph = Graph.conDSeg(config)
            var kept: [String] = []
            var reasons: [String: String] = [:]
            for node in graph.nodes {
                guard case .conv = node.kind, let reason = PrecisionPolicy.standard.floatReason(conv: node, graph: graph) else { continue }
                kept.append(node.name)
                reasons[node.name] = reason
            }
            XCTAssertEqual(Set(kept), Self.floatConvolutions, "\(config.encoder)")
            XCTAssertEqual(kept.count, 92, "\(config.encoder): 19 channel attentions × 4 fc nodes + 7 + 8 + 1")
            XCTAssertEqual(reasons["dconv2.c3.1.fc2"], "channel attention fc: 1x1 spatial, nothing to gain; feeds a sigmoid gate")
            XCTAssertEqual(reasons["decoder_large.sa.conv1"], "spatial attention 7x7 2->1 conv: feeds a sigmoid gate, negligible compute")
            XCTAssertEqual(reasons["cdfa3.attn_bg"], "CDFA attention logits: feed a softmax")
            XCTAssertEqual(reasons["output_block.c3"], "last conv: feeds the final sigmoid")
            // The all-int8 policy keeps nothing float.
            XCTAssertTrue(graph.nodes.allSatisfy { PrecisionPolicy.allInt8.floatReason(conv: $0, graph: graph) == nil })
        }
    }

    func testFloatTensorsAreThoseOfTheCommittedDefaultTable() throws {
        let path = repositoryRoot.appendingPathComponent("calibration/condseg-r18w64-kvasir.table.txt").path
        let table = try CalibrationTable.parse(String(contentsOfFile: path, encoding: .utf8), file: path)
        let committed = Set(table.entries.filter { $0.precision == .float }.map(\.name))
        XCTAssertEqual(committed.count, 92)
        XCTAssertEqual(floatTensors(Graph.conDSeg(Self.defaultConfig), policy: .standard), committed)
        // No float convolution is in the encoder, so resnet50's float tensors have the same names.
        XCTAssertEqual(floatTensors(Graph.conDSeg(ModelConfig.release), policy: .standard), committed)
        XCTAssertEqual(floatTensors(Graph.conDSeg(Self.defaultConfig), policy: .allInt8), [])
    }
}
