// ConfigInferenceTests.swift — a weight file without condseg.* metadata: its configuration is inferred from the
// tensor shapes. The bundled model with its metadata stripped must give back exactly the configuration its
// metadata states, and synthetic headers of other configurations (the resnet50 release among them) theirs.

import CondSegCore
import CondSegTestSupport
import Foundation
import XCTest

final class ConfigInferenceTests: XCTestCase {
    /// The bundled model's bytes with `__metadata__` removed from the header (tensor data unchanged).
    func strippedBundledModel() throws -> (original: SafeTensorsFile, stripped: SafeTensorsFile) {
        let path = repositoryRoot.appendingPathComponent("models/condseg-r18w64-kvasir.safetensors").path
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        var header = try XCTUnwrap(JSONSerialization.jsonObject(with: bytes[8..<(8 + headerLength)]) as? [String: Any])
        XCTAssertNotNil(header.removeValue(forKey: "__metadata__"))
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var output = Data((0..<8).map { UInt8((json.count >> (8 * $0)) & 0xFF) })
        output.append(json)
        output.append(bytes[(8 + headerLength)...])
        return (try SafeTensorsFile(path: path), try SafeTensorsFile(bytes: [UInt8](output), name: "stripped.safetensors"))
    }

    func testTheBundledModelWithoutMetadataGivesItsOwnConfiguration() throws {
        let (original, stripped) = try strippedBundledModel()
        XCTAssertTrue(stripped.metadata.isEmpty)
        let stated = try ModelConfig(metadata: original.metadata, file: original.name)
        XCTAssertEqual(try ModelConfig.inferred(from: stripped), stated)
        // Loading uses it: before, the file was taken for the resnet50/W128 release and failed on 614 tensors.
        let model = try ConDSegModel(file: stripped)
        XCTAssertEqual(model.config, stated)
        let note = try XCTUnwrap(model.configurationNote)
        XCTAssertTrue(note.contains("inferred from its tensor shapes: resnet18, width 64, mid 256, heads 4"), note)
        XCTAssertTrue(note.contains("assumed (not in the weights): input 256×256, BGR, scale 1/255"), note)
        XCTAssertNil(try ConDSegModel(file: original).configurationNote)
    }

    func testSyntheticHeadersOfOtherConfigurations() throws {
        let configs = [
            ModelConfig.release,
            ModelConfig(encoder: .resnet34, width: 32, mid: 64, heads: 2, inputSize: 256),
            ModelConfig(encoder: .resnet18, width: 48, mid: 96, heads: 3, inputSize: 256),
            ModelConfig(encoder: .resnet50, width: 64, mid: 128, heads: 8, inputSize: 256),
        ]
        for config in configs {
            for auxiliary in [false, true] {
                let shapes = Graph.conDSeg(config, auxiliaryHead: auxiliary).parameters
                XCTAssertEqual(try ModelConfig.inferred(from: shapes, file: "synthetic"), config, "\(config)")
            }
        }
    }

    func testShapesOfNoConDSegModelAreNamedInTheError() {
        XCTAssertThrowsError(try ModelConfig.inferred(from: ["fc.weight": [10, 512]], file: "other.safetensors")) { error in
            XCTAssertEqual("\(error)", "other.safetensors: no condseg.* metadata, and tensor 'layer0.0.weight' (needed to infer the configuration) is missing: is this a ConDSeg model?")
        }
        var shapes = Graph.conDSeg(ModelConfig.release).parameters
        shapes = shapes.filter { !$0.key.hasPrefix("layer3.5.") }
        XCTAssertThrowsError(try ModelConfig.inferred(from: shapes, file: "cut.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("blocks per stage [3, 4, 5] match no supported encoder"), "\(error)")
        }
    }
}
