// CheckpointImportTests.swift — a torch-saved ConDSeg state_dict (DataParallel prefix, wrapped, with the auxiliary
// head and BatchNorm counters) becomes a model file: configuration inferred from the shapes, counters dropped,
// the auxiliary head dropped or kept, every tensor's bytes as torch saved them.

import CondSegCore
import CondSegTestSupport
@testable import CondSegInterop
import XCTest

final class CheckpointImportTests: XCTestCase {
    func testStridedConDSegCheckpointImports() throws {
        let path = try fixturePath("interop/condseg-r18w32-strided.pth")
        let imported = try CheckpointImport.run(path: path, keepAuxiliary: false, assumptions: ImportAssumptions())
        XCTAssertEqual(imported.config, ModelConfig(encoder: .resnet18, width: 32, mid: 16, heads: 4, inputSize: 256))
        XCTAssertTrue(imported.notes.contains { $0.contains("under the key 'state_dict'") }, "\(imported.notes)")
        XCTAssertTrue(imported.notes.contains { $0.contains("removed the 'module.' prefix") }, "\(imported.notes)")
        let file = try SafeTensorsFile(bytes: imported.writer.serialize(), name: "imported")
        XCTAssertEqual(file.metadata, imported.config.metadata)
        let model = try ConDSegModel(file: file)
        XCTAssertFalse(model.hasAuxiliaryHead)
        XCTAssertTrue(model.unexpectedTensors.isEmpty, "\(model.unexpectedTensors)")

        let expected = try expectedTensors("condseg-r18w32-strided")
        // The auxiliary head is the release's `aux_head` module (its BatchNorm counters included).
        let kept = expected.filter { !$0.name.hasPrefix("aux_head.") }
        XCTAssertEqual(Set(file.names), Set(kept.map(\.name)))
        XCTAssertTrue(file.names.contains("decouple_layer.cbr_uc.0.conv.0.weight"))
        for tensor in kept {
            XCTAssertEqual(file.entries[tensor.name]?.shape, tensor.shape, tensor.name)
            XCTAssertEqual(file.entries[tensor.name]?.dtype, tensor.name.hasSuffix("num_batches_tracked") ? .i64 : .f32, tensor.name)
            XCTAssertEqual(SHA256.hex(try file.rawBytes(tensor.name)), tensor.sha256, tensor.name)
        }
        XCTAssertTrue(imported.notes.contains { $0.contains("dropped \(expected.count - kept.count) tensors of the auxiliary head") }, "\(imported.notes)")
    }

    func testKeepAuxKeepsTheAuxiliaryHead() throws {
        let path = try fixturePath("interop/condseg-r18w32-strided.pth")
        let imported = try CheckpointImport.run(path: path, keepAuxiliary: true,
                                                assumptions: ImportAssumptions(inputSize: 320, channelOrder: .rgb, scaleText: "1/127.5"))
        let file = try SafeTensorsFile(bytes: imported.writer.serialize(), name: "imported")
        let model = try ConDSegModel(file: file)
        XCTAssertTrue(model.hasAuxiliaryHead)
        XCTAssertEqual(model.config.inputSize, 320)
        XCTAssertEqual(model.config.channelOrder, .rgb)
        XCTAssertEqual(file.metadata["condseg.scale"], "1/127.5")
        let expected = try expectedTensors("condseg-r18w32-strided")
        XCTAssertEqual(Set(file.names), Set(expected.map(\.name)))
    }

    func testMetadataLessSafetensorsIsInferredAndTensorsKept() throws {
        let path = try fixturePath("interop/condseg-r18w32-strided.pth")
        let first = try CheckpointImport.run(path: path, keepAuxiliary: false, assumptions: ImportAssumptions())
        // The same tensors without metadata, as a PyTorch safetensors export would write them.
        var bare = SafeTensorsWriter()
        let source = try SafeTensorsFile(bytes: first.writer.serialize(), name: "x")
        for name in source.names {
            try bare.add(name, dtype: source.entries[name]!.dtype, rawBytes: try source.rawBytes(name), shape: source.entries[name]!.shape)
        }
        let folder = NSTemporaryDirectory() + "condseg-import-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try bare.write(to: folder + "/bare.safetensors")
        let second = try CheckpointImport.run(path: folder + "/bare.safetensors", keepAuxiliary: false, assumptions: ImportAssumptions())
        XCTAssertEqual(second.config, first.config)
        XCTAssertEqual(second.writer.serialize(), first.writer.serialize())
    }

    func testAssumptionsAreReportedAsIgnoredWhenTheFileRecordsItsConfiguration() throws {
        let path = try fixturePath("interop/condseg-r18w32-strided.pth")
        let first = try CheckpointImport.run(path: path, keepAuxiliary: false, assumptions: ImportAssumptions())
        let folder = NSTemporaryDirectory() + "condseg-import-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try first.writer.write(to: folder + "/with-metadata.safetensors")
        let again = try CheckpointImport.run(path: folder + "/with-metadata.safetensors", keepAuxiliary: false,
                                             assumptions: ImportAssumptions(inputSize: first.config.inputSize + 32))
        XCTAssertEqual(again.config, first.config, "the file's own configuration wins")
        XCTAssertTrue(again.notes.contains { $0.hasPrefix("--input-size ignored:") }, "\(again.notes)")
        let plain = try CheckpointImport.run(path: folder + "/with-metadata.safetensors", keepAuxiliary: false, assumptions: ImportAssumptions())
        XCTAssertFalse(plain.notes.contains { $0.contains("ignored") }, "\(plain.notes)")
    }

    func testNonConDSegStateDictIsAnInputError() throws {
        XCTAssertThrowsError(try CheckpointImport.run(path: try fixturePath("interop/tiny-mixed.pth"), keepAuxiliary: false,
                                                      assumptions: ImportAssumptions())) { error in
            XCTAssertTrue("\(error)".contains("is a ConDSeg model?") || "\(error)".contains("missing"), "\(error)")
        }
    }
}
