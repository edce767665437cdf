// Test support for CondSegImageTests: locating the committed fixtures next to this file, reading the
// manifest written by scripts/make-image-fixtures.py, and small independent helpers (FNV-1a, temp folders).
import Foundation
import XCTest
@testable import CondSegImage

enum Fixtures {
    /// Tests/Fixtures/image, found from this source file's location.
    static let folder: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent("image")

    /// Path of a fixture; fails the calling test (with where it looked) when it is missing.
    static func path(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let url = folder.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            XCTFail("missing fixture \(name): looked for \(url.path); regenerate with scripts/make-image-fixtures.py",
                    file: file, line: line)
            throw CocoaError(.fileNoSuchFile)
        }
        return url.path
    }

    static func bytes(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: try path(name, file: file, line: line))))
    }

    /// manifest.json as a dictionary.
    static func manifest(file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: try path("manifest.json", file: file, line: line)))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            XCTFail("manifest.json is not a JSON object", file: file, line: line)
            throw CocoaError(.fileReadCorruptFile)
        }
        return object
    }
}

/// 64-bit FNV-1a, the checksum the fixture script stores for large reference decodes.
func fnv1a64(_ bytes: [UInt8]) -> String {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes {
        hash ^= UInt64(byte)
        hash = hash &* 0x100_0000_01B3
    }
    let hex = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

/// A fresh empty folder under the system temp folder, removed by the caller.
func makeTemporaryFolder() throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("condseg-image-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
}

/// Index of the first differing byte and the count of differing bytes, for readable failures.
func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> (index: Int, count: Int)? {
    guard a.count == b.count else { return (-1, abs(a.count - b.count)) }
    var first = -1, count = 0
    for index in 0..<a.count where a[index] != b[index] {
        if first < 0 { first = index }
        count += 1
    }
    return first < 0 ? nil : (first, count)
}
