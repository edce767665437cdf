// Tests of the SHA-256 implementation: FIPS 180-4 example vectors, hashlib digests of every message
// length around the padding edges, and `sha256sum` digests of committed files.

import CondSegCore
import Foundation
import XCTest

final class SHA256WeightsTests: XCTestCase {

    func testKnownAnswerVectors() {
        XCTAssertEqual(SHA256.hex([UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex(Array("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu".utf8)),
                       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
        XCTAssertEqual(SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testDigestBytesMatchHex() {
        let digest = SHA256.digest(Array("abc".utf8))
        XCTAssertEqual(digest.count, 32)
        XCTAssertEqual(digest.prefix(4), [0xBA, 0x78, 0x16, 0xBF])
        XCTAssertEqual(digest.map { String(format: "%02x", $0) }.joined(), SHA256.hex(Array("abc".utf8)))
    }

    func testEveryLengthAroundPaddingEdgesMatchesHashlib() throws {
        let text = String(decoding: try weightsFixture("sha256-lengths.txt"), as: UTF8.self)
        var checked = 0
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: " ")
            let length = try XCTUnwrap(Int(fields[0]))
            let message = (0..<length).map { UInt8(truncatingIfNeeded: 31 * $0 + 7) }
            XCTAssertEqual(SHA256.hex(message), String(fields[1]), "length \(length)")
            checked += 1
        }
        XCTAssertGreaterThan(checked, 300)
    }

    func testUnalignedBufferGivesTheSameDigest() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 131) }
        for start in 0..<8 {
            let expected = SHA256.hex(Array(bytes[start...]))
            bytes.withUnsafeBytes { raw in
                XCTAssertEqual(SHA256.hex(UnsafeRawBufferPointer(rebasing: raw[start...])), expected, "offset \(start)")
            }
        }
    }

    func testCommittedFilesMatchSha256sum() throws {
        let sums = String(decoding: try weightsFixture("SHA256SUMS"), as: UTF8.self)
        var checked = 0
        for line in sums.split(separator: "\n") {
            let expected = String(line.prefix(64))
            let fileName = String(line.dropFirst(66))
            let bytes = [UInt8](try weightsFixture(fileName))
            XCTAssertEqual(SHA256.hex(bytes), expected, fileName)
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 2)

        // The reader exposes the digest of the whole file.
        let path = weightsFixtureDirectory.appendingPathComponent("python-dtypes.safetensors").path
        let expected = try XCTUnwrap(sums.split(separator: "\n").first { $0.hasSuffix("  python-dtypes.safetensors") }?.prefix(64))
        let weights = try SafeTensorsFile(path: path)
        XCTAssertEqual(weights.sha256, String(expected))
        XCTAssertEqual(weights.sha256, String(expected), "a second read of the cached digest")
    }
}
