// ModelLoadingTests.swift — a weight file against the graph its configuration describes: missing tensors,
// wrong shapes and bad metadata give one clear error naming the file and the tensor; unexpected tensors are
// listed; the release configuration applies when there is no metadata.

import CondSegCore
import CondSegTestSupport
import Foundation
import XCTest

final class ModelLoadingTests: XCTestCase {
    /// The tiny fixture rewritten with `edit` applied to its tensors and metadata.
    func rewrittenTiny(_ name: String, metadata: (inout [String: String]) -> Void = { _ in },
                       edit: (String, [Float], [Int]) -> (String, [Float], [Int])?) throws -> String {
        let source = try SafeTensorsFile(path: fixturePath("reference/tiny-weights.safetensors"))
        var meta = source.metadata
        metadata(&meta)
        var writer = SafeTensorsWriter(metadata: meta)
        for tensor in source.names {
            let entry = source.entries[tensor]!
            if entry.dtype == .i64 { try writer.add(tensor, int64s: try source.int64s(tensor), shape: entry.shape); continue }
            guard let (n, v, s) = edit(tensor, try source.floats(tensor), entry.shape) else { continue }
            try writer.add(n, floats: v, shape: s)
        }
        let path = NSTemporaryDirectory() + "condseg-\(name)-\(getpid()).safetensors"
        try writer.write(to: path)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testMissingTensorIsNamed() throws {
        let path = try rewrittenTiny("missing") { n, v, s in n == "cdfa2.proj.weight" ? nil : (n, v, s) }
        XCTAssertThrowsError(try ConDSegModel.load(path: path)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(path) && text.contains("cdfa2.proj.weight") && text.contains("missing"), text)
            XCTAssertFalse(text.contains("\n"), "one line: \(text)")
        }
    }

    func testWrongShapeIsNamed() throws {
        let path = try rewrittenTiny("shape") { n, v, s in
            n == "dconv3.c5.conv.0.weight" ? (n, Array(v.prefix(v.count / 2)), [s[0] / 2] + s.dropFirst()) : (n, v, s)
        }
        XCTAssertThrowsError(try ConDSegModel.load(path: path)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("dconv3.c5.conv.0.weight") && text.contains("shape"), text)
        }
    }

    func testMetadataDisagreeingWithTensorsFails() throws {
        let path = try rewrittenTiny("width", metadata: { $0["condseg.width"] = "32" }) { n, v, s in (n, v, s) }
        XCTAssertThrowsError(try ConDSegModel.load(path: path)) { error in
            XCTAssertTrue("\(error)".contains("shape"), "\(error)")
        }
        let bad = try rewrittenTiny("encoder", metadata: { $0["condseg.encoder"] = "vgg16" }) { n, v, s in (n, v, s) }
        XCTAssertThrowsError(try ConDSegModel.load(path: bad)) { error in
            XCTAssertTrue("\(error)".contains("condseg.encoder"), "\(error)")
        }
    }

    func testUnexpectedTensorsAreListedNotFatal() throws {
        let path = try rewrittenTiny("extra") { n, v, s in n == "layer0.0.weight" ? (n, v, s) : (n, v, s) }
        var writer = SafeTensorsWriter()
        let base = try SafeTensorsFile(path: path)
        writer.metadata = base.metadata
        for tensor in base.names {
            if base.entries[tensor]!.dtype == .i64 { try writer.add(tensor, int64s: try base.int64s(tensor), shape: base.entries[tensor]!.shape) }
            else { try writer.add(tensor, floats: try base.floats(tensor), shape: base.entries[tensor]!.shape) }
        }
        try writer.add("layer4.0.conv1.weight", floats: [1, 2], shape: [2])
        let extra = path + ".extra.safetensors"
        try writer.write(to: extra)
        defer { try? FileManager.default.removeItem(atPath: extra) }
        let model = try ConDSegModel.load(path: extra)
        XCTAssertEqual(model.unexpectedTensors, ["layer4.0.conv1.weight"])
    }

    func testReleaseConfigurationWithoutMetadata() throws {
        XCTAssertEqual(try ModelConfig(metadata: [:], file: "x"), ModelConfig.release)
        let graph = Graph.conDSeg(.release)
        // docs/architecture.md: about 45.6 M parameters with the auxiliary head, 3.9 M of them in it.
        let full = ModelConfig.release
        let total = ConDSegModel.parameterCount(Graph.conDSeg(full, auxiliaryHead: true))
        XCTAssertEqual(Double(total) / 1e6, 45.6, accuracy: 0.1)
        let aux = Graph.conDSeg(full, auxiliaryHead: true).parameters.filter { $0.key.hasPrefix("aux_head.") && !$0.key.hasSuffix("running_mean") && !$0.key.hasSuffix("running_var") }
        XCTAssertEqual(Double(aux.values.reduce(0) { $0 + $1.reduce(1, *) }) / 1e6, 3.9, accuracy: 0.1)
        XCTAssertGreaterThan(graph.nodes.count, 100)
    }
}
