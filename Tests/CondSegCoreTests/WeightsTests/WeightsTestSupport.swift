// Helpers shared by the weights tests: locating committed fixtures, crafting safetensors bytes by
// hand (independently of SafeTensorsWriter), and checking the errors the reader throws.

import CondSegCore
import Foundation
import XCTest

/// Folder with the weights fixtures, found from this source file's location (Tests/Fixtures/weights).
let weightsFixtureDirectory: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // WeightsTests
    .deletingLastPathComponent()  // CondSegCoreTests
    .deletingLastPathComponent()  // Tests
    .appendingPathComponent("Fixtures")
    .appendingPathComponent("weights")

/// Bytes of the fixture `name`; fails the test with the path it looked at when the file is missing.
func weightsFixture(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> Data {
    let url = weightsFixtureDirectory.appendingPathComponent(name)
    guard let data = FileManager.default.contents(atPath: url.path) else {
        XCTFail("missing fixture: looked for \(url.path) (regenerate with scripts/make-weights-fixtures.py)", file: file, line: line)
        throw CocoaError(.fileNoSuchFile)
    }
    return data
}

/// Little-endian bytes of a value.
func weightsLittleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
}

/// Little-endian bytes of Float values.
func weightsFloat32Bytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { weightsLittleEndian($0.bitPattern) }
}

/// A safetensors file built by hand: length prefix (the real one unless `declaredLength` is given),
/// the header text exactly as written, then `data`.
func craftSafeTensors(header: String, data: [UInt8], declaredLength: UInt64? = nil) -> [UInt8] {
    let headerBytes = Array(header.utf8)
    return weightsLittleEndian(declaredLength ?? UInt64(headerBytes.count)) + headerBytes + data
}

/// Asserts that reading `bytes` fails with a WeightsError for file `name`, naming `tensor` (or no
/// tensor when nil), whose problem contains every string of `mentions`; returns the error.
@discardableResult
func assertRejected(_ bytes: [UInt8], name: String = "crafted.safetensors", tensor: String?, mentions: [String],
                    file: StaticString = #filePath, line: UInt = #line) -> WeightsError? {
    do throws(WeightsError) {
        let accepted = try SafeTensorsFile(bytes: bytes, name: name)
        XCTFail("expected a WeightsError, but the file was accepted with tensors \(accepted.names)", file: file, line: line)
        return nil
    } catch {
        assertWeightsError(error, file: name, tensor: tensor, mentions: mentions, sourceFile: file, line: line)
        return error
    }
}

/// Checks the fields and the one-line description of a WeightsError.
func assertWeightsError(_ error: WeightsError, file name: String, tensor: String?, mentions: [String],
                      sourceFile: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(error.file, name, "error names the wrong file: \(error)", file: sourceFile, line: line)
    XCTAssertEqual(error.tensor, tensor, "error names the wrong tensor: \(error)", file: sourceFile, line: line)
    let description = error.description
    XCTAssertTrue(description.hasPrefix(name + ": "), "description does not start with the file: \(description)",
                  file: sourceFile, line: line)
    if let tensor {
        XCTAssertTrue(description.contains("tensor '\(tensor)': "), "description does not name the tensor: \(description)",
                      file: sourceFile, line: line)
    }
    XCTAssertFalse(description.contains("\n"), "description is not one line: \(description)", file: sourceFile, line: line)
    for mention in mentions {
        XCTAssertTrue(error.problem.contains(mention), "problem '\(error.problem)' does not mention '\(mention)'",
                      file: sourceFile, line: line)
    }
}

/// A fresh empty temporary directory, removed when the test ends.
func makeWeightsTestDirectory(for testCase: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("condseg-weights-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
    testCase.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}
