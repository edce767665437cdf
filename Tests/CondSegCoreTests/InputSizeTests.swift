// InputSizeTests.swift — the sizes a ConDSeg network can run at: the stride every input side must be a multiple
// of (the least common multiple of the graph's strides, 16 for every encoder), the rule the tools apply to --size,
// and a model opened at another size than its file records keeping both sizes.

import CondSegCore
import CondSegTestSupport
import XCTest

final class InputSizeTests: XCTestCase {
    func testInputStrideIsTheLeastCommonMultipleOfTheStrides() {
        var graph = Graph()
        let x = graph.add(.input, [], name: "input", channels: 3, stride: 1)
        let a = graph.add(.sigmoid, [x], name: "a", channels: 3, stride: 4)
        let b = graph.add(.sigmoid, [a], name: "b", channels: 3, stride: 6)
        graph.add(.globalAvgPool, [b], name: "pool", channels: 3, stride: 0)   // a 1×1 value: no constraint
        XCTAssertEqual(graph.inputStride, 12)
    }

    func testEveryEncoderNeedsMultiplesOfSixteen() {
        // The deepest encoder stage (layer3) is at 1/16 of the input: conv1 /2, max pool /4, layer2 /8, layer3 /16.
        for encoder in EncoderKind.allCases {
            let config = ModelConfig(encoder: encoder, width: 16, mid: 16, heads: 4, inputSize: 64)
            XCTAssertEqual(Graph.conDSeg(config).inputStride, 16, encoder.rawValue)
            XCTAssertEqual(Graph.conDSeg(config, auxiliaryHead: true).inputStride, 16, encoder.rawValue)
        }
        XCTAssertEqual(Graph.conDSegInputStride, 16)
    }

    func testTheSizeRule() {
        for good in [16, 32, 224, 256, 4096] { XCTAssertNil(ModelConfig.inputSizeProblem(good), "\(good)") }
        for bad in [0, -16, 8, 24, 100, 4112, Int.max] {
            XCTAssertEqual(ModelConfig.inputSizeProblem(bad),
                           "must be a positive multiple of 16 (the network's stride) and at most 4096", "\(bad)")
        }
    }

    func testAModelOpenedAtAnotherSizeKeepsTheSizeItWasMadeFor() throws {
        let path = try fixturePath("reference/tiny-weights.safetensors")
        let own = try ConDSegModel.load(path: path)
        let resized = try ConDSegModel.load(path: path, inputSize: own.config.inputSize / 2)
        XCTAssertEqual(resized.config.inputSize, own.config.inputSize / 2)
        XCTAssertEqual(resized.trainedInputSize, own.config.inputSize)
        XCTAssertEqual(own.trainedInputSize, own.config.inputSize)
        // Everything else of the configuration, and the model's identity, are the file's.
        var expected = own.config
        expected.inputSize = own.config.inputSize / 2
        XCTAssertEqual(resized.config, expected)
        XCTAssertEqual(resized.sha256, own.sha256)
    }
}
