// PyTorchCheckpointTests.swift — checkpoints written by torch.save (scripts/make_interop_fixtures.py) read back
// tensor for tensor as torch recorded them (dtype, shape, SHA-256 of the contiguous bytes), including strided,
// shared, expanded and big-endian storages; and the refusals: a payload that would run a command, a foreign
// global, compressed entries, damaged entries, the legacy format.

import CondSegCore
import CondSegTestSupport
@testable import CondSegInterop
import Foundation
import XCTest

final class PyTorchCheckpointTests: XCTestCase {
    func dtypeName(_ type: TorchStorageType) -> String { type.dtypeName }

    func assertMatches(_ checkpoint: PyTorchCheckpoint, _ expected: [ExpectedTensor], stripping prefix: String = "",
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(checkpoint.tensors.map { String($0.name.dropFirst(prefix.count)) }, expected.map(\.name), file: file, line: line)
        for (tensor, want) in zip(checkpoint.tensors, expected) {
            XCTAssertEqual(tensor.type.dtypeName, want.dtype, want.name, file: file, line: line)
            XCTAssertEqual(tensor.shape, want.shape, want.name, file: file, line: line)
            XCTAssertEqual(SHA256.hex(tensor.bytes), want.sha256, "bytes of \(want.name)", file: file, line: line)
        }
    }

    func testMixedDtypesAndStridedViewsMatchTorch() throws {
        let checkpoint = try PyTorchCheckpoint(path: try fixturePath("interop/tiny-mixed.pth"))
        XCTAssertNil(checkpoint.wrapperKey)
        XCTAssertFalse(checkpoint.bigEndian)
        assertMatches(checkpoint, try expectedTensors("tiny-mixed"))
        // A 0-d int64 tensor: one element, its value as torch saved it.
        let counter = try XCTUnwrap(checkpoint.tensors.first { $0.name == "bn.num_batches_tracked" })
        XCTAssertEqual(counter.shape, [])
        XCTAssertEqual(counter.bytes.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }, 123_456_789_012)
    }

    func testBigEndianArchiveIsConverted() throws {
        let checkpoint = try PyTorchCheckpoint(path: try fixturePath("interop/tiny-bigendian.pth"))
        XCTAssertTrue(checkpoint.bigEndian)
        assertMatches(checkpoint, try expectedTensors("tiny-bigendian"))
    }

    func testWrappedDataParallelCheckpointSaysWhichKey() throws {
        let checkpoint = try PyTorchCheckpoint(path: try fixturePath("interop/condseg-r18w32-strided.pth"))
        XCTAssertEqual(checkpoint.wrapperKey, "state_dict")
        assertMatches(checkpoint, try expectedTensors("condseg-r18w32-strided"), stripping: "module.")
    }

    func testPayloadIsRefusedAtItsGlobal() throws {
        let path = try fixturePath("interop/malicious-reduce.pth")
        XCTAssertThrowsError(try PyTorchCheckpoint(path: path)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix(path + ": "), text)
            XCTAssertTrue(text.contains("refused global posix.system"), text)
        }
    }

    func testForeignGlobalIsRefused() throws {
        XCTAssertThrowsError(try PyTorchCheckpoint(path: try fixturePath("interop/foreign-global.pth"))) { error in
            XCTAssertTrue("\(error)".contains("refused global argparse.Namespace"), "\(error)")
        }
    }

    func testCompressedLegacyAndDamagedFilesAreRefused() throws {
        XCTAssertThrowsError(try PyTorchCheckpoint(path: try fixturePath("interop/tiny-deflated.pth"))) { error in
            XCTAssertTrue("\(error)".contains("deflate-compressed; only stored (uncompressed) entries are supported"), "\(error)")
        }
        XCTAssertThrowsError(try PyTorchCheckpoint(path: try fixturePath("interop/tiny-legacy.pth"))) { error in
            XCTAssertTrue("\(error)".contains("legacy (pre-zip"), "\(error)")
        }
        // One byte of a storage flipped: the entry's CRC-32 no longer matches.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try fixturePath("interop/tiny-mixed.pth"))))
        let zip = try ZipArchive(bytes: bytes, file: "t")
        let storage = try XCTUnwrap(zip.entries.first { $0.name.hasSuffix("/data/0") })
        let data = try zip.data(of: storage)
        bytes[data.startIndex] ^= 0x01
        XCTAssertThrowsError(try PyTorchCheckpoint(bytes: bytes, file: "flipped.pth")) { error in
            XCTAssertTrue("\(error)".contains("CRC-32"), "\(error)")
        }
        // Truncated: no end-of-central-directory record.
        XCTAssertThrowsError(try PyTorchCheckpoint(bytes: Array(bytes.prefix(bytes.count / 2)), file: "half.pth")) { error in
            XCTAssertTrue("\(error)".hasPrefix("half.pth: "), "\(error)")
        }
        XCTAssertThrowsError(try PyTorchCheckpoint(bytes: Array("hello".utf8), file: "text.pth")) { error in
            XCTAssertEqual("\(error)", "text.pth: not a PyTorch checkpoint (not a zip archive as torch.save writes)")
        }
    }

    func testCRC32CheckValue() {
        // The standard check value of CRC-32/ISO-HDLC for the ASCII digits 1…9.
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
    }
}
