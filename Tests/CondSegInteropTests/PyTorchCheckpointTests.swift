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

    /// A stored zip archive of `entries` (name, bytes), optionally with ZIP64 sizes and offsets, written here from
    /// the format's definition.
    func zipArchive(_ entries: [(String, [UInt8])], zip64Sizes: UInt64? = nil) -> [UInt8] {
        func le(_ v: UInt64, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
        var out: [UInt8] = [], central: [UInt8] = []
        for (name, data) in entries {
            let crc = UInt64(CRC32.checksum(data)), offset = UInt64(out.count), n = UInt64(name.utf8.count)
            out += le(0x0403_4B50, 4) + le(20, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(crc, 4)
            out += le(UInt64(data.count), 4) + le(UInt64(data.count), 4) + le(n, 2) + le(0, 2) + Array(name.utf8) + data
            var extra: [UInt8] = [], size = UInt64(data.count), at = offset
            if let big = zip64Sizes {
                extra = le(1, 2) + le(24, 2) + le(big, 8) + le(big, 8) + le(offset, 8)
                size = 0xFFFF_FFFF; at = 0xFFFF_FFFF
            }
            central += le(0x0201_4B50, 4) + le(45, 2) + le(20, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(crc, 4)
            central += le(size, 4) + le(size, 4) + le(n, 2) + le(UInt64(extra.count), 2) + le(0, 2) + le(0, 2) + le(0, 2)
            central += le(0, 4) + le(at, 4) + Array(name.utf8) + extra
        }
        let start = UInt64(out.count), count = UInt64(entries.count)
        out += central
        return out + le(0x0605_4B50, 4) + le(0, 4) + le(count, 2) + le(count, 2) + le(UInt64(central.count), 4) + le(start, 4) + le(0, 2)
    }

    func testZIP64SizesBeyondAnyArchiveAreRefused() throws {
        // ZIP64 sizes of 2^64 − 1 once read as −1 and sliced the archive backwards (a trap).
        let bytes = zipArchive([("a", Array("hello".utf8))], zip64Sizes: UInt64.max)
        XCTAssertThrowsError(try ZipArchive(bytes: bytes, file: "big.zip")) { error in
            XCTAssertEqual("\(error)", "big.zip: zip entry 'a' records a size or offset beyond any archive (damaged ZIP64 field)")
        }
        // The same archive with its true sizes in the ZIP64 field reads.
        let good = try ZipArchive(bytes: zipArchive([("a", Array("hello".utf8))], zip64Sizes: 5), file: "ok.zip")
        XCTAssertEqual(Array(try good.data(of: good.entries[0])), Array("hello".utf8))
    }

    /// A protocol-2 pickle of {name: _rebuild_tensor_v2(storage, offset, shape, strides)} for each tensor given.
    func statePickle(_ tensors: [(name: String, type: String, key: String, count: [UInt8], offset: Int, shape: [Int], strides: [Int])]) -> [UInt8] {
        func str(_ s: String) -> [UInt8] { [0x8C, UInt8(s.utf8.count)] + Array(s.utf8) }
        func int(_ v: Int) -> [UInt8] { [0x8A, 8] + (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        var p: [UInt8] = [0x80, 0x02, 0x7D, 0x28]
        for t in tensors {
            p += str(t.name) + Array("ctorch._utils\n_rebuild_tensor_v2\n".utf8) + [0x28]
            p += [0x28] + str("storage") + Array("ctorch\n\(t.type)\n".utf8) + str(t.key) + str("cpu") + t.count + [0x74, 0x51]
            p += int(t.offset) + [0x28] + t.shape.flatMap(int) + [0x74, 0x28] + t.strides.flatMap(int) + [0x74, 0x74, 0x52]
        }
        return p + [0x75, 0x2E]
    }

    func testHostileStorageCountsOffsetsAndExpansionsAreRefused() throws {
        func checkpoint(_ pickle: [UInt8], storage: [UInt8]) -> [UInt8] {
            zipArchive([("archive/data.pkl", pickle), ("archive/data/0", storage)])
        }
        let four = [UInt8](repeating: 1, count: 16)
        let big: [UInt8] = [0x8A, 8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]   // LONG1 Int.max
        let small: [UInt8] = [0x4B, 4]
        func refusal(_ t: (name: String, type: String, key: String, count: [UInt8], offset: Int, shape: [Int], strides: [Int])) -> String {
            do { _ = try PyTorchCheckpoint(bytes: checkpoint(statePickle([t]), storage: four), file: "h.pth"); return "accepted" } catch {
                return "\(error)"
            }
        }
        // A storage of Int.max floats: its byte count overflowed (a trap).
        XCTAssertTrue(refusal(("w", "FloatStorage", "0", big, 0, [1], [1])).hasPrefix("h.pth: tensor 'w': storage data/0 has 16 bytes, fewer than"))
        // An offset near Int.max: the last element's index overflowed (a trap).
        XCTAssertEqual(refusal(("w", "FloatStorage", "0", small, Int.max - 1, [3], [1])), "h.pth: tensor 'w': strides [1] are too large")
        // Stride 0 with 2^40 elements: within its storage by index, but 4 TiB of output.
        XCTAssertTrue(refusal(("w", "FloatStorage", "0", small, 0, [1 << 40], [0])).contains("larger than its storage of 4 elements by more than the 256 MiB"))
        // Stride 0 with 2^62 elements: the byte count itself overflows.
        XCTAssertTrue(refusal(("w", "FloatStorage", "0", small, 0, [1 << 62], [0])).contains("larger than its storage"))
        // A small expansion is read, element for element.
        let expanded = try PyTorchCheckpoint(bytes: checkpoint(statePickle([("w", "ByteStorage", "0", [0x4B, 2], 1, [2, 3], [1, 0])]),
                                                               storage: [5, 6, 7]), file: "e.pth")
        XCTAssertEqual(expanded.tensors.map(\.bytes), [[6, 6, 6, 7, 7, 7]])
    }

    func testCRC32CheckValue() {
        // The standard check value of CRC-32/ISO-HDLC for the ASCII digits 1…9.
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
    }
}
