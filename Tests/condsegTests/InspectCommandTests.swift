// InspectCommandTests.swift — `condseg inspect` describes every model file condseg makes or reads: the int8 file
// from `quantize` (configuration, SHA-256, the calibration it carries) and a file without condseg.* metadata
// (configuration inferred from the tensor shapes, and a note saying so).

import CondSegTestSupport
import Foundation
import XCTest

final class InspectCommandTests: XCTestCase {
    let table = "calibration/condseg-r18w64-kvasir.table.txt"

    func testInspectDescribesAQuantizedFile() throws {
        let folder = try temporaryFolder(self)
        let quantized = folder + "/q.safetensors"
        let quantize = try runCondseg(["quantize", "--calibration", table, "--out", quantized])
        XCTAssertEqual(quantize.status, 0, quantize.stderr)
        let text = try runCondseg(["inspect", "--model", quantized])
        XCTAssertEqual(text.status, 0, text.stdout + text.stderr)
        XCTAssertFalse(text.stdout.contains("dtype I8"), text.stdout)
        XCTAssertTrue(text.stdout.contains("format:         int8"), text.stdout)
        XCTAssertTrue(text.stdout.contains("resnet18, width 64, mid 256, heads 4"), text.stdout)
        XCTAssertTrue(text.stdout.contains("quantized from: model with SHA-256 951bc8ffe45a26ad0cfdbcb4f7906dc1dcdc2ca81a73a117aec828547348a080"), text.stdout)
        XCTAssertTrue(text.stdout.contains("calibration:    minmax, 100 images, 2026-12-04T13:51:18Z"), text.stdout)
        XCTAssertTrue(text.stdout.contains("int8 weights:   7 bits (±63 per output channel)"), text.stdout)
        let json = try runCondseg(["inspect", "--json", "--model", quantized])
        XCTAssertEqual(json.status, 0)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["quantized"] as? Bool, true)
        XCTAssertEqual((object["calibration"] as? [String: Any])?["weight_bits"] as? Int, 7)
        XCTAssertEqual(object["sha256"] as? String, try sha256Hex(of: quantized))
        XCTAssertGreaterThan(object["int8_convolutions"] as? Int ?? 0, 0)
        // Quantizing it again: said plainly, before anything else (even an --out that could not be written).
        let again = try runCondseg(["quantize", "--model", quantized, "--calibration", table, "--out", "/proc/q2.safetensors"])
        XCTAssertEqual(again.status, 4, again.stderr)
        XCTAssertEqual(again.errorLines, ["error: \(quantized): already quantized (int8); quantize takes the float model it was made from"])
    }

    func testTheParameterLinesAgreeOnTheAuxiliaryHead() throws {
        let result = try runCondseg(["inspect"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let parameters = try XCTUnwrap(lines.first { $0.hasPrefix("parameters:") }, result.stdout)
        let head = try XCTUnwrap(lines.first { $0.hasPrefix("auxiliary head:") }, result.stdout)
        if head.contains("absent") {
            XCTAssertTrue(parameters.contains("a training run would add"), parameters)
            XCTAssertFalse(parameters.contains("more in the training-only"), parameters)
        } else {
            XCTAssertTrue(parameters.contains("(in this file)"), parameters)
        }
    }

    func testQuantizeRefusesAFolderAsItsOutputBeforeWorking() throws {
        let folder = try temporaryFolder(self)
        let result = try runCondseg(["quantize", "--calibration", table, "--out", folder + "/"])
        XCTAssertEqual(result.status, 5)
        XCTAssertEqual(result.errorLines, ["error: \(folder)/: names a folder; a file name is expected"])
        assertContractLines(result)
        // --out naming the --model (through another spelling): refused, the model untouched. A copy is used so
        // that a regression cannot destroy the bundled model.
        let model = folder + "/model.safetensors"
        try FileManager.default.copyItem(atPath: repositoryRoot.path + "/models/condseg-r18w64-kvasir.safetensors", toPath: model)
        let before = contents(model)
        let overModel = try runCondseg(["quantize", "--model", model, "--calibration", repositoryRoot.path + "/" + table,
                                        "--out", "./model.safetensors"], in: folder)
        XCTAssertEqual(overModel.status, 5)
        XCTAssertEqual(overModel.errorLines, ["error: ./model.safetensors: the quantized model (--out) would replace the --model \(model)"])
        XCTAssertEqual(contents(model), before)
    }

    func testAFileWithoutMetadataHasItsConfigurationInferred() throws {
        let folder = try temporaryFolder(self)
        let stripped = folder + "/no-metadata.safetensors"
        try writeWithoutMetadata(repositoryRoot.path + "/models/condseg-r18w64-kvasir.safetensors", to: stripped)
        let result = try runCondseg(["inspect", "--model", stripped])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertTrue(result.stdout.contains("resnet18, width 64, mid 256, heads 4"), result.stdout)
        XCTAssertTrue(result.stdout.contains("tensors needed: all present with the right shapes"), result.stdout)
        XCTAssertTrue(result.stderr.hasPrefix("note: \(stripped) has no condseg.* metadata; inferred from its tensor shapes: resnet18, width 64, mid 256, heads 4; assumed"), result.stderr)
    }

    func testAModelFileThatIsNotOneExits4() throws {
        let folder = try temporaryFolder(self)
        try Data("{}".utf8).write(to: URL(fileURLWithPath: folder + "/junk.safetensors"))
        let result = try runCondseg(["inspect", "--model", folder + "/junk.safetensors"])
        XCTAssertEqual(result.status, 4)
        XCTAssertEqual(result.errorLines.count, 1, result.stderr)
        XCTAssertTrue(result.stderr.hasPrefix("error: \(folder)/junk.safetensors: "), result.stderr)
    }
}

/// Lowercase hex SHA-256 of a file, by sha256sum (an independent implementation).
func sha256Hex(of path: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    process.arguments = [path]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return String(text.prefix(64))
}

/// Copies a safetensors file with its `__metadata__` removed (header re-padded, tensor data unchanged).
func writeWithoutMetadata(_ source: String, to destination: String) throws {
    let bytes = try Data(contentsOf: URL(fileURLWithPath: source))
    let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    var header = try XCTUnwrap(JSONSerialization.jsonObject(with: bytes[8..<(8 + headerLength)]) as? [String: Any])
    header.removeValue(forKey: "__metadata__")
    var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    while json.count % 8 != 0 { json.append(0x20) }
    var output = Data((0..<8).map { UInt8((json.count >> (8 * $0)) & 0xFF) })
    output.append(json)
    output.append(bytes[(8 + headerLength)...])
    try output.write(to: URL(fileURLWithPath: destination))
}
